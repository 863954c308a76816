"""The student's prompt and the in-context patches (CPT conditions, SFT formats).

One place defines these texts so that the warm-start, the contextual patch test and the
supervision formats of training all use the same wording."""

from __future__ import annotations

import os

from .io import InputError
from .vocab import CONDITIONS
PLACEBO_TEXT = "read the observation carefully and then choose one action ."

# student.prompt_layout: the order of a prompt's lines after the mission (and patch).
# history_first = mission / [patch] / history / observation / action: (the original text);
# observation_first = mission / [patch] / observation / history / action: the parts that
# change least from step to step come first, so an episode's next prompt shares a longer
# prefix with its last one (engine.PrefixCache re-encodes less; docs/design.md §4).
PROMPT_LAYOUTS = ("history_first", "observation_first")
DEFAULT_LAYOUT = "history_first"


def check_layout(layout: str) -> str:
    """`layout` if it is one of PROMPT_LAYOUTS, else InputError (a ValueError) naming it."""
    if layout not in PROMPT_LAYOUTS:
        raise InputError(f"student.prompt_layout: unknown prompt layout {layout!r} "
                         f"(known: {', '.join(PROMPT_LAYOUTS)})")
    return layout


def layout_of(student_cfg: dict) -> str:
    """student.prompt_layout of a config's student section, checked (history_first where the
    key is absent: a hand-made partial config; a schema-validated one always carries it)."""
    return check_layout(student_cfg.get("prompt_layout", DEFAULT_LAYOUT))


# the bootstrap student's build report (student.bootstrap_student): it records the layout
# the student was built with
BUILD_REPORT = "bootstrap_report.json"


def built_layout(student_dir) -> str | None:
    """The prompt layout a built student was trained with: its build report's
    `prompt_layout` (history_first for a report written before the option existed); None
    where the directory holds no build report (a hub model: no layout of its own)."""
    import json

    path = os.path.join(str(student_dir), BUILD_REPORT)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f).get("prompt_layout", DEFAULT_LAYOUT)


def check_student_layout(student_dir, student_cfg: dict) -> None:
    """A student is scored in the layout it was built with: InputError naming
    student.prompt_layout where the config's differs from the one recorded with the built
    student at `student_dir` (scripting.student_path calls it for every job that loads the
    student)."""
    want, built = layout_of(student_cfg), built_layout(student_dir)
    if built is not None and built != want:
        raise InputError(f"student.prompt_layout: the config says {want!r}, but the student at {student_dir} was "
                         f"built with {built!r} ({os.path.join(str(student_dir), BUILD_REPORT)}); rebuild the "
                         f"student or set student.prompt_layout: {built}")


def build_prompt(mission: str, obs_text: str, history: list[str] | tuple = (), patch: str = "",
                 layout: str = DEFAULT_LAYOUT) -> str:
    """Prompt ending right before the action; a candidate is scored as ' ' + action.
    `layout` (PROMPT_LAYOUTS) orders the history and observation lines."""
    check_layout(layout)
    lines = [f"mission: {mission}"]
    if patch:
        lines.append(patch)
    hist = "history: " + (" , ".join(history) if history else "none")
    obs = f"observation: {obs_text}"
    lines += [hist, obs] if layout == "history_first" else [obs, hist]
    lines.append("action:")
    return "\n".join(lines)


SITUATION_WORDS = 24  # cap on the brief copy of the snapshot's observation in a patch


def situation_brief(obs_text: str, max_words: int = SITUATION_WORDS) -> str:
    """A brief copy of the observation a patch was written for: the sentences about the
    agent ('you carry / face / see ...'; BabyAI's wall sentence is left out), each list
    cut to its first item ('you see a red key 2 steps left, a blue ball ...' keeps the
    nearest object named first), at most `max_words` words. Short enough that a small
    student can compare it with its own observation (docs/labeling.md); other observation
    languages keep their first words."""
    sents = [x.strip() for x in obs_text.replace("\n", " ").split(".") if x.strip()]
    mine = [x.split(", ")[0] for x in sents if x.startswith("you ")] or sents
    words = " , ".join(mine).split()
    return " ".join(words[:max_words])


def patch_text(condition: str, action: str = "", diagnosis: str = "", wrong_action: str = "",
               situation: str = "") -> str:
    """Patch for a CPT condition (or SFT format) given the teacher's action and diagnosis.

    As in the method (docs/labeling.md), every patch is framed as advice *from a similar
    situation* and carries a brief copy of that situation's observation (`situation`, the
    snapshot's obs_text), so it stays true at later steps of a rollout, where the current
    observation differs. The placebo has the same framing and no advice. `wrong_action`
    is the student's own preferred action when it differs from `action` (contrast)."""
    if condition == "base":
        return ""
    frame = f"advice from a similar situation ( {situation_brief(situation)} ) :" if situation else \
        "advice from a similar situation :"
    if condition == "placebo":
        return f"{frame} {PLACEBO_TEXT}"
    if condition == "demo":
        return f"{frame} the expert chose {action} there ."
    if condition == "contrast":
        if wrong_action and wrong_action != action:
            return f"{frame} {action} was right there , {wrong_action} was wrong ."
        return f"{frame} {action} was right there , other actions were wrong ."
    if condition == "hint":
        return f"{frame} hint: {diagnosis}"
    raise ValueError(f"unknown patch condition {condition!r} (known: {', '.join(CONDITIONS)})")

"""The student's prompt and the in-context patches (CPT conditions, SFT formats).

One place defines these texts so that the warm-start, the contextual patch test and the
supervision formats of training all use the same wording."""

from __future__ import annotations

CONDITIONS = ("base", "placebo", "demo", "contrast", "hint")
ROUTES = ("demo", "hint", "contrast")  # also the tie order of route_net: first wins
PLACEBO_TEXT = "read the observation carefully and then choose one action ."


def build_prompt(mission: str, obs_text: str, history: list[str] | tuple = (), patch: str = "") -> str:
    """Prompt ending right before the action; a candidate is scored as ' ' + action."""
    lines = [f"mission: {mission}"]
    if patch:
        lines.append(patch)
    lines.append("history: " + (" , ".join(history) if history else "none"))
    lines.append(f"observation: {obs_text}")
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

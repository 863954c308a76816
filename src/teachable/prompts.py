"""The student's prompt and the in-context patches (CPT conditions, SFT formats).

One place defines these texts so that the warm-start, the contextual patch test and the
supervision formats of training all use the same wording."""

from __future__ import annotations

CONDITIONS = ("base", "placebo", "demo", "contrast", "hint")
ROUTES = ("demo", "hint", "contrast")  # also the tie order of route_net: first wins
PLACEBO_TEXT = "note: read the observation carefully and then choose one action ."


def build_prompt(mission: str, obs_text: str, history: list[str] | tuple = (), patch: str = "") -> str:
    """Prompt ending right before the action; a candidate is scored as ' ' + action."""
    lines = [f"mission: {mission}"]
    if patch:
        lines.append(patch)
    lines.append("history: " + (" , ".join(history) if history else "none"))
    lines.append(f"observation: {obs_text}")
    lines.append("action:")
    return "\n".join(lines)


def patch_text(condition: str, action: str = "", diagnosis: str = "", wrong_action: str = "") -> str:
    """Patch for a CPT condition (or SFT format) given the teacher's action and diagnosis.

    `wrong_action` is the student's preferred action when it differs from `action`
    (used by contrast)."""
    if condition == "base":
        return ""
    if condition == "placebo":
        return PLACEBO_TEXT
    if condition == "demo":
        return f"demo: in this situation the expert chose {action} ."
    if condition == "contrast":
        if wrong_action and wrong_action != action:
            return f"contrast: {action} is right here , {wrong_action} is wrong ."
        return f"contrast: {action} is right here , other actions are wrong ."
    if condition == "hint":
        return f"hint: {diagnosis}"
    raise ValueError(f"unknown patch condition {condition!r} (known: {', '.join(CONDITIONS)})")

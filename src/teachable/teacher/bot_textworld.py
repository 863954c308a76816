"""The bot teacher's language for TextWorld (teacher.backend: bot, env.name: textworld).

Like the BabyAI texts (teacher.bot), a diagnosis says what is wrong with the student's
command and what to look for, in two short sentences, and never contains a valid command's
string (it names the objects and directions, never "verb object" as typed). The expert's
command is the first walkthrough command (envs.textworld); snapshots of TextWorld carry a
subgoal starting with "textworld:", which is how `bot_advice_text` routes here.

Error types: student == expert -> unknown; a different object with the same verb ->
attribute_confusion; moving when the expert acts on an object (or the reverse) ->
affordance_miss; both move, the other way -> planning_error; else unknown."""

from __future__ import annotations

import re

MOVE = "go"
_SPLIT = re.compile(r" (from|with|on|into|in) ")


def parse_command(cmd: str) -> tuple[str, str, str, str]:
    """(verb, object, preposition, second object) of a TextWorld command."""
    verb, _, rest = (cmd or "").partition(" ")
    m = _SPLIT.search(rest)
    if m:
        return verb, rest[: m.start()], m.group(1), rest[m.end():]
    return verb, rest, "", ""


def _need(expert: str) -> str:
    """What to look for, without the command itself."""
    verb, obj, prep, obj2 = parse_command(expert)
    if verb == MOVE:
        return f"what you need next lies through the exit to the {obj} , not in this room"
    if verb == "take":
        where = f" ; it is {'on' if prep == 'on' else 'in'} the {obj2}" if obj2 else " ; it is right here"
        return f"you still need the {obj}{where}"
    if verb == "open":
        return f"the {obj} is closed , and what you need is behind it"
    if verb == "unlock":
        return f"the {obj} is locked ; the {obj2} you carry fits it" if obj2 else f"the {obj} is locked"
    if verb in ("put", "insert"):
        return f"the {obj} you carry belongs {'on' if verb == 'put' else 'in'} the {obj2} now"
    if verb == "drop":
        return f"the {obj} you carry is needed on the floor here"
    if verb in ("eat", "drink"):
        return f"the {obj} is ready ; the task ends with it"
    if verb == "prepare":
        return f"all the ingredients are with you ; the {obj} is what comes next"
    if verb in ("cook", "slice", "dice", "chop"):
        return f"the {obj} is not ready for the recipe yet"
    return f"the task now needs the {obj}" if obj else "the task needs something else now"


def _about(student: str, expert: str) -> tuple[str, str]:
    sv, so, _, _ = parse_command(student)
    ev, eo, _, _ = parse_command(expert)
    if student == expert:
        return "unknown", "that is the right move now , keep going ."
    if sv == MOVE and ev == MOVE:
        return "planning_error", f"heading {so} leads away from it ; look for the {eo} exit ."
    if sv == ev and so != eo:
        return "attribute_confusion", f"the {so} is not the one the task asks for ; look for the {eo} ."
    if sv == MOVE:
        return "affordance_miss", f"leaving now is a mistake ; the {eo} is within reach here ."
    if ev == MOVE:
        return "affordance_miss", f"nothing more to do with the {so} here ; find the {eo} exit ."
    return "unknown", f"using the {so} does not help now ; the {eo} matters ." if so else "that does not help now ."


def tw_advice_text(mission: str, obs_text: str, expert_action: str, subgoal: str | None,
                   student_action: str | None = None) -> tuple[str, str, str]:
    """(diagnosis, rationale, error_type) of the bot teacher on a TextWorld state."""
    student = student_action or expert_action
    etype, about = _about(student, expert_action)
    plan = (subgoal or "").removeprefix("textworld:").strip()
    rationale = f"the game's walkthrough from here starts with {plan} ." if plan else "the walkthrough is done ."
    return f"{_need(expert_action)} . {about}", rationale, etype


def leaked_commands(text: str, valid_actions: list[str]) -> list[str]:
    """The valid commands whose exact string occurs (as whole words) in text."""
    return [a for a in valid_actions if re.search(rf"(^|\W){re.escape(a)}($|\W)", text)]

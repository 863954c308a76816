"""Offline teacher (`teacher.backend: bot`): the BabyAI bot's action, with templated
language built from the bot's current subgoal, the observation and the student's action.
Deterministic and free, so its answers are not cached on disk.

The diagnosis has two sentences: what the student must do now and where the object is
("you must go to the red key ; the red key is 2 steps left and 1 step forward ."), then
what is wrong with the student's action ("the blue key in front is not the red key ."). It
never contains a valid action's string: the hint says what is wrong and where the goal is,
and leaves the action to the student (docs/labeling.md). The texts use the words of the text-BabyAI observations
plus a few fixed template words, in the spaced punctuation style of `prompts.py`, because
the bootstrap student learns them from its warm-start demos (`student.default_diagnosis`).

Error types (first rule that applies):
  student == expert                                      -> unknown
  subgoal "explore"                                      -> exploration_failure
  the student faces an object that shares the type or the colour of the subgoal's object
  but is not it, and interacts with it or walks into it  -> attribute_confusion
  the student picks up / toggles / drops when the expert does not, or moves when the
  expert picks up / toggles / drops                      -> affordance_miss
  both move (walks into a wall or object, turns the wrong way, turns instead of going
  forward)                                               -> planning_error
  anything else (e.g. observations of other envs)        -> unknown
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .base import TeacherAdvice, TeacherError, TeacherRequest

INTERACT = ("pick up", "drop", "toggle")
MOVES = ("turn left", "turn right", "go forward")
COLORS = ("red", "green", "blue", "purple", "yellow", "grey")
TYPES = ("key", "ball", "box", "door", "object")
# The words the diagnosis templates add to those of observations, missions and subgoals
# (envs.babyai.VOCABULARY); a test keeps the templates inside them.
TEMPLATE_WORDS = frozenset(
    "ahead already best blocked by cells choice find for get going here into is it keep long move moving must need "
    "new not now place right round shortest shows than that the there thing this view walks way what".split())
EXPLORE_CONFIDENCE = 0.7  # exploring: several moves are about as good as the bot's

_THING = re.compile(r"\b(the|an?) (?:(open|closed|locked) )?(?:(" + "|".join(COLORS) + r") )?("
                    + "|".join(TYPES) + r")\b")
_FACE = re.compile(r"you face (?:an? )?([a-z ]+?)\s*[.,]")
_CARRY = re.compile(r"you carry (?:an? )?([a-z ]+?)\s*[.,]")
_SEE = re.compile(r"you see (.*?)\.")
_SEEN_ITEM = re.compile(r"^an? ((?:(?:open|closed|locked) )?[a-z]+ [a-z]+) (.+)$")


@dataclass(frozen=True)
class Thing:
    """An object phrase: `state color type` (missing parts empty); article from the text."""

    type: str
    color: str = ""
    state: str = ""
    article: str = "the"

    @property
    def noun(self) -> str:  # "red key", "blue door", "key"
        return " ".join(w for w in (self.color, self.type) if w)

    @property
    def phrase(self) -> str:  # "the red key", "a key"
        return f"{self.article} {self.noun}"

    def matches(self, other: "Thing") -> bool:
        """`other` fits this (possibly partial) description."""
        return ((self.type in ("", "object") or self.type == other.type)
                and (not self.color or self.color == other.color))

    def near_miss(self, other: "Thing") -> bool:
        """`other` shares a named attribute (type or colour) with this description but is
        not a match: the kind of object an attribute confusion picks."""
        if self.matches(other):
            return False
        same_type = self.type not in ("", "object") and self.type == other.type
        same_color = bool(self.color) and self.color == other.color
        return same_type or same_color


def parse_thing(text: str, article: str = "the") -> Thing | None:
    m = _THING.search(f"{article} {text}" if not text.startswith(("the ", "a ", "an ")) else text)
    if not m:
        return None
    art = "the" if m.group(1) == "the" else "a"
    return Thing(type=m.group(4), color=m.group(3) or "", state=m.group(2) or "", article=art)


@dataclass
class View:
    """What the text-BabyAI observation says (fields empty when the text has another form)."""

    front: str = ""  # "empty cell", "wall", "unseen cell", "closed blue door", "red key", ""
    front_thing: Thing | None = None
    carried: Thing | None = None
    seen: tuple[tuple[Thing, str], ...] = ()  # (thing, "2 steps left and 1 step forward"), nearest first


def parse_view(obs_text: str) -> View:
    v = View()
    m = _FACE.search(obs_text)
    if m:
        v.front = m.group(1).strip()
        if v.front not in ("empty cell", "wall", "unseen cell"):
            v.front_thing = parse_thing(v.front)
    m = _CARRY.search(obs_text)
    if m and m.group(1) != "nothing":
        v.carried = parse_thing(m.group(1))
    m = _SEE.search(obs_text)
    if m and m.group(1) != "no objects":
        seen = []
        for item in m.group(1).split(", "):
            im = _SEEN_ITEM.match(item.strip())
            t = parse_thing(im.group(1)) if im else None
            if t is not None:
                seen.append((t, im.group(2).strip()))
        v.seen = tuple(seen)
    return v


def goal_of(mission: str, subgoal: str | None, view: View) -> tuple[str, Thing | None]:
    """(goal phrase, the object it is about). Without a subgoal the mission stands in; for
    'put X next to Y' the object is Y once X is carried."""
    goal = (subgoal or mission).strip().rstrip(".").strip()
    if goal.startswith("explore"):
        return goal, None
    if "free cell" in goal or goal.startswith("drop"):  # the object is the carried one: none to reach
        return goal, None
    things = [parse_thing(m.group(0)) for m in _THING.finditer(goal)]
    if not things:
        return goal, None
    if len(things) > 1 and view.carried is not None and things[0].matches(view.carried):
        return goal, things[1]
    return goal, things[0]


def _where(target: Thing, view: View) -> str:
    """'the red key is 2 steps forward' / 'it is right in front of you' / 'not in view'."""
    if view.front_thing is not None and target.matches(view.front_thing):
        return f"{target.phrase} is right in front of you"
    for thing, where in view.seen:
        if target.matches(thing):
            return f"{target.phrase} is {where}"
    return f"{target.phrase} is not in view"


def _analyse(student: str, expert: str, goal: str, target: Thing | None, view: View) -> tuple[str, str]:
    """(error_type, sentence about what is wrong with the student's action).

    The sentence never contains an action string (a hint is a hint, not the answer): it
    says what is wrong with the student's choice, in object and place words only."""
    f = view.front_thing
    front = f"the {f.noun}" if f is not None else (f"the {view.front}" if view.front else "it")
    carried = f"the {view.carried.noun}" if view.carried is not None else "the object"
    if student == expert:
        return "unknown", "your choice is the right move now , keep going ."
    if goal.startswith("explore"):
        return "exploration_failure", "that way shows no new cells ."
    confused = f is not None and target is not None and target.near_miss(f)
    if confused and student in ("pick up", "toggle", "go forward"):
        return "attribute_confusion", f"{front} in front is not {target.phrase} ."
    if student in INTERACT:
        if student == "pick up":
            what = f"{front} in front is not what you need now"
        elif student == "toggle":
            what = f"{front} in front is not the thing to open now"
        else:
            what = f"this is not the place for {carried}"
        return "affordance_miss", f"{what} ."
    if expert in INTERACT:
        if expert == "drop":
            return "affordance_miss", f"this is the place for {carried} , no need to move ."
        if f is not None and target is not None and target.matches(f):  # the first sentence said so
            return "affordance_miss", "it is right there , no need to move ."
        return "affordance_miss", f"{front} in front is what you need now , no need to move ."
    if student in MOVES and expert in MOVES:
        if student == "go forward" and view.front == "wall":
            return "planning_error", "that walks into the wall ."
        if student == "go forward" and f is not None:
            return "planning_error", f"the way ahead is blocked by {front} ."
        if student == "go forward":
            return "planning_error", "moving ahead is not the shortest way ."
        if expert == "go forward":
            return "planning_error", "you already face the right way ."
        return "planning_error", "that is the long way round ."
    return "unknown", "your choice is not the best here ."


def say_goal(goal: str) -> str:
    """The goal in words that are not action strings ('pick up X' -> 'get X')."""
    padded = f" {goal} "
    for verb, say in ((" pick up ", " get "), (" drop ", " place ")):
        padded = padded.replace(verb, say)
    return padded.strip()


def bot_advice_text(mission: str, obs_text: str, expert_action: str, subgoal: str | None,
                    student_action: str | None = None) -> tuple[str, str, str]:
    """(diagnosis, rationale, error_type) of the bot teacher. Only the rationale names
    the expert's action; the diagnosis (the hint) names none."""
    if (subgoal or "").startswith("textworld:"):  # TextWorld states speak their own language
        from .bot_textworld import tw_advice_text

        return tw_advice_text(mission, obs_text, expert_action, subgoal, student_action)
    view = parse_view(obs_text)
    goal, target = goal_of(mission, subgoal, view)
    student = student_action or expert_action
    etype, about_action = _analyse(student, expert_action, goal, target, view)
    if goal.startswith("explore"):
        _, want = goal_of(mission, None, view)
        first = f"you must explore to find {want.phrase} ." if want is not None else "you must explore ."
    elif target is not None and (view.front or view.seen or view.carried):  # a text-BabyAI view
        first = f"you must {say_goal(goal)} ; {_where(target, view)} ."
    else:
        first = f"you must {say_goal(goal)} ."
    rationale = f"the expert's current subgoal is to {goal} , and its next action is {expert_action} ."
    return f"{first} {about_action}", rationale, etype


def bot_diagnosis(mission: str, obs_text: str, expert_action: str, subgoal: str | None,
                  student_action: str | None = None) -> str:
    """1-2 sentences naming the current subgoal, where its object is, and what is wrong with
    the student's action (the hint patch and the hint SFT format use this same text)."""
    return bot_advice_text(mission, obs_text, expert_action, subgoal, student_action)[0]


def error_type(student: str, expert: str, subgoal: str, obs_text: str, mission: str = "") -> str:
    view = parse_view(obs_text)
    goal, target = goal_of(mission, subgoal, view)
    return _analyse(student, expert, goal, target, view)[0]


class BotTeacher:
    name = "bot"
    uses_cache = False  # deterministic and free: recomputing is cheaper than a file

    def __init__(self, cfg: dict):
        self.model = "babyai-bot"  # TextWorld requests route to bot_textworld (same backend)

    def check_ready(self) -> None:
        return None

    def cache_fields(self, req: TeacherRequest):
        return None, {}

    def answer(self, req: TeacherRequest) -> tuple[TeacherAdvice, dict]:
        if not req.expert_action:
            raise TeacherError(f"teacher 'bot': snapshot {req.snapshot_id!r} has no expert_action "
                               "(the bot backend needs snapshots from an env with an expert)")
        if req.expert_action not in req.valid_actions:
            raise TeacherError(f"teacher 'bot': snapshot {req.snapshot_id!r}: expert_action "
                               f"{req.expert_action!r} is not one of the valid actions {req.valid_actions}")
        diagnosis, rationale, etype = bot_advice_text(req.mission, req.obs_text, req.expert_action,
                                                      req.expert_subgoal, req.student_action)
        explore = (req.expert_subgoal or "").startswith("explore")
        adv = TeacherAdvice(suggested_action=req.expert_action, rationale=rationale, diagnosis=diagnosis,
                            error_type=etype, confidence=EXPLORE_CONFIDENCE if explore else 1.0,
                            backend=self.name, model=self.model)
        return adv, {"calls": 1}

"""Offline teacher: the BabyAI bot's action with language built from its current subgoal
and the state (deterministic, no network)."""

from __future__ import annotations

import re

from .base import TeacherAdvice, TeacherError, TeacherRequest

_INTERACT = ("pick up", "drop", "toggle")


def _front(obs_text: str) -> str:
    m = re.search(r"you face (?:an? )?([a-z ]+?)\s*[.,]", obs_text)
    return m.group(1).strip() if m else ""


def error_type(student: str, expert: str, subgoal: str, obs_text: str) -> str:
    if student == expert:
        return "unknown"
    if subgoal.startswith("explore"):
        return "exploration_failure"
    if student in _INTERACT:
        target = subgoal.split(" the ")[-1] if " the " in subgoal else ""
        front = _front(obs_text)
        if target and front and front not in ("empty cell", "wall") and target not in front:
            return "attribute_confusion"
        return "affordance_miss"
    return "planning_error"


def _why(student: str, expert: str) -> str:
    if student == expert:
        return f"{student} is the right move here , so keep going ."
    if expert.startswith("turn") and student == "go forward":
        return f"going forward does not lead there ; first {expert} to face the way ."
    if expert.startswith("turn") and student.startswith("turn"):
        return f"{student} points you away from it ; {expert} instead ."
    if expert == "go forward":
        return f"{student} wastes a step ; the way ahead is open , so go forward ."
    if student in _INTERACT:
        return f"{student} does not help here ; {expert} is what the plan needs now ."
    return f"{student} does not help here ; {expert} is what the plan needs now ."


def bot_diagnosis(mission: str, obs_text: str, expert_action: str, subgoal: str | None,
                  student_action: str | None = None) -> str:
    """1-2 sentences naming the current subgoal and what is wrong with the student's move
    (the hint patch and the hint SFT format use this same text)."""
    goal = subgoal or mission
    first = f"to {mission} you must now {goal} ." if goal != mission else f"you must {mission} ."
    return f"{first} {_why(student_action or expert_action, expert_action)}"


class BotTeacher:
    name = "bot"

    def __init__(self, cfg: dict):
        self.model = "babyai-bot"

    def check_ready(self) -> None:
        return None

    def answer(self, req: TeacherRequest) -> tuple[TeacherAdvice, dict]:
        if not req.expert_action:
            raise TeacherError(f"teacher 'bot': snapshot {req.snapshot_id} has no expert_action "
                               "(the bot backend needs an env with an expert)")
        subgoal = req.expert_subgoal or req.mission
        adv = TeacherAdvice(
            suggested_action=req.expert_action,
            rationale=f"the expert plan is to {subgoal} , and {req.expert_action} is its next step .",
            diagnosis=bot_diagnosis(req.mission, req.obs_text, req.expert_action, req.expert_subgoal,
                                    req.student_action),
            error_type=error_type(req.student_action, req.expert_action, subgoal, req.obs_text),
            confidence=0.7 if subgoal.startswith("explore") else 1.0,
            backend=self.name, model=self.model,
        )
        return adv, {"tokens_in": 0, "tokens_out": 0, "calls": 1}

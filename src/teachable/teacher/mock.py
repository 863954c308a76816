"""Deterministic mock teacher (`teacher.backend: mock`), for fast unit tests only: the
expert's action when it is valid, else the first valid action; fixed language."""

from __future__ import annotations

from .base import TeacherAdvice, TeacherRequest


class MockTeacher:
    name = "mock"
    uses_cache = False

    def __init__(self, cfg: dict):
        self.model = "mock"

    def check_ready(self) -> None:
        return None

    def cache_fields(self, req: TeacherRequest):
        return None, {}

    def answer(self, req: TeacherRequest) -> tuple[TeacherAdvice, dict]:
        a = req.expert_action if req.expert_action in req.valid_actions else req.valid_actions[0]
        etype = "unknown" if req.student_action == a else "planning_error"
        return TeacherAdvice(a, f"mock rationale : {a} .", f"mock diagnosis : {a} , not {req.student_action} .",
                             etype, 0.5, backend=self.name, model=self.model), {"calls": 1}

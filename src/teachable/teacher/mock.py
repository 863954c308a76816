"""Deterministic mock teacher for fast unit tests only."""

from __future__ import annotations

from .base import TeacherAdvice, TeacherRequest


class MockTeacher:
    name = "mock"

    def __init__(self, cfg: dict):
        self.model = "mock"

    def check_ready(self) -> None:
        return None

    def answer(self, req: TeacherRequest) -> tuple[TeacherAdvice, dict]:
        a = req.expert_action if req.expert_action in req.valid_actions else req.valid_actions[0]
        return TeacherAdvice(a, "mock rationale .", f"mock diagnosis : try {a} .", "unknown", 0.5,
                             backend=self.name, model=self.model), {"tokens_in": 0, "tokens_out": 0, "calls": 1}

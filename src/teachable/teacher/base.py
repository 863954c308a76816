"""The teacher interface (DESIGN §5): a request about one state, advice back."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

ERROR_TYPES = ("affordance_miss", "attribute_confusion", "planning_error", "exploration_failure", "unknown")


@dataclass
class TeacherRequest:
    snapshot_id: str
    mission: str
    obs_text: str
    valid_actions: list[str]
    student_action: str
    expert_action: str | None = None
    expert_subgoal: str | None = None


@dataclass
class TeacherAdvice:
    suggested_action: str
    rationale: str
    diagnosis: str
    error_type: str
    confidence: float
    backend: str = ""
    model: str = ""
    cached: bool = False
    retries: int = 0
    valid: bool = True
    flags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


class TeacherError(RuntimeError):
    """A teacher that cannot answer (after its retries) stops the stage loudly."""

    def __init__(self, message: str, stats: dict | None = None):
        super().__init__(message)
        self.stats = stats or {}

"""The teacher interface (docs/design.md §5): a request about one state, advice back, and the
`teacher:` config with its defaults (so a plain dict works outside the Snakemake run)."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field

from ..io import InputError

ERROR_TYPES = ("affordance_miss", "attribute_confusion", "planning_error", "exploration_failure", "unknown")
BACKENDS = ("bot", "openai", "mock")

# Same defaults as config/schema.yaml's `teacher` section, plus three optional keys.
DEFAULTS: dict = {
    "backend": "bot",
    "model": "gpt-4o-mini",
    "base_url": None,
    "temperature": 0.0,
    "max_tokens": 300,
    "timeout_s": 30.0,
    "max_retries": 4,
    "backoff_s": 1.0,
    "max_backoff_s": 60.0,  # cap of one backoff sleep (a server's Retry-After included)
    "price_in_per_1k": 0.00015,
    "price_out_per_1k": 0.0006,
    "api_key_env": "OPENAI_API_KEY",
    "dotenv_path": ".env",  # read when the environment variable is not set
}

_NUMBERS = {  # key -> (lower bound, bound is exclusive)
    "temperature": (0.0, False), "timeout_s": (0.0, True), "backoff_s": (0.0, False),
    "max_backoff_s": (0.0, False), "price_in_per_1k": (0.0, False), "price_out_per_1k": (0.0, False),
}
_INTS = {"max_tokens": 1, "max_retries": 0}


def resolve_config(cfg: dict | None) -> dict:
    """The `teacher` config with defaults filled; a bad value raises InputError naming
    `teacher.<key>`. Keys this package does not know are kept (the schema owns them)."""
    if cfg is not None and not isinstance(cfg, dict):
        raise InputError(f"teacher: expected a mapping of teacher settings, got {type(cfg).__name__}")
    out = {**DEFAULTS, **{k: v for k, v in (cfg or {}).items() if v is not None or k == "base_url"}}
    if out["backend"] not in BACKENDS:
        raise InputError(f"teacher.backend: unknown backend {out['backend']!r} (known: {', '.join(BACKENDS)})")
    for k, (lo, excl) in _NUMBERS.items():
        v = out[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (v <= lo if excl else v < lo):
            raise InputError(f"teacher.{k}: expected a number {'>' if excl else '>='} {lo:g}, got {v!r}")
        out[k] = float(v)
    for k, lo in _INTS.items():
        v = out[k]
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise InputError(f"teacher.{k}: expected an integer >= {lo}, got {v!r}")
    for k in ("model", "api_key_env", "dotenv_path"):
        if not isinstance(out[k], str) or not out[k]:
            raise InputError(f"teacher.{k}: expected a non-empty string, got {out[k]!r}")
    if out["base_url"] is not None and not isinstance(out["base_url"], str):
        raise InputError(f"teacher.base_url: expected a URL string or null, got {out['base_url']!r}")
    return out


@dataclass
class TeacherRequest:
    snapshot_id: str
    mission: str
    obs_text: str
    valid_actions: list[str]
    student_action: str  # the student's greedy action
    expert_action: str | None = None  # bot backend only
    expert_subgoal: str | None = None  # e.g. "go to the red key", "explore" (bot backend)

    def check(self) -> None:
        """Raise InputError (naming the snapshot) on a request no backend can answer."""
        where = f"teacher request for snapshot {self.snapshot_id!r}"
        for k in ("snapshot_id", "mission", "obs_text", "student_action"):
            if not isinstance(getattr(self, k), str):
                raise InputError(f"{where}: {k} must be a string, got {getattr(self, k)!r}")
        va = self.valid_actions
        if not isinstance(va, (list, tuple)) or not va or not all(isinstance(a, str) and a for a in va):
            raise InputError(f"{where}: valid_actions must be a non-empty list of strings, got {va!r}")
        if len(set(va)) != len(va):
            raise InputError(f"{where}: valid_actions has duplicates: {list(va)}")


@dataclass
class TeacherAdvice:
    suggested_action: str
    rationale: str
    diagnosis: str  # 1-2 sentences; the hint patch and the hint SFT format use this text
    error_type: str
    confidence: float
    backend: str = ""
    model: str = ""
    cached: bool = False
    retries: int = 0
    valid: bool = True  # False: flagged (see flags); never use such a record as a label
    flags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TeacherAdvice":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class TeacherError(RuntimeError):
    """A teacher that cannot answer (after its retries) stops the stage loudly. `stats`
    carries the usage of the failed attempts (they may have cost tokens)."""

    def __init__(self, message: str, stats: dict | None = None):
        super().__init__(message)
        self.stats = stats or {}

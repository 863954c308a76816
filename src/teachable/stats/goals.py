"""Goal achievement: does a CI clear a target?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ._util import JsonMixin
from .bootstrap import CI, bootstrap_ci


@dataclass
class GoalResult(JsonMixin):
    target: float
    higher_is_better: bool
    bound: float          # the CI bound that must clear the target
    achieved: bool        # bound > target (higher is better) or bound < target
    point: float
    ci: CI


def goal_from_ci(ci: CI, target: float, higher_is_better: bool = True) -> GoalResult:
    """Achieved when the lower bound is above the target (or the upper bound below it
    when lower is better). A NaN bound (degenerate CI) never achieves."""
    bound = ci.low if higher_is_better else ci.high
    ok = bool(bound > target) if higher_is_better else bool(bound < target)
    return GoalResult(float(target), higher_is_better, float(bound), ok, ci.point, ci)


def goal_achievement(values: Sequence[float], target: float, *, higher_is_better: bool = True,
                     confidence: float = 0.95, one_sided: bool = True, method: str = "BCa",
                     n_resamples: int = 9999, seed: int | None = 0,
                     statistic: str = "mean") -> GoalResult:
    """Bootstrap the statistic of `values` (one-sided by default: a `confidence` lower
    bound when higher is better) and check it against `target`."""
    alt = "two-sided" if not one_sided else ("greater" if higher_is_better else "less")
    ci = bootstrap_ci(values, statistic, confidence=confidence, method=method,
                      alternative=alt, n_resamples=n_resamples, seed=seed)
    return goal_from_ci(ci, target, higher_is_better)

"""Statistics for multi-seed experiments (scipy/statsmodels underneath).

Every result is a dataclass with `to_dict()` giving strict JSON (NaN/inf -> null)."""

from .aggregate import aggregate_ci, iqm, probability_of_improvement
from .bootstrap import CI, bootstrap_ci, bootstrap_samples
from .compare import (PairedComparison, UnpairedComparison, paired_comparison,
                      prob_improvement, unpaired_comparison)
from .curves import (Curve, CurveSummary, common_window, extract_curve, summarize_curves)
from .goals import GoalResult, goal_achievement, goal_from_ci
from .multiple import adjust_pvalues, holm
from .power import (PowerResult, pilot_sd, pooled_sd, power_at, seeds_needed,
                    seeds_needed_from_sd)
from .seedcurve import SeedCurve, half_width, plot_seed_curve, seed_curve
from ._util import jsonable

__all__ = [
    "CI", "bootstrap_ci", "bootstrap_samples", "PairedComparison", "UnpairedComparison",
    "paired_comparison", "unpaired_comparison", "prob_improvement", "iqm", "aggregate_ci",
    "probability_of_improvement", "holm", "adjust_pvalues", "PowerResult", "seeds_needed",
    "seeds_needed_from_sd", "power_at", "pooled_sd", "pilot_sd", "SeedCurve", "seed_curve",
    "half_width", "plot_seed_curve", "Curve", "CurveSummary", "extract_curve",
    "common_window", "summarize_curves", "GoalResult", "goal_achievement", "goal_from_ci",
    "jsonable",
]

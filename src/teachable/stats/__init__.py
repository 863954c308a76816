"""Statistics for multi-seed experiments (scipy/statsmodels underneath).

Every result is a dataclass with `to_dict()` giving strict JSON (NaN/inf -> null). Names load
on first use (teachable._lazy): `from teachable.stats import hierarchical` costs numpy only,
not scipy.stats, statsmodels and matplotlib."""

from .._lazy import lazy_exports

_MODULES = {  # submodule: the names it exports
    "aggregate": "aggregate_ci iqm probability_of_improvement",
    "bootstrap": "CI bootstrap_ci bootstrap_samples",
    "compare": "PairedComparison UnpairedComparison paired_comparison prob_improvement unpaired_comparison",
    "curves": "Curve CurveSummary common_window extract_curve summarize_curves",
    "goals": "GoalResult goal_achievement goal_from_ci",
    "multiple": "adjust_pvalues holm",
    "power": "PowerResult pilot_sd pooled_sd power_at seeds_needed seeds_needed_from_sd",
    "seedcurve": "SeedCurve half_width plot_seed_curve seed_curve",
    "_util": "jsonable",
}
_EXPORTS = {name: mod for mod, names in _MODULES.items() for name in names.split()}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)

"""Validation re-runs (docs/design.md §8): the top-K training configurations by a metric are
re-trained and re-evaluated with fresh seeds, in phases (e.g. 10 then 20 seeds), and judged
against configured criteria. The re-runs are evaluated on fresh tasks and a fresh panel
(evaluation.FRESH_TASK_STAGE, panel part 1), disjoint from the phase-3 ones that picked
them, so the report shows the shrinkage of the winner's curse."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .io import InputError
from .stats import bootstrap_ci


def validation_seeds(val_cfg: dict) -> list[int]:
    """Fresh seeds of the current phase: seed_start + range(phases[phase - 1]); raising the
    phase keeps the earlier seeds, so their jobs are never re-run."""
    phases, phase = val_cfg["phases"], val_cfg["phase"]
    if not 1 <= phase <= len(phases):
        raise InputError(f"validation.phase: {phase} is not in 1..{len(phases)} (validation.phases = {phases})")
    return [val_cfg["seed_start"] + i for i in range(phases[phase - 1])]


def select_top(overall: pd.DataFrame, metric_col: str, top_k: int, source: str = "overall_task_results.csv") -> list[dict]:
    if metric_col not in overall:
        raise InputError(f"{source}: no column '{metric_col}' (validation.metric)")
    runs = overall[overall.run_id != "BASE"].dropna(subset=[metric_col])
    if runs.empty:
        raise InputError(f"{source}: no trained run to validate")
    top = runs.sort_values([metric_col, "run_id"], ascending=[False, True]).head(top_k)
    return [{"run_id": r.run_id, "original_mean": float(r[metric_col]), "original_n_seeds": int(r.n_seeds)}
            for _, r in top.iterrows()]


def report(selected: list[dict], records: list[dict], val_cfg: dict, stats_cfg: dict, base_value: float,
           original_base: float | None = None) -> dict:
    """Per configuration: mean, std, CV, CI over the validation seeds, ratio to the original
    result, and pass/fail against the criteria. `base_value` is BASE on the fresh tasks
    (what the fresh results are compared with); with `original_base` (BASE on the phase-3
    tasks) each row also has the original and fresh delta vs BASE and the shrinkage
    (fresh delta - original delta: the winner's curse shows as a negative number)."""
    metric = val_cfg["metric"]
    crit = val_cfg["criteria"]
    rows = []
    for sel in selected:
        vals = [r["metrics"][metric] for r in records if r["run_id"] == sel["run_id"]]
        if not vals:
            raise InputError(f"validation: no evaluation records for {sel['run_id']}")
        mean = float(np.mean(vals))
        std = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
        ci = bootstrap_ci(vals, "mean", confidence=stats_cfg["confidence"], method=stats_cfg["ci_method"],
                          n_resamples=stats_cfg["n_resamples"], seed=stats_cfg["seed"], label=sel["run_id"])
        ratio = mean / sel["original_mean"] if sel["original_mean"] else None
        cv = std / mean if mean else None
        checks = {
            "ratio_ok": ratio is not None and ratio >= crit["min_ratio"],
            "cv_ok": cv is not None and cv <= crit["max_cv"],
            "beats_base": (ci.low is not None and ci.low > base_value) if crit["ci_above_base"] else True,
        }
        rows.append({"run_id": sel["run_id"], "n_seeds": len(vals), "mean": mean, "std": std, "cv": cv,
                     "ci_low": ci.low, "ci_high": ci.high, "original_mean": sel["original_mean"],
                     "ratio_to_original": ratio, **_shrinkage(sel["original_mean"], mean, original_base, base_value),
                     **checks, "passed": all(checks.values())})
    return {"metric": metric, "criteria": crit, "base_value": base_value, "original_base_value": original_base,
            "configs": rows}


def _shrinkage(original: float, fresh: float, original_base: float | None, fresh_base: float) -> dict:
    if original_base is None:
        return {"original_delta_base": None, "fresh_delta_base": fresh - fresh_base, "shrinkage": None}
    od, fd = original - original_base, fresh - fresh_base
    return {"original_delta_base": od, "fresh_delta_base": fd, "shrinkage": fd - od}


def plot(rep: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .io import atomic_path

    df = pd.DataFrame(rep["configs"])
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(df), 3.6))
    x = np.arange(len(df))
    ax.errorbar(x - 0.1, df["mean"], yerr=[df["mean"] - df.ci_low, df.ci_high - df["mean"]], fmt="o",
                label="validation seeds (95% CI)")
    ax.plot(x + 0.1, df.original_mean, "s", label="original result")
    ax.axhline(rep["base_value"], color="grey", ls="--", label="BASE")
    ax.set_xticks(x, df.run_id, rotation=20, ha="right")
    ax.set_ylabel(rep["metric"])
    ax.legend(fontsize=8)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)

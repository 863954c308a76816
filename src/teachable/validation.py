"""Validation re-runs (docs/design.md §8): the top-K training configurations by a metric are
re-trained and re-evaluated with fresh seeds, in phases (e.g. 10 then 20 seeds), and judged
against configured criteria. The re-runs are evaluated on fresh tasks and a fresh panel
(evaluation.FRESH_TASK_STAGE, panel part 1), disjoint from the phase-3 ones that picked
them, so the report shows the shrinkage of the winner's curse."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .io import InputError
from .evaluation import Models, _kw
from .stats import hierarchical as hier


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
           original_base: float | None = None, episodes: pd.DataFrame | None = None,
           original_episodes: pd.DataFrame | None = None) -> dict:
    """Per configuration: mean, std, CV over the validation seeds, ratio to the original
    result, and pass/fail against the criteria. `base_value` is BASE on the fresh tasks
    (what the fresh results are compared with); with `original_base` (BASE on the phase-3
    tasks) each row also has the original and fresh delta vs BASE and the shrinkage
    (fresh delta - original delta: the winner's curse shows as a negative number).

    The CIs are two-level (seeds x tasks, docs/statistics.md) from the per-episode rows:
    `episodes` (the fresh runs and BASE on the fresh tasks) give the CI of the fresh mean
    and of the fresh delta vs BASE (paired by task and seed); `original_episodes`
    (phase3/episodes.csv) the CI of the original delta; the shrinkage CI combines the two
    independent bootstraps (fresh and phase-3 tasks and seeds are disjoint samples). With
    fewer than stats.min_seeds seeds a CI is withheld ('too few seeds') and a criterion
    that needs it is not evaluated (None)."""
    if episodes is None:
        raise InputError("validation report: the fresh per-episode rows are required (two-level CIs)")
    metric = val_cfg["metric"]
    crit = val_cfg["criteria"]
    kw = _kw(stats_cfg)
    fresh = Models(episodes)
    orig = Models(original_episodes) if original_episodes is not None else None
    rows = []
    for sel in selected:
        rid = sel["run_id"]
        vals = [r["metrics"][metric] for r in records if r["run_id"] == rid]
        if not vals:
            raise InputError(f"validation: no evaluation records for {rid}")
        if rid not in fresh.run_ids:
            raise InputError(f"validation: no fresh episodes for {rid}")
        mean = float(np.mean(vals))
        std = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
        x = fresh.m(rid)
        ci = hier.mean_ci(x, **kw)
        fd = hier.paired_diff(fresh.m("BASE"), x, keep_draws=True, **kw)
        od = None
        if orig is not None:
            if rid not in orig.run_ids:
                raise InputError(f"phase3/episodes.csv: no episodes for {rid} (the run that validation picked)")
            od = hier.paired_diff(orig.m("BASE"), orig.m(rid), keep_draws=True, **{**kw, "seed": kw["seed"] + 1})
        ratio = mean / sel["original_mean"] if sel["original_mean"] else None
        cv = std / mean if mean else None
        # few seeds: the more conservative of the two-level bootstrap and the t-interval (gate_low)
        beats = (None if fd.gate_low is None else fd.gate_low > 0) if crit["ci_above_base"] else True
        checks = {"ratio_ok": ratio is not None and ratio >= crit["min_ratio"],
                  "cv_ok": cv is not None and cv <= crit["max_cv"], "beats_base": beats}
        notes = [c.note for c in (ci, fd, od) if c is not None and c.note]
        rows.append({"run_id": rid, "n_seeds": len(vals), "n_tasks": int(x.shape[1]), "mean": mean, "std": std,
                     "cv": cv, "ci_low": ci.low, "ci_high": ci.high, "original_mean": sel["original_mean"],
                     "ratio_to_original": ratio,
                     **_shrinkage(sel["original_mean"], mean, original_base, base_value),
                     "fresh_delta_ci_low": fd.low, "fresh_delta_ci_high": fd.high,
                     "fresh_delta_t_ci_low": fd.t_low, "fresh_delta_t_ci_high": fd.t_high, "p_base": fd.p_value,
                     "original_delta_ci_low": od.low if od else None,
                     "original_delta_ci_high": od.high if od else None,
                     **_shrinkage_ci(fd, od, kw["confidence"]), **checks,
                     "passed": None if None in checks.values() else all(checks.values()),
                     "ci_unit": hier.CI_UNIT, "ci_note": "; ".join(sorted(set(notes)))})
    return {"metric": metric, "criteria": crit, "base_value": base_value, "original_base_value": original_base,
            "ci_unit": hier.CI_UNIT, "configs": rows}


def _shrinkage_ci(fresh: hier.TwoLevelCI, orig: hier.TwoLevelCI | None, confidence: float) -> dict:
    """CI of fresh delta - original delta: the two bootstraps resample disjoint task sets and
    seeds (independent samples), so the difference of their draws is a draw of the shrinkage."""
    if orig is None or fresh.draws is None or orig.draws is None:
        return {"shrinkage_ci_low": None, "shrinkage_ci_high": None}
    n = min(fresh.draws.size, orig.draws.size)
    d = fresh.draws[:n] - orig.draws[:n]
    a = (1 - confidence) / 2
    lo, hi = np.quantile(d, [a, 1 - a])
    return {"shrinkage_ci_low": float(lo), "shrinkage_ci_high": float(hi)}


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
    for c in ("mean", "ci_low", "ci_high", "original_mean"):  # a withheld CI (None) draws no error bar
        df[c] = pd.to_numeric(df[c], errors="coerce")
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(df), 3.6))
    x = np.arange(len(df))
    ax.errorbar(x - 0.1, df["mean"], yerr=[df["mean"] - df.ci_low, df.ci_high - df["mean"]], fmt="o",
                label="validation seeds (95% CI, seeds×tasks)")
    ax.plot(x + 0.1, df.original_mean, "s", label="original result")
    ax.axhline(rep["base_value"], color="grey", ls="--", label="BASE")
    ax.set_xticks(x, df.run_id, rotation=20, ha="right")
    ax.set_ylabel(rep["metric"])
    ax.legend(fontsize=8)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)

"""Matched estimands of the CPT correlation (issue 30 item 4; docs/labeling.md): which CPT
label, measured on which outcome, predicts which micro-training utility. Torch-free.

Phase 1B records carry, per panel snapshot, three CPT labels, each on both outcomes
(`<label>_success`, `<label>_progress`):

- ELP_net: the phase-1 CPT, the patch in the prompt at every step of the rollout, the best
  route's gain over the placebo (a plug-in max over routes);
- ELP_net_xfit: the same, cross-fitted (route picked and gain measured on disjoint halves);
- ELP_first: the matched CPT (phase1b.matched_cpt), the snapshot's route patch at its own
  state only, then no patch, minus the placebo there, over the micro-training horizon and
  with its sample seeds: the same one-state intervention as micro-training, and the route
  is fixed by phase 1, so no max over noisy gains.

and the utility on both outcomes (`utility_success`, `utility_progress`). `estimand_report`
gives Spearman(label_o, utility_o) for every label and outcome, the agreement between the
success and progress versions of each, and the size of the mismatch (ELP_net vs ELP_first).
CIs resample trajectories (stats.clustered: up to three panel snapshots can share one)."""

from __future__ import annotations

import numpy as np

from ._util import rankdata
from .clustered import UNIT_TRAJECTORIES, cluster_bootstrap, snapshot_clusters

OUTCOMES = ("success", "progress")
LABELS = {
    "ELP_net": "phase-1 CPT: patch at every step, best route minus placebo (plug-in)",
    "ELP_net_xfit": "phase-1 CPT: patch at every step, cross-fitted",
    "ELP_first": "matched CPT (phase 1B): the route's patch at the snapshot's state only, minus placebo there",
}


def _spearman(x, y) -> float:
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(rankdata(x), rankdata(y))[0, 1])


def _sign_agreement(x, y) -> float:
    return float(np.mean(np.sign(x) == np.sign(y))) if len(x) else float("nan")


def _mean_diff(x, y) -> float:
    return float(np.mean(np.asarray(x) - np.asarray(y))) if len(x) else float("nan")


def _pairs(records: list[dict], kx: str, ky: str):
    rs = [r for r in records if r.get(kx) is not None and r.get(ky) is not None]
    return (rs, np.array([r[kx] for r in rs], dtype=float), np.array([r[ky] for r in rs], dtype=float))


def _stat(records, kx, ky, fn, seed, n_resamples, confidence) -> dict:
    rs, x, y = _pairs(records, kx, ky)
    if not rs:
        return {"x": kx, "y": ky, "n": 0, "value": None, "ci": None, "ci_unit": UNIT_TRAJECTORIES,
                "note": "no record carries both"}
    ci = cluster_bootstrap((x, y), snapshot_clusters(rs), fn, confidence=confidence, n_resamples=n_resamples,
                           seed=seed)
    v = fn(x, y)
    return {"x": kx, "y": ky, "n": len(rs), "n_clusters": ci.n_clusters,
            "value": None if not np.isfinite(v) else v,
            "ci": None if ci.low is None or not np.isfinite(ci.low) else [ci.low, ci.high],
            "ci_unit": ci.ci_unit, "note": ci.note or ("undefined (a constant variable)" if not np.isfinite(v) else "")}


def estimand_report(records: list[dict], seed: int, n_resamples: int = 2000, confidence: float = 0.95) -> dict:
    """Side by side, per CPT label and outcome: Spearman(label, utility) of that outcome;
    the success/progress agreement of each label and of the utility (Spearman and share of
    equal signs); and the mismatch between the all-steps and the matched CPT (Spearman,
    mean difference ELP_net - ELP_first). Labels a record does not carry (ELP_first with
    matched_cpt off, progress where the env cannot tell) are left out, with n = 0."""
    kw = dict(seed=seed, n_resamples=n_resamples, confidence=confidence)
    vs_utility = []
    for lab in LABELS:
        for o in OUTCOMES:
            row = _stat(records, f"{lab}_{o}", f"utility_{o}", _spearman, **kw)
            vals = [r[f"{lab}_{o}"] for r in records if r.get(f"{lab}_{o}") is not None]
            vs_utility.append({"label": lab, "outcome": o, "spearman": row.pop("value"), **row,
                               "mean_label": float(np.mean(vals)) if vals else None})
    agreement = []
    for key in [*LABELS, "utility"]:
        kx, ky = f"{key}_success", f"{key}_progress"
        sp = _stat(records, kx, ky, _spearman, **kw)
        sg = _stat(records, kx, ky, _sign_agreement, **kw)
        agreement.append({"variable": key, "n": sp["n"], "spearman": sp["value"], "spearman_ci": sp["ci"],
                          "sign_agreement": sg["value"], "sign_agreement_ci": sg["ci"], "ci_unit": sp["ci_unit"]})
    mismatch = []
    for o in OUTCOMES:
        kx, ky = f"ELP_net_{o}", f"ELP_first_{o}"
        sp = _stat(records, kx, ky, _spearman, **kw)
        md = _stat(records, kx, ky, _mean_diff, **kw)
        mismatch.append({"outcome": o, "n": sp["n"], "spearman": sp["value"], "spearman_ci": sp["ci"],
                         "mean_difference": md["value"], "mean_difference_ci": md["ci"], "ci_unit": sp["ci_unit"]})
    return {"labels": LABELS, "outcomes": list(OUTCOMES), "vs_utility": vs_utility, "agreement": agreement,
            "mismatch_all_steps_vs_first_step": mismatch,
            "bootstrap": {"n_resamples": n_resamples, "confidence": confidence, "seed": seed,
                          "method": "percentile, trajectories resampled"}}


def estimand_table(rep: dict) -> str:
    """The vs_utility rows as text lines (for the job's log)."""
    def f(v):
        return "  n/a" if v is None else f"{v:+.2f}"

    out = []
    for r in rep["vs_utility"]:
        ci = f" [{f(r['ci'][0])}, {f(r['ci'][1])}]" if r.get("ci") else ""
        out.append(f"Spearman({r['label']}_{r['outcome']}, utility_{r['outcome']}) = {f(r['spearman'])}{ci} "
                   f"n={r['n']}")
    return "\n".join(out)

"""Validity of the CPT labels (phase 1B, docs/design.md §7): the correlation of the decision
label with micro-training utility, overall and per quadrant, and the cpt_spearman gate
record. Torch-free.

The x variable is the decision label ELP_net_xfit (cross-fitted; labeling.decision); the
plug-in ELP_net is reported beside it (`overall_plugin`). The CIs resample trajectories (the
snapshots of one phase-0 trajectory together: `ci_unit` trajectories), not snapshots."""

from __future__ import annotations

import numpy as np

from ..stats.clustered import UNIT_TRAJECTORIES, clusters_of, cluster_weights
from ..stats.correlation import correlation
from ..vocab import QUADRANTS
from .decision import DECISION_ELP, PLUGIN_ELP, decision_elp


def _outcome(records: list[dict]) -> str:
    """The outcome the utilities measure (labeling.outcome of phase 1B; success in records
    written before the progress outcome existed)."""
    kinds = sorted({r.get("utility_outcome", "success") for r in records})
    return ",".join(kinds) if kinds else "success"


def correlation_report(records: list[dict], seed: int, threshold: float, n_resamples: int = 9999,
                       confidence: float = 0.95) -> dict:
    """ELP_net_xfit vs utility overall and per quadrant (CIs over trajectories), the plug-in
    ELP_net's correlation beside it, mean utility per quadrant (CI over trajectories), and the
    cpt_spearman gate {name, value, ci, threshold, passed}."""
    def xy(rs, key=DECISION_ELP):
        return [decision_elp(r) if key == DECISION_ELP else r[key] for r in rs], [r["utility"] for r in rs]

    def cl(rs):
        return clusters_of([r["snapshot_id"] for r in rs])

    kw = dict(seed=seed, n_resamples=n_resamples, confidence=confidence)
    overall = correlation(*xy(records), clusters=cl(records), **kw)
    overall_plugin = correlation(*xy(records, PLUGIN_ELP), clusters=cl(records), **kw) \
        if all(isinstance(r.get(PLUGIN_ELP), (int, float)) for r in records) else None
    per_q, mean_u = {}, {}
    for q in QUADRANTS:
        rs = [r for r in records if r["quadrant"] == q]
        per_q[q] = correlation(*xy(rs), clusters=cl(rs) if rs else None, **kw)
        u = np.array([r["utility"] for r in rs], float)
        ci = None
        if u.size:
            w = cluster_weights(cl(rs), min(n_resamples, 4000), seed)
            d = (w @ u) / w.sum(axis=1)
            a = (1 - confidence) / 2
            lo, hi = np.quantile(d, [a, 1 - a])
            ci = {"point": float(u.mean()), "low": float(lo), "high": float(hi), "confidence": confidence,
                  "method": "percentile", "ci_unit": UNIT_TRAJECTORIES}
        mean_u[q] = {"n": int(u.size), "mean": float(u.mean()) if u.size else None, "ci": ci}
    sp = overall["spearman"]
    value = sp["r"]
    ci = [sp["ci"]["low"], sp["ci"]["high"]] if sp.get("ci") else None
    gate = {"name": "cpt_spearman", "value": value, "ci": ci, "threshold": threshold,
            "passed": bool(value is not None and value >= threshold), "n": overall["n"],
            "ci_unit": UNIT_TRAJECTORIES,
            "rule": "Spearman(ELP_net_xfit, micro-training utility) >= threshold (point estimate)"}
    if value is None:
        gate["note"] = sp["note"]
    u_all = [r["utility"] for r in records]
    return {
        "x": DECISION_ELP, "y": f"utility ({_outcome(records)} after - before)", "overall": overall,
        "overall_plugin": overall_plugin, "x_plugin": PLUGIN_ELP,
        "per_quadrant": per_q,
        "mean_utility_per_quadrant": mean_u,
        "utility_distribution": {
            "n": len(u_all), "mean": float(np.mean(u_all)) if u_all else None,
            "share_positive": float(np.mean([u > 0 for u in u_all])) if u_all else None,
            "share_zero": float(np.mean([u == 0 for u in u_all])) if u_all else None,
            "share_negative": float(np.mean([u < 0 for u in u_all])) if u_all else None,
            "quantiles": {str(q): float(np.quantile(u_all, q)) for q in (0, 0.25, 0.5, 0.75, 1)} if u_all else None,
        },
        "gate": gate, "bootstrap": {"n_resamples": n_resamples, "confidence": confidence, "seed": seed,
                                    "paired": True, "method": "percentile over trajectories (cluster bootstrap)",
                                    "ci_unit": UNIT_TRAJECTORIES},
    }

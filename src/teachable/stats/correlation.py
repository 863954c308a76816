"""Correlation of CPT labels with micro-training utility (docs/design.md §7): Pearson and
Spearman with bootstrap CIs, per quadrant, and the cpt_spearman gate record. Torch-free.

The x variable is the decision label ELP_net_xfit (cross-fitted; labeling.decision); the
plug-in ELP_net is reported beside it (`overall_plugin`). The CIs resample trajectories (the
snapshots of one phase-0 trajectory together: `ci_unit` trajectories), not snapshots."""

from __future__ import annotations

import numpy as np
from scipy import stats as sstats

from ..vocab import QUADRANTS
from ..labeling.decision import DECISION_ELP, PLUGIN_ELP, decision_elp
from .bootstrap import bootstrap_samples
from .clustered import UNIT_TRAJECTORIES, cluster_bootstrap, clusters_of, cluster_weights

def _pearson(x, y, axis=-1):
    x = x - x.mean(axis=axis, keepdims=True)
    y = y - y.mean(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (x * y).sum(axis=axis) / np.sqrt((x * x).sum(axis=axis) * (y * y).sum(axis=axis))
    return r


def _spearman(x, y, axis=-1):
    return _pearson(sstats.rankdata(x, axis=axis), sstats.rankdata(y, axis=axis), axis=axis)


def _defined(fn):
    """Resamples where a variable is constant have no correlation; they count as 0 (no
    detectable association). Their share is reported next to the CI."""
    def stat(x, y, axis=-1):
        return np.nan_to_num(fn(x, y, axis=axis), nan=0.0)
    return stat


def _undefined_share(x, y, n_resamples: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_resamples, len(x)))
    xs, ys = x[idx], y[idx]
    return float(np.mean((np.ptp(xs, axis=1) == 0) | (np.ptp(ys, axis=1) == 0)))


def correlation(x, y, seed: int = 0, n_resamples: int = 9999, confidence: float = 0.95, clusters=None) -> dict:
    """Pearson and Spearman of (x, y) with paired bootstrap CIs (teachable.stats) and
    scipy's p-values. A correlation that is undefined on the data (n < 3 or a constant
    variable) is null. With `clusters` (one label per pair) the CI resamples clusters
    (percentile; ci_unit trajectories), else pairs (BCa; ci_unit snapshots)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    out = {"n": int(len(x))}
    defined = len(x) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0
    if not defined:
        why = "fewer than 3 pairs" if len(x) < 3 else "a variable is constant"
        for name in ("pearson", "spearman"):
            out[name] = {"r": None, "p_value": None, "ci": None, "note": f"undefined: {why}"}
        return out
    share = _undefined_share(x, y, min(n_resamples, 4000), seed)
    for name, fn, test in (("pearson", _pearson, sstats.pearsonr), ("spearman", _spearman, sstats.spearmanr)):
        if clusters is not None:
            ci = cluster_bootstrap((x, y), clusters, lambda a, b, fn=fn: float(_defined(fn)(a, b)),
                                   n_resamples=min(n_resamples, 4000), seed=seed, confidence=confidence).to_dict()
        else:
            ci = {**bootstrap_samples((x, y), _defined(fn), paired=True, n_resamples=n_resamples, seed=seed,
                                      confidence=confidence).to_dict(), "ci_unit": "snapshots"}
        res = test(x, y)
        out[name] = {"r": float(fn(x, y)), "p_value": float(res.pvalue), "ci": ci,
                     "undefined_resample_share": share}
    return out


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

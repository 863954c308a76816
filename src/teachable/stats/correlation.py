"""Correlation of CPT labels with micro-training utility (docs/design.md §7): Pearson and
Spearman with paired bootstrap CIs, per quadrant, and the cpt_spearman gate record. Torch-free."""

from __future__ import annotations

import numpy as np
from scipy import stats as sstats

from ..labeling.quadrants import QUADRANTS
from .bootstrap import bootstrap_ci, bootstrap_samples

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


def correlation(x, y, seed: int = 0, n_resamples: int = 9999, confidence: float = 0.95) -> dict:
    """Pearson and Spearman of (x, y) with paired bootstrap CIs (teachable.stats) and
    scipy's p-values. A correlation that is undefined on the data (n < 3 or a constant
    variable) is null."""
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
        ci = bootstrap_samples((x, y), _defined(fn), paired=True, n_resamples=n_resamples, seed=seed,
                               confidence=confidence)
        res = test(x, y)
        out[name] = {"r": float(fn(x, y)), "p_value": float(res.pvalue), "ci": ci.to_dict(),
                     "undefined_resample_share": share}
    return out


def _outcome(records: list[dict]) -> str:
    """The outcome the utilities measure (labeling.outcome of phase 1B; success in records
    written before the progress outcome existed)."""
    kinds = sorted({r.get("utility_outcome", "success") for r in records})
    return ",".join(kinds) if kinds else "success"


def correlation_report(records: list[dict], seed: int, threshold: float, n_resamples: int = 9999,
                       confidence: float = 0.95) -> dict:
    """ELP_net vs utility overall and per quadrant, mean utility per quadrant (bootstrap
    CI), and the cpt_spearman gate {name, value, ci, threshold, passed}."""
    def xy(rs):
        return [r["ELP_net"] for r in rs], [r["utility"] for r in rs]

    overall = correlation(*xy(records), seed=seed, n_resamples=n_resamples, confidence=confidence)
    per_q, mean_u = {}, {}
    for q in QUADRANTS:
        rs = [r for r in records if r["quadrant"] == q]
        per_q[q] = correlation(*xy(rs), seed=seed, n_resamples=n_resamples, confidence=confidence)
        u = [r["utility"] for r in rs]
        mean_u[q] = {"n": len(u), "mean": float(np.mean(u)) if u else None,
                     "ci": bootstrap_ci(u, "mean", seed=seed, n_resamples=n_resamples,
                                        confidence=confidence).to_dict() if u else None}
    sp = overall["spearman"]
    value = sp["r"]
    ci = [sp["ci"]["low"], sp["ci"]["high"]] if sp.get("ci") else None
    gate = {"name": "cpt_spearman", "value": value, "ci": ci, "threshold": threshold,
            "passed": bool(value is not None and value >= threshold), "n": overall["n"],
            "rule": "Spearman(ELP_net, micro-training utility) >= threshold (point estimate)"}
    if value is None:
        gate["note"] = sp["note"]
    u_all = [r["utility"] for r in records]
    return {
        "x": "ELP_net", "y": f"utility ({_outcome(records)} after - before)", "overall": overall,
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
                                    "paired": True, "method": "BCa (percentile when BCa is undefined)"},
    }

"""Pearson and Spearman correlation with bootstrap CIs (paired, or over clusters) and
scipy's p-values. Torch-free. The CPT labels' report built on it (per quadrant, the
cpt_spearman gate) is teachable.labeling.validity."""

from __future__ import annotations

import numpy as np
from scipy import stats as sstats

from .bootstrap import bootstrap_samples
from ._util import rankdata
from .clustered import cluster_bootstrap

def _pearson(x, y, axis=-1):
    x = x - x.mean(axis=axis, keepdims=True)
    y = y - y.mean(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (x * y).sum(axis=axis) / np.sqrt((x * x).sum(axis=axis) * (y * y).sum(axis=axis))
    return r


def _spearman(x, y, axis=-1):
    return _pearson(rankdata(x, axis=axis), rankdata(y, axis=axis), axis=axis)


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

"""Label reliability (docs/labeling.md): a seeded subset of the labeled snapshots is
rolled out again with an independent master seed; the test-retest Spearman of every label
and the quadrant agreement (Cohen's kappa) say how much of a label is signal."""

from __future__ import annotations

import copy
import math

import numpy as np
from scipy.stats import spearmanr

from ..io import derive_seed, hash_fraction
from ..stats import bootstrap_samples
from ..stats._util import rankdata
from ..vocab import QUADRANTS, RATE_CONDITIONS
from .quadrants import quadrant

# headline labels (from labeling.outcome), the other outcome's (reported where present),
# success rates and mean progress per condition
_HEAD = ("L_local", "L_local_plugin", "L_upper", "ELP_net", "ELP_net_xfit")
BY_N_LABELS = _HEAD + tuple(f"{k}{s}" for s in ("_success", "_progress") for k in _HEAD)
LABELS = BY_N_LABELS + tuple(f"{p}{c}" for p in ("p_", "prog_") for c in RATE_CONDITIONS)
ROLLOUT_KEYS = ("p_", "prog_", "n_", "L_", "gain_", "ELP", "route", "d_", "quadrant", "rollout_", "label_outcome")


def retest_seed(seed: int) -> int:
    """The independent master seed of the relabel (a new stream for every rollout)."""
    return derive_seed(seed, "label_reliability")


def subset(snaps: list[dict], n: int, share: float, seed: int) -> list[dict]:
    """max(n, ceil(share * N)) snapshots (all if fewer), ranked by a seeded hash of the id."""
    k = min(len(snaps), max(n, math.ceil(share * len(snaps))))
    ranked = sorted(snaps, key=lambda s: hash_fraction(s["snapshot_id"], salt=f"reliability{seed}"))
    return sorted(ranked[:k], key=lambda s: s["snapshot_id"])


def fresh_copy(s: dict) -> dict:
    """The snapshot without its rollout labels (U and the teacher answer are kept: both are
    deterministic given the student and the state, and the teacher may cost money)."""
    return {k: copy.deepcopy(v) for k, v in s.items() if not k.startswith(ROLLOUT_KEYS)}


def cohen_kappa(a: list[str], b: list[str], categories=QUADRANTS) -> float | None:
    """(p_o - p_e) / (1 - p_e); None when p_e = 1 (one category only)."""
    a, b = np.asarray(a), np.asarray(b)
    po = float(np.mean(a == b))
    pe = float(sum(np.mean(a == c) * np.mean(b == c) for c in categories))
    return None if pe >= 1 else (po - pe) / (1 - pe)


def _spearman(x, y) -> float | None:
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None  # constant: rank correlation undefined
    return float(spearmanr(x, y).statistic)


def _spearman_vec(x, y, axis=-1):
    """Spearman along `axis` (vectorized for the bootstrap): Pearson of the ranks. A
    resample where one side is constant has no rank correlation; it counts as 0."""
    rx, ry = rankdata(x, axis=axis), rankdata(y, axis=axis)
    rx = rx - rx.mean(axis=axis, keepdims=True)
    ry = ry - ry.mean(axis=axis, keepdims=True)
    den = np.sqrt((rx**2).sum(axis=axis) * (ry**2).sum(axis=axis))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (rx * ry).sum(axis=axis) / den
    return np.where(den > 0, r, 0.0)


def spearman_ci(x, y, confidence: float = 0.95, n_resamples: int = 1999, seed: int = 0,
                clusters=None) -> dict | None:
    """One-sided lower confidence bound of the test-retest Spearman: percentile bootstrap
    over snapshots (pairs resampled together), or with `clusters` (one trajectory label per
    pair) over trajectories; None when a side is constant."""
    if _spearman(x, y) is None:
        return None
    if clusters is not None:
        from ..stats.clustered import cluster_bootstrap

        res, draws = cluster_bootstrap((np.asarray(x, float), np.asarray(y, float)), clusters,
                                       lambda a, b: float(_spearman_vec(a, b)), n_resamples=n_resamples, seed=seed,
                                       keep_draws=True)
        low = float(np.quantile(draws, 1 - confidence)) if draws.size else None
        return {"point": res.point, "low": low, "high": None, "confidence": confidence, "method": "percentile",
                "alternative": "greater", "n": res.n, "n_clusters": res.n_clusters, "ci_unit": res.ci_unit,
                "n_resamples": n_resamples, "seed": seed, "note": res.note}
    ci = bootstrap_samples((np.asarray(x, float), np.asarray(y, float)), _spearman_vec, paired=True,
                           confidence=confidence, method="percentile", alternative="greater",
                           n_resamples=n_resamples, seed=seed)
    return ci.to_dict()


def by_n(pairs: list[tuple[dict, dict]], n_rollouts: int, confidence: float = 0.95, n_resamples: int = 1999,
         seed: int = 0) -> dict | None:
    """Test-retest Spearman (and its one-sided lower bound) of the labels computed from the
    first k rollouts of both labelings, k = 2, 4, ... n: what a smaller n_rollouts would
    have given, at no extra cost (stream j does not depend on n). None without outcomes."""
    from .branches import labels_at_n

    if not pairs or not all("rollout_outcomes" in a and "rollout_outcomes" in b for a, b in pairs):
        return None
    cl = _clusters(pairs)
    out = {}
    for k in range(2, n_rollouts + 1, 2):
        la = [labels_at_n(a, k) for a, _ in pairs]
        lb = [labels_at_n(b, k) for _, b in pairs]
        row = {}
        for lab in BY_N_LABELS:
            if all(x.get(lab) is not None for x in la + lb):
                x, y = [d[lab] for d in la], [d[lab] for d in lb]
                ci = spearman_ci(x, y, confidence, n_resamples, seed, cl)
                row[lab] = {"spearman": _spearman(x, y), "low": ci["low"] if ci else None}
        out[str(k)] = row
    return out


def _clusters(pairs: list[tuple[dict, dict]]):
    """Trajectory labels of the pairs (snapshots of one trajectory are resampled together)."""
    from ..stats.clustered import snapshot_clusters

    return snapshot_clusters([a for a, _ in pairs]) if pairs else None


def report(first: list[dict], second: list[dict], th: dict, mins: dict, n_rollouts: int, horizon: int,
           confidence: float = 0.95, n_resamples: int = 1999, seed: int = 0) -> dict:
    """Test-retest statistics; quadrants of the retest use the main run's thresholds.

    The gate is a statement about the one-sided `confidence` lower bound of each listed
    label's Spearman (bootstrap over snapshots): passed when every lower bound >= its
    threshold, so a small relabel subset cannot pass on a lucky point estimate."""
    by = {s["snapshot_id"]: s for s in second}
    pairs = [(s, by[s["snapshot_id"]]) for s in first]
    rho = {k: _spearman([a[k] for a, _ in pairs], [b[k] for _, b in pairs]) for k in LABELS
           if all(a.get(k) is not None and b.get(k) is not None for a, b in pairs)}
    qa = [a["quadrant"] for a, _ in pairs]
    qb = [quadrant(b["U"], b["L_local"], th) for _, b in pairs]
    kappa = cohen_kappa(qa, qb)
    cl = _clusters(pairs)
    cis = {k: spearman_ci([a[k] for a, _ in pairs], [b[k] for _, b in pairs], confidence, n_resamples, seed, cl)
           if k in rho else None for k in mins}
    ok = all(cis[k] is not None and cis[k]["low"] >= v for k, v in mins.items())
    gate = {"name": "label_reliability", "value": rho.get("L_local"), "threshold": mins, "passed": ok,
            "spearman": {k: rho.get(k) for k in mins}, "ci": cis.get("L_local"), "spearman_ci": cis,
            "n": len(pairs), "ci_unit": "trajectories" if cl is not None else "snapshots",
            "rule": f"one-sided {confidence:.0%} bootstrap lower bound of the test-retest Spearman >= threshold "
                    "for every listed label"}
    return {"n_snapshots": len(pairs), "n_rollouts": n_rollouts, "horizon": horizon, "spearman": rho,
            "spearman_by_n": by_n(pairs, n_rollouts, confidence, n_resamples, seed),
            "quadrant_agreement": float(np.mean(np.array(qa) == np.array(qb))) if pairs else None,
            "quadrant_kappa": kappa,
            "mean_abs_diff": {k: float(np.mean([abs(a[k] - b[k]) for a, b in pairs])) for k in rho},
            "snapshot_ids": [a["snapshot_id"] for a, _ in pairs], "gate": gate}

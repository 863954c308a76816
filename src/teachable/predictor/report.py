"""Held-out evaluation of the predictor against an entropy-only and a random baseline,
and the phase-4 gates (each with a paired bootstrap CI over held-out snapshots).

Baselines (all fitted on the training snapshots only):
- entropy: rank by U; L_local and ELP_net by a least-squares line on U; quadrant by the
  best single threshold on U (a decision stump: majority quadrant on each side).
- random: expected values of a uniformly random ranking (a constant score, ties averaged:
  P@K = share of relevant snapshots, NDCG@K = mean gain x sum of discounts / ideal DCG,
  Spearman = 0); quadrant accuracy of guessing with the training class frequencies
  (sum_q p_train(q) p_heldout(q)); no R^2 (a random guess has no regression output).

Quadrants are cut on U x L_local and U is an input, so the U half of the quadrant is
nearly free; `quadrant_L_side_accuracy` (is the predicted quadrant on the right side of
the L cut?) is the part that must actually be predicted."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..stats import bootstrap_samples
from ..stats.clustered import cluster_bootstrap, snapshot_clusters
from ..vocab import QUADRANTS
from .metrics import accuracy, ndcg_at_k, precision_at_k, r2, r2_report, ranking_report
from .model import ELP_TARGET, REG_TARGETS

HIGH_L = {QUADRANTS[0], QUADRANTS[3]}  # Q1_highU_highL, Q4_lowU_highL


def _l_side(q: list[str]) -> list[bool]:
    return [x in HIGH_L for x in q]


def entropy_fit(train: list[dict]) -> dict:
    """Least-squares lines of each regression target on U, and a quadrant stump on U."""
    u = np.array([s["U"] for s in train], dtype=float)
    lines = {}
    for t in REG_TARGETS:
        y = np.array([s[t] for s in train], dtype=float)
        if np.ptp(u) > 0:
            slope, icpt = np.polyfit(u, y, 1)
        else:
            slope, icpt = 0.0, float(y.mean())
        lines[t] = (float(slope), float(icpt))
    q = np.array([s["quadrant"] for s in train])
    cuts = np.unique(u)
    cands = [-np.inf] + list((cuts[:-1] + cuts[1:]) / 2)
    best = None
    for c in cands:
        sides = {}
        acc = 0
        for name, m in (("low", u <= c), ("high", u > c)):
            if m.any():
                labels, counts = np.unique(q[m], return_counts=True)
                sides[name] = str(labels[np.argmax(counts)])  # ties: first in sorted order
                acc += int(counts.max())
            else:
                sides[name] = None
        if best is None or acc > best[0]:
            best = (acc, float(c), sides)
    fallback = best[2]["high"] or best[2]["low"]
    return {"lines": lines, "stump": {"threshold": best[1], "low": best[2]["low"] or fallback,
                                      "high": best[2]["high"] or fallback}}


def entropy_predict(fit: dict, snaps: list[dict]) -> dict:
    u = np.array([s["U"] for s in snaps], dtype=float)
    out = {t: a * u + b for t, (a, b) in fit["lines"].items()}
    st = fit["stump"]
    out["quadrant"] = [st["high"] if x > st["threshold"] else st["low"] for x in u]
    return out


def _quadrant_prior_accuracy(train: list[dict], heldout: list[dict]) -> float | None:
    if not heldout:
        return None
    pt = np.array([np.mean([s["quadrant"] == q for s in train]) for q in QUADRANTS])
    ph = np.array([np.mean([s["quadrant"] == q for s in heldout]) for q in QUADRANTS])
    return float((pt * ph).sum())


def method_metrics(heldout: list[dict], score, reg_pred: dict | None, quad_pred: list[str] | None,
                   k_values: list[int], input_names: list[str]) -> dict:
    y = np.array([s[ELP_TARGET] for s in heldout], dtype=float)
    m = ranking_report(y, np.asarray(score, dtype=float), k_values)
    if reg_pred is not None:
        m.update(r2_report({t: [s[t] for s in heldout] for t in REG_TARGETS},
                           {t: reg_pred[t] for t in REG_TARGETS}, input_names))
    else:
        m.update({f"R2_{t}": None for t in REG_TARGETS})
    truth = [s["quadrant"] for s in heldout]
    m["quadrant_accuracy"] = accuracy(truth, quad_pred) if quad_pred is not None else None
    m["quadrant_L_side_accuracy"] = accuracy(_l_side(truth), _l_side(quad_pred)) if quad_pred is not None else None
    return m


def heldout_metrics(model_pred: dict, train: list[dict], heldout: list[dict], k_values: list[int],
                    input_names: list[str]) -> dict:
    """metrics -> {"model"|"entropy"|"random"} -> {P@K, NDCG@K, spearman, R2_*, quadrant_accuracy, ...}."""
    ent = entropy_predict(entropy_fit(train), heldout)
    u = [s["U"] for s in heldout]
    rnd = method_metrics(heldout, np.zeros(len(heldout)), None, None, k_values, input_names)
    rnd["spearman"] = 0.0  # expected rank correlation of a random ranking
    rnd["quadrant_accuracy"] = _quadrant_prior_accuracy(train, heldout)
    return {
        "model": method_metrics(heldout, model_pred[ELP_TARGET], model_pred, model_pred["quadrant"], k_values,
                                input_names),
        "entropy": method_metrics(heldout, u, ent, ent["quadrant"], k_values, input_names),
        "random": rnd,
    }


def _diff_stat(metric: Callable, vs_zero: bool = False) -> Callable:
    """Vectorised statistic metric(y, a) - metric(y, b) (or metric(y, a) alone when
    `vs_zero`) for scipy's bootstrap; an undefined metric (None: e.g. NDCG with no positive
    ELP_net in a resample) counts as a tie (0) in a difference and as NaN alone."""

    def one(y, a, b):
        ma = metric(y, a)
        if vs_zero:
            return np.nan if ma is None else ma
        mb = metric(y, b)
        return 0.0 if ma is None or mb is None else ma - mb

    def stat(y, a, b, axis=-1):
        lead = np.shape(y)[:-1]
        rows = zip(*(np.asarray(v, dtype=float).reshape(-1, np.shape(v)[-1]) for v in (y, a, b)))
        vals = np.array([one(*row) for row in rows], dtype=float)
        return vals.reshape(lead) if lead else float(vals[0])

    return stat


def paired_gate(name: str, metric: Callable, y, a, b, threshold: float, n_resamples: int, seed: int,
                confidence: float = 0.95, clusters=None) -> dict:
    """Gate on metric(model) - metric(baseline) > threshold (b = None: metric(model) >
    threshold) with a paired percentile bootstrap CI over held-out snapshots, or with
    `clusters` (one trajectory label per snapshot) over held-out trajectories."""
    vs_zero = b is None
    y, a = np.asarray(y, dtype=float), np.asarray(a, dtype=float)
    b = a if vs_zero else np.asarray(b, dtype=float)
    stat = _diff_stat(metric, vs_zero)
    point = float(stat(y, a, b))
    ok = bool(np.isfinite(point) and point > threshold)
    rec = {"name": name, "value": point if np.isfinite(point) else None, "threshold": float(threshold), "passed": ok}
    if y.size >= 2 and clusters is not None:
        ci = cluster_bootstrap((y, a, b), clusters, stat, confidence=confidence, n_resamples=n_resamples, seed=seed)
        rec["ci"] = ci.to_dict()
        rec["ci_unit"] = ci.ci_unit
        rec["ci_excludes_threshold"] = bool(ci.low > threshold) if ci.low is not None and np.isfinite(ci.low) else False
    elif y.size >= 2:
        ci = bootstrap_samples((y, a, b), stat, paired=True, method="percentile",
                               confidence=confidence, n_resamples=n_resamples, seed=seed)
        rec["ci"] = ci.to_dict()
        rec["ci_unit"] = "snapshots"
        rec["ci_excludes_threshold"] = bool(ci.low > threshold) if np.isfinite(ci.low) else False
    return rec


def phase4_gates(model_pred: dict, heldout: list[dict], k_values: list[int], gcfg: dict, seed: int) -> list[dict]:
    y = np.array([s[ELP_TARGET] for s in heldout], dtype=float)
    score = np.asarray(model_pred[ELP_TARGET], dtype=float)
    u = np.array([s["U"] for s in heldout], dtype=float)
    const = np.zeros_like(y)
    cl = snapshot_clusters(heldout)
    n_res, margin = int(gcfg["bootstrap_resamples"]), float(gcfg["gate_margin"])
    gates = []
    for k in k_values:
        gates.append(paired_gate(f"predictor_beats_entropy_NDCG@{k}", lambda yy, s: ndcg_at_k(yy, s, k),
                                 y, score, u, margin, n_res, seed, clusters=cl))
        gates.append(paired_gate(f"predictor_beats_random_P@{k}", lambda yy, s: precision_at_k(yy, s, k),
                                 y, score, const, margin, n_res, seed, clusters=cl))
    # held-out R^2 > 0: better than predicting the held-out mean
    gates.append(paired_gate(f"predictor_R2_{ELP_TARGET}_positive", r2, y, score, None, 0.0, n_res, seed, clusters=cl))
    return gates

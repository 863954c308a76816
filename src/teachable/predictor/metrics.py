"""Ranking and regression metrics of the predictor (definitions in docs/predictor.md).

Ranking: held-out snapshots are ranked by a score (predicted ELP_net, U, ...) and judged
against the true ELP_net.

- **relevant@K**: a snapshot is relevant when its true ELP_net > 0 *or* it is in the true
  top-K (ELP_net >= the K-th largest true ELP_net; ties at that value all count). With at
  least K positive snapshots this is "the patch helps"; with fewer it is the true top-K.
  A perfect ranking therefore always has P@K = 1.
- **P@K** = share of the K highest-scored snapshots that are relevant@K.
- **NDCG@K** = DCG@K / ideal DCG@K with gain = max(ELP_net, 0) and discount
  1/log2(rank + 1); undefined (None) when no snapshot has ELP_net > 0.
- **Ties in the score** are averaged: P@K and DCG@K are their expected values over all
  orders of tied snapshots (as sklearn's `ndcg_score(ignore_ties=False)`), so no arbitrary
  tie-break (e.g. by id) can flatter a method. A constant score gives exactly the
  expected value of a uniformly random ranking, which is how the random baseline is
  computed.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from ..io import InputError


def _arrays(y_true, score) -> tuple[np.ndarray, np.ndarray]:
    y, s = np.asarray(y_true, dtype=float), np.asarray(score, dtype=float)
    if y.shape != s.shape or y.ndim != 1:
        raise InputError(f"ranking metrics need two 1-D arrays of equal length, got {y.shape} and {s.shape}")
    if y.size == 0:
        raise InputError("ranking metrics: no snapshots")
    return y, s


def _tie_groups(score: np.ndarray) -> list[np.ndarray]:
    """Indices grouped by equal score, groups in decreasing score order."""
    order = np.argsort(-score, kind="stable")
    s = score[order]
    cuts = np.flatnonzero(np.diff(s) != 0) + 1
    return np.split(order, cuts)


def _effective_k(k: int, n: int) -> int:
    if k < 1:
        raise InputError(f"K must be >= 1, got {k}")
    return min(int(k), n)


def relevant_at_k(y_true, k: int) -> np.ndarray:
    y = np.asarray(y_true, dtype=float)
    k = _effective_k(k, y.size)
    vk = np.sort(y)[::-1][k - 1]
    return (y > 0) | (y >= vk)


def _expected_topk(score: np.ndarray, k: int, per_item: np.ndarray, discount: bool) -> float:
    """Expected sum over the top-k positions of per_item (times the rank discount) when
    ties in `score` are ordered uniformly at random."""
    total, pos = 0.0, 0
    for g in _tie_groups(score):
        a, b = pos, pos + g.size
        pos = b
        if a >= k:
            break
        slots = np.arange(a, min(b, k))
        weight = float((1.0 / np.log2(slots + 2)).sum()) if discount else float(slots.size)
        total += float(per_item[g].mean()) * weight
    return total


def precision_at_k(y_true, score, k: int) -> float:
    y, s = _arrays(y_true, score)
    k = _effective_k(k, y.size)
    return _expected_topk(s, k, relevant_at_k(y, k).astype(float), discount=False) / k


def ndcg_at_k(y_true, score, k: int) -> float | None:
    y, s = _arrays(y_true, score)
    k = _effective_k(k, y.size)
    gain = np.clip(y, 0.0, None)
    ideal = float((np.sort(gain)[::-1][:k] / np.log2(np.arange(k) + 2)).sum())
    if ideal <= 0:
        return None
    return _expected_topk(s, k, gain, discount=True) / ideal


def spearman(y_true, score) -> float | None:
    y, s = _arrays(y_true, score)
    if y.size < 3 or np.ptp(y) == 0 or np.ptp(s) == 0:
        return None
    return float(stats.spearmanr(y, s).statistic)


def r2(y_true, y_pred) -> float | None:
    """Coefficient of determination on held-out data (1 - SS_res / SS_tot; can be < 0)."""
    y, p = _arrays(y_true, y_pred)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    if ss_tot <= 0:
        return None
    return 1.0 - float(((y - p) ** 2).sum()) / ss_tot


def r2_report(y_true: dict, y_pred: dict, input_names: list[str]) -> dict:
    """{"R2_<target>": value} for each target; a target that is also an input (or whose
    name appears among the input feature names) is refused: its R^2 would be meaningless."""
    inputs = {n.split(".", 1)[-1] for n in input_names} | set(input_names)
    bad = sorted(t for t in y_true if t in inputs)
    if bad:
        raise InputError(f"R^2 requested for {', '.join(bad)}, which is also a predictor input: "
                         "never report R^2 of an input")
    return {f"R2_{t}": r2(y_true[t], y_pred[t]) for t in y_true}


def ranking_report(y_true, score, k_values: list[int]) -> dict:
    out: dict = {"spearman": spearman(y_true, score)}
    for k in k_values:
        out[f"P@{k}"] = precision_at_k(y_true, score, k)
        out[f"NDCG@{k}"] = ndcg_at_k(y_true, score, k)
    return out


def accuracy(y_true: list, y_pred: list) -> float | None:
    if len(y_true) == 0:
        return None
    return float(np.mean([a == b for a, b in zip(y_true, y_pred, strict=True)]))


def finite_or_none(x) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)

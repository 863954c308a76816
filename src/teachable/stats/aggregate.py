"""Aggregates over a tasks x seeds score matrix (Agarwal et al. 2021 style):
interquartile mean (IQM) and probability of improvement, each with a bootstrap CI
stratified by task (seeds are resampled within each task, never across tasks)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import stats

from ..io import InputError
from .bootstrap import CI, bootstrap_samples


def iqm(x: Sequence[float] | np.ndarray, axis=None) -> float | np.ndarray:
    """Interquartile mean: mean of the middle 50% (scipy.stats.trim_mean(x, 0.25))."""
    return stats.trim_mean(np.asarray(x, dtype=float), 0.25, axis=axis)


def _rows(scores, label: str) -> list[np.ndarray]:
    """A tasks x seeds matrix (or a ragged list of per-task score lists) as row arrays."""
    if isinstance(scores, np.ndarray) and scores.ndim == 1:
        scores = [scores]
    rows = [np.asarray(r, dtype=float).reshape(-1) for r in scores]
    if not rows or any(r.size == 0 for r in rows):
        raise InputError(f"{label}: every task needs at least one score")
    for i, r in enumerate(rows):
        if not np.all(np.isfinite(r)):
            raise InputError(f"{label}: task {i} has non-finite scores")
    return rows


_AGG = {
    "iqm": lambda x, axis=-1: stats.trim_mean(x, 0.25, axis=axis),
    "mean": lambda x, axis=-1: np.mean(x, axis=axis),
    "median": lambda x, axis=-1: np.median(x, axis=axis),
}


def aggregate_ci(
    scores,
    statistic: str = "iqm",
    *,
    confidence: float = 0.95,
    method: str = "BCa",
    n_resamples: int = 9999,
    seed: int | None = 0,
) -> CI:
    """IQM (or mean/median) of all scores pooled over tasks, with a task-stratified
    bootstrap CI. `scores`: tasks x seeds (array or list of per-task lists)."""
    if statistic not in _AGG:
        raise InputError(f"unknown aggregate '{statistic}' ({', '.join(_AGG)})")
    rows = _rows(scores, "scores")
    f = _AGG[statistic]

    def stat(*task_rows, axis=-1):
        return f(np.concatenate(task_rows, axis=axis), axis=axis)

    return bootstrap_samples(rows, stat, confidence=confidence, method=method,
                             n_resamples=n_resamples, seed=seed)


def probability_of_improvement(
    candidate,
    control,
    *,
    confidence: float = 0.95,
    method: str = "BCa",
    n_resamples: int = 9999,
    seed: int | None = 0,
) -> CI:
    """P(X > Y) + 0.5 P(X = Y) per task (Mann-Whitney U / (n m)), averaged over tasks;
    X = candidate, Y = control. CI from a bootstrap stratified by task and group."""
    xs, ys = _rows(candidate, "candidate"), _rows(control, "control")
    if len(xs) != len(ys):
        raise InputError(f"candidate has {len(xs)} tasks, control {len(ys)}")
    t = len(xs)

    def stat(*rows, axis=-1):
        vals = []
        for x, y in zip(rows[:t], rows[t:]):
            gt = (x[..., :, None] > y[..., None, :]).mean(axis=(-1, -2))
            eq = (x[..., :, None] == y[..., None, :]).mean(axis=(-1, -2))
            vals.append(gt + 0.5 * eq)
        return np.mean(vals, axis=0)

    return bootstrap_samples([*xs, *ys], stat, confidence=confidence, method=method,
                             n_resamples=n_resamples, seed=seed)

"""Learning-curve summaries from metrics.jsonl rows.

Every compared run is summarised over the same step window [start, end]:
- auc:   trapezoid area under the curve over the window divided by its length (so it is
         the window's average value); values at the window edges are linearly
         interpolated between the neighbouring logged points;
- final: mean of the last k logged points with start <= step <= end;
- slope: least-squares slope (per step) of the points inside the window.
A window outside a run's logged steps is an error (no extrapolation), and so is a NaN:
both name the run."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
from scipy import stats
from scipy.integrate import trapezoid

from ..io import InputError
from ._util import JsonMixin

SUMMARIES = ("auc", "final", "slope")


@dataclass
class Curve:
    run: str
    metric: str
    steps: np.ndarray
    values: np.ndarray


@dataclass
class CurveSummary(JsonMixin):
    run: str
    metric: str
    summary: str
    value: float
    window: tuple[float, float]
    n_points: int
    last_k: int | None = None


def extract_curve(rows: Iterable[Mapping], metric: str, run: str = "run") -> Curve:
    """(step, value) of every row that carries `metric`, sorted by step.

    NaN/None values and repeated steps are errors naming the run and step."""
    pts: dict[float, float] = {}
    for i, row in enumerate(rows, 1):
        if metric not in row:
            continue
        if "step" not in row:
            raise InputError(f"{run}: metrics row {i} has '{metric}' but no 'step'")
        step, v = row["step"], row[metric]
        if v is None or not isinstance(v, (int, float)) or (isinstance(v, float) and math.isnan(v)):
            raise InputError(f"{run}: {metric} is {v!r} at step {step} (NaN/missing values are not allowed)")
        if step in pts:
            raise InputError(f"{run}: {metric} logged twice at step {step}")
        pts[float(step)] = float(v)
    if not pts:
        raise InputError(f"{run}: no '{metric}' values in its metrics")
    steps = np.array(sorted(pts))
    return Curve(run, metric, steps, np.array([pts[s] for s in steps]))


def common_window(curves: Iterable[Curve]) -> tuple[float, float]:
    """The largest window every curve covers: [max first step, min last step]."""
    curves = list(curves)
    lo = max(c.steps[0] for c in curves)
    hi = min(c.steps[-1] for c in curves)
    if hi < lo:
        raise InputError("runs share no step range: " + ", ".join(
            f"{c.run} [{c.steps[0]:g}, {c.steps[-1]:g}]" for c in curves))
    return float(lo), float(hi)


def _check_window(c: Curve, start: float, end: float) -> None:
    if end < start:
        raise InputError(f"window end {end:g} < start {start:g}")
    if start < c.steps[0] or end > c.steps[-1]:
        raise InputError(f"{c.run}: {c.metric} covers steps [{c.steps[0]:g}, {c.steps[-1]:g}], "
                         f"window [{start:g}, {end:g}] is outside it (no extrapolation)")


def auc(c: Curve, start: float, end: float) -> tuple[float, int]:
    _check_window(c, start, end)
    if end == start:
        raise InputError(f"{c.run}: AUC needs a window of positive length, got [{start:g}, {end:g}]")
    inside = (c.steps > start) & (c.steps < end)
    xs = np.concatenate([[start], c.steps[inside], [end]])
    ys = np.concatenate([[np.interp(start, c.steps, c.values)], c.values[inside],
                         [np.interp(end, c.steps, c.values)]])
    return float(trapezoid(ys, xs) / (end - start)), int(inside.sum()) + 2


def final_mean(c: Curve, start: float, end: float, k: int) -> tuple[float, int]:
    _check_window(c, start, end)
    m = (c.steps >= start) & (c.steps <= end)
    if k < 1:
        raise InputError(f"last-k must be >= 1, got {k}")
    if m.sum() < k:
        raise InputError(f"{c.run}: only {int(m.sum())} {c.metric} points in window "
                         f"[{start:g}, {end:g}], last-k needs {k}")
    return float(c.values[m][-k:].mean()), k


def slope(c: Curve, start: float, end: float) -> tuple[float, int]:
    _check_window(c, start, end)
    m = (c.steps >= start) & (c.steps <= end)
    if m.sum() < 2:
        raise InputError(f"{c.run}: slope needs >= 2 {c.metric} points in window "
                         f"[{start:g}, {end:g}], found {int(m.sum())}")
    return float(stats.linregress(c.steps[m], c.values[m]).slope), int(m.sum())


def summarize_curves(curves: Iterable[Curve], summary: str = "auc",
                     window: tuple[float, float] | None = None,
                     last_k: int = 1) -> dict[str, CurveSummary]:
    """One summary per curve over one shared window (default: the common window)."""
    curves = list(curves)
    if summary not in SUMMARIES:
        raise InputError(f"unknown summary '{summary}' ({', '.join(SUMMARIES)})")
    if not curves:
        raise InputError("no curves to summarise")
    start, end = map(float, window) if window is not None else common_window(curves)
    out = {}
    for c in curves:
        if summary == "auc":
            v, n = auc(c, start, end)
        elif summary == "final":
            v, n = final_mean(c, start, end, last_k)
        else:
            v, n = slope(c, start, end)
        out[c.run] = CurveSummary(c.run, c.metric, summary, v, (start, end), n,
                                  last_k if summary == "final" else None)
    return out

"""Seeded bootstrap confidence intervals on `scipy.stats.bootstrap`.

Degenerate data never crash (see docs/statistics.md):
- every sample constant (up to float round-off): every resample equals the data, so the CI is the point itself
  (zero width) and `degenerate=True`;
- a sample of size 1: there is no spread to resample, so low/high are NaN and
  `degenerate=True`;
- BCa undefined on non-constant data (scipy returns NaN, e.g. very few distinct values):
  the percentile interval is used instead and `method` says so.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy import stats

from ..io import InputError
from ._util import JsonMixin, as_1d, is_constant

METHODS = {"bca": "BCa", "percentile": "percentile", "basic": "basic"}
ALTERNATIVES = ("two-sided", "less", "greater")


@dataclass
class CI(JsonMixin):
    """A point estimate with its bootstrap interval.

    alternative 'greater' gives a one-sided lower bound (high = +inf), 'less' a one-sided
    upper bound (low = -inf); to_dict() writes non-finite bounds as null."""

    point: float
    low: float
    high: float
    confidence: float
    method: str
    alternative: str
    n: int
    n_resamples: int
    seed: int | None
    degenerate: bool = False
    note: str = ""

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def _statistic(statistic: str | Callable) -> Callable:
    if callable(statistic):
        return statistic
    if statistic == "mean":
        return lambda x, axis=-1: np.mean(x, axis=axis)
    if statistic == "median":
        return lambda x, axis=-1: np.median(x, axis=axis)
    if statistic == "iqm":
        return lambda x, axis=-1: stats.trim_mean(x, 0.25, axis=axis)
    raise InputError(f"unknown statistic '{statistic}' (mean, median, iqm or a callable)")


def _method(method: str) -> str:
    try:
        return METHODS[method.lower()]
    except KeyError:
        raise InputError(f"unknown bootstrap method '{method}' ({', '.join(METHODS.values())})") from None


def bootstrap_samples(
    samples: Sequence[np.ndarray],
    statistic: Callable,
    *,
    paired: bool = False,
    confidence: float = 0.95,
    method: str = "BCa",
    alternative: str = "two-sided",
    n_resamples: int = 9999,
    seed: int | None = 0,
) -> CI:
    """CI of `statistic(*samples, axis=-1)` (must be vectorized along `axis`).

    paired=True resamples the same indices in every sample; otherwise each sample is
    resampled on its own (which is a stratified bootstrap when samples are strata)."""
    meth = _method(method)
    if alternative not in ALTERNATIVES:
        raise InputError(f"unknown alternative '{alternative}' ({', '.join(ALTERNATIVES)})")
    if not 0 < confidence < 1:
        raise InputError(f"confidence must be in (0, 1), got {confidence}")
    samples = tuple(np.asarray(s, dtype=float) for s in samples)
    point = float(statistic(*samples, axis=-1))
    n = int(samples[0].size) if len(samples) == 1 or paired else int(sum(s.size for s in samples))
    common = dict(confidence=confidence, alternative=alternative, n=n,
                  n_resamples=n_resamples, seed=seed)
    if any(s.size < 2 for s in samples):
        return CI(point, np.nan, np.nan, method="none", degenerate=True,
                  note="a sample has a single value: no spread to resample, CI undefined",
                  **common)
    if all(is_constant(s) for s in samples):
        return CI(point, point, point, method="none", degenerate=True,
                  note="all values equal: every resample gives the point (zero-width CI)",
                  **common)

    def run(m: str):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # degenerate BCa is handled below
            return stats.bootstrap(samples, statistic, n_resamples=n_resamples,
                                   vectorized=True, paired=paired, axis=-1,
                                   confidence_level=confidence, alternative=alternative,
                                   method=m, rng=np.random.default_rng(seed))

    res = run(meth)
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    note = ""
    used = meth
    nan_side = (np.isnan(lo) and alternative != "less") or (np.isnan(hi) and alternative != "greater")
    if nan_side and meth == "BCa":
        res = run("percentile")
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        used, note = "percentile", "BCa undefined for these data; percentile interval used"
    small = min(s.size for s in samples)
    if small < 5:
        note = "; ".join(filter(None, [note, f"only {small} values per sample: the bootstrap "
                                       "distribution is coarse and the CI likely too narrow"]))
    return CI(point, lo, hi, method=used, note=note, **common)


def bootstrap_ci(
    data: Sequence[float],
    statistic: str | Callable = "mean",
    *,
    confidence: float = 0.95,
    method: str = "BCa",
    alternative: str = "two-sided",
    n_resamples: int = 9999,
    seed: int | None = 0,
    label: str = "data",
) -> CI:
    """Bootstrap CI of a one-sample statistic ('mean', 'median', 'iqm' or f(x, axis))."""
    x = as_1d(data, label)
    return bootstrap_samples((x,), _statistic(statistic), confidence=confidence,
                             method=method, alternative=alternative,
                             n_resamples=n_resamples, seed=seed)

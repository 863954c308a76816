"""Power analysis: how many seeds for an effect size (noncentral t, statsmodels).

Paired: a one-sample t test on per-seed differences; the effect size is d_z =
mean difference / SD of the differences, and n counts pairs (seeds run for both arms).
Unpaired: Welch/Student two-sample t with equal group sizes; d = difference / SD within
groups, and n is per group."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from statsmodels.stats.power import TTestIndPower, TTestPower

from ..io import InputError
from ._util import JsonMixin, as_1d

_ALT = {"two-sided": "two-sided", "one-sided": "larger", "larger": "larger"}


@dataclass
class PowerResult(JsonMixin):
    effect_size: float
    alpha: float
    power: float
    paired: bool
    alternative: str
    n_exact: float        # solve_power's real-valued n (NaN when n = 2 suffices)
    n: int                # smallest integer n whose power >= target
    per: str              # "pair" or "group"
    achieved_power: float  # power at n
    sd: float | None = None
    diff: float | None = None


def _analysis(paired: bool):
    return TTestPower() if paired else TTestIndPower()


def power_at(effect_size: float, n: float, *, alpha: float = 0.05, paired: bool = False,
             alternative: str = "two-sided") -> float:
    """Power of the t test at n pairs (paired) or n per group (unpaired)."""
    alt = _ALT[alternative]
    if paired:
        return float(TTestPower().power(abs(effect_size), nobs=n, alpha=alpha, alternative=alt))
    return float(TTestIndPower().power(abs(effect_size), nobs1=n, alpha=alpha, ratio=1.0,
                                       alternative=alt))


def seeds_needed(effect_size: float, *, alpha: float = 0.05, power: float = 0.8,
                 paired: bool = False, alternative: str = "two-sided",
                 max_n: int = 100_000) -> PowerResult:
    """Seeds needed to detect `effect_size` (Cohen's d; d_z when paired).

    Known values: d=0.5, alpha=0.05, power=0.8, two-sided -> 64 per group unpaired,
    34 pairs paired."""
    if alternative not in _ALT:
        raise InputError(f"unknown alternative '{alternative}' (two-sided, one-sided)")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise InputError(f"alpha and power must be in (0, 1), got {alpha}, {power}")
    d = abs(float(effect_size))
    if not math.isfinite(d) or d == 0:
        raise InputError(f"effect size must be finite and non-zero, got {effect_size}")
    alt = _ALT[alternative]

    def pw(n: int) -> float:
        return power_at(d, n, alpha=alpha, paired=paired, alternative=alternative)

    n_exact = float("nan")  # stays NaN when n = 2 already has the power (no root)
    n = 2
    if pw(2) < power:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            n_exact = float(_analysis(paired).solve_power(d, alpha=alpha, power=power,
                                                          alternative=alt))
        if math.isfinite(n_exact):
            n = max(2, math.floor(n_exact))
        while pw(n) < power:  # smallest integer n with power >= target
            n += 1
            if n > max_n:
                raise InputError(f"more than {max_n} seeds needed for effect size {effect_size}")
        while n > 2 and pw(n - 1) >= power:
            n -= 1
    return PowerResult(effect_size=d, alpha=alpha, power=power, paired=paired,
                       alternative=alternative, n_exact=n_exact, n=n,
                       per="pair" if paired else "group",
                       achieved_power=pw(n))


def seeds_needed_from_sd(sd: float, diff: float, **kw) -> PowerResult:
    """Seeds to detect a target difference `diff` given a pilot SD (SD of per-seed
    differences when paired=True, within-group SD otherwise)."""
    if not sd > 0:
        raise InputError(f"sd must be > 0, got {sd}")
    res = seeds_needed(abs(diff) / sd, **kw)
    res.sd, res.diff = float(sd), float(diff)
    return res


def pooled_sd(groups: Sequence[Sequence[float]]) -> float:
    """SD pooled over groups (each around its own mean; df = sum(n_i - 1))."""
    arrs = [as_1d(g, f"group {i}") for i, g in enumerate(groups)]
    ss = sum(float(((a - a.mean()) ** 2).sum()) for a in arrs)
    df = sum(a.size - 1 for a in arrs)
    if df < 1:
        raise InputError("pooled SD needs at least one group with 2 or more values")
    return math.sqrt(ss / df)


def pilot_sd(control: Sequence[float], candidate: Sequence[float] | None = None,
             paired: bool = False) -> float:
    """SD for power analysis from pilot runs: of per-seed differences when paired,
    pooled within-group otherwise (one group when no candidate)."""
    if candidate is None:
        return pooled_sd([control])
    if paired:
        a, b = as_1d(control, "control"), as_1d(candidate, "candidate")
        if a.size != b.size:
            raise InputError("paired pilot needs equal lengths")
        if a.size < 2:
            raise InputError("paired pilot needs at least 2 pairs")
        return float(np.std(b - a, ddof=1))
    return pooled_sd([control, candidate])


def correlation_n(rho: float, *, alpha: float = 0.05, power: float = 0.8) -> int:
    """Pairs needed to detect a correlation rho != 0 (two-sided), Fisher z approximation:
    n = ((z_{1-alpha/2} + z_power) / atanh(rho))^2 + 3. rho = 0.3 -> 85."""
    from scipy.stats import norm

    if not 0 < abs(rho) < 1:
        raise InputError(f"rho must be in (-1, 1) and non-zero, got {rho}")
    z = (norm.ppf(1 - alpha / 2) + norm.ppf(power)) / math.atanh(abs(rho))
    return int(math.ceil(z * z + 3))


def correlation_power(rho: float, n: int, *, alpha: float = 0.05) -> float:
    """Power of the two-sided test of rho = 0 with n pairs (Fisher z)."""
    from scipy.stats import norm

    if n <= 3:
        return float("nan")
    shift = math.atanh(abs(rho)) * math.sqrt(n - 3)
    zc = norm.ppf(1 - alpha / 2)
    return float(norm.sf(zc - shift) + norm.cdf(-zc - shift))

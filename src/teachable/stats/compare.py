"""Two-group comparisons: paired on shared seeds, and unpaired (Welch).

Differences are always candidate - control."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy import stats

from ..io import InputError
from ._util import JsonMixin, as_1d, fnone, is_constant
from .bootstrap import CI, bootstrap_samples


def _mean_stat(x, axis=-1):
    return np.mean(x, axis=axis)


def _diff_of_means(a, b, axis=-1):
    return np.mean(b, axis=axis) - np.mean(a, axis=axis)


def prob_improvement(control: Sequence[float], candidate: Sequence[float]) -> float:
    """P(candidate > control) + 0.5 P(tie) over all pairs (Mann-Whitney U / (n m))."""
    a, b = np.asarray(control, float), np.asarray(candidate, float)
    gt = (b[:, None] > a[None, :]).mean()
    eq = (b[:, None] == a[None, :]).mean()
    return float(gt + 0.5 * eq)


@dataclass
class PairedComparison(JsonMixin):
    n: int
    mean_control: float
    mean_candidate: float
    mean_diff: float
    ci: CI                      # bootstrap CI of the mean per-seed difference
    sd_diff: float
    cohens_dz: float | None     # mean_diff / sd_diff
    t_stat: float | None        # paired t (scipy.stats.ttest_rel)
    t_df: int
    t_pvalue: float | None
    wilcoxon_stat: float | None
    wilcoxon_pvalue: float | None
    shapiro_stat: float | None  # Shapiro-Wilk on the differences (n >= 3)
    shapiro_pvalue: float | None
    normal_at_alpha: bool | None  # shapiro p >= alpha (None when n < 3)
    frac_improved: float        # share of seeds with candidate > control (+0.5 ties)
    alpha: float
    seeds: list | None = None
    notes: list[str] = field(default_factory=list)


def paired_comparison(
    control: Sequence[float],
    candidate: Sequence[float],
    *,
    seeds: Sequence | None = None,
    alpha: float = 0.05,
    confidence: float | None = None,
    method: str = "BCa",
    n_resamples: int = 9999,
    seed: int | None = 0,
    alternative: str = "two-sided",
) -> PairedComparison:
    """Per-seed differences: mean, bootstrap CI, paired t, Wilcoxon signed-rank, Shapiro.

    `control[i]` and `candidate[i]` must come from the same seed. alternative applies to
    the tests and the CI ('greater': candidate > control)."""
    a, b = as_1d(control, "control"), as_1d(candidate, "candidate")
    if a.size != b.size:
        raise InputError(f"paired comparison needs equal lengths, got {a.size} and {b.size}")
    confidence = 1 - alpha if confidence is None else confidence
    d = b - a
    n = int(d.size)
    notes: list[str] = []
    ci = bootstrap_samples((d,), _mean_stat, confidence=confidence, method=method,
                           alternative=alternative, n_resamples=n_resamples, seed=seed)
    if ci.note:
        notes.append(f"CI: {ci.note}")
    sd = float(np.std(d, ddof=1)) if n > 1 else float("nan")
    t_stat = t_p = None
    if n < 2:
        notes.append("paired t: needs at least 2 pairs")
    elif is_constant(d):
        notes.append("paired t: differences are constant (zero variance), t undefined")
    else:
        r = stats.ttest_rel(b, a, alternative=alternative)
        t_stat, t_p = float(r.statistic), float(r.pvalue)
    w_stat = w_p = None
    if is_constant(d) and abs(float(d[0])) <= 1e-12:
        notes.append("Wilcoxon: all differences are zero")
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = stats.wilcoxon(b, a, alternative=alternative)
            w_stat, w_p = fnone(r.statistic), fnone(r.pvalue)
        except ValueError as e:
            notes.append(f"Wilcoxon: {e}")
    sh_stat = sh_p = None
    normal = None
    if n >= 3 and not is_constant(d):
        r = stats.shapiro(d)
        sh_stat, sh_p = float(r.statistic), float(r.pvalue)
        normal = bool(sh_p >= alpha)
        if not normal:
            notes.append("Shapiro-Wilk rejects normal differences: prefer the Wilcoxon p-value")
    else:
        notes.append("Shapiro-Wilk: needs n >= 3 and non-constant differences")
    return PairedComparison(
        n=n, mean_control=float(a.mean()), mean_candidate=float(b.mean()),
        mean_diff=float(d.mean()), ci=ci, sd_diff=sd,
        cohens_dz=float(d.mean() / sd) if n > 1 and not is_constant(d) else None,
        t_stat=t_stat, t_df=n - 1, t_pvalue=t_p, wilcoxon_stat=w_stat, wilcoxon_pvalue=w_p,
        shapiro_stat=sh_stat, shapiro_pvalue=sh_p, normal_at_alpha=normal,
        frac_improved=float(np.mean(d > 0) + 0.5 * np.mean(d == 0)), alpha=alpha,
        seeds=list(seeds) if seeds is not None else None, notes=notes)


@dataclass
class UnpairedComparison(JsonMixin):
    n_control: int
    n_candidate: int
    mean_control: float
    mean_candidate: float
    mean_diff: float
    ci: CI                       # bootstrap CI of mean(candidate) - mean(control)
    welch_t: float | None        # scipy.stats.ttest_ind(equal_var=False)
    welch_df: float | None
    welch_pvalue: float | None
    welch_ci_low: float | None   # t-based CI of the difference (Welch)
    welch_ci_high: float | None
    mannwhitney_u: float | None  # U of candidate vs control
    mannwhitney_pvalue: float | None
    prob_improvement: float      # U / (n m) = P(candidate > control) + 0.5 P(tie)
    cohens_d: float | None       # pooled-SD standardised difference
    alpha: float
    notes: list[str] = field(default_factory=list)


def unpaired_comparison(
    control: Sequence[float],
    candidate: Sequence[float],
    *,
    alpha: float = 0.05,
    confidence: float | None = None,
    method: str = "BCa",
    n_resamples: int = 9999,
    seed: int | None = 0,
    alternative: str = "two-sided",
) -> UnpairedComparison:
    """Welch t, Mann-Whitney U and a two-sample bootstrap CI of the difference of means."""
    a, b = as_1d(control, "control"), as_1d(candidate, "candidate")
    confidence = 1 - alpha if confidence is None else confidence
    notes: list[str] = []
    ci = bootstrap_samples((a, b), _diff_of_means, confidence=confidence, method=method,
                           alternative=alternative, n_resamples=n_resamples, seed=seed)
    if ci.note:
        notes.append(f"CI: {ci.note}")
    wt = wdf = wp = wlo = whi = None
    va = a.var(ddof=1) if a.size > 1 else np.nan
    vb = b.var(ddof=1) if b.size > 1 else np.nan
    if a.size < 2 or b.size < 2:
        notes.append("Welch t: needs at least 2 values per group")
    elif is_constant(a) and is_constant(b):
        notes.append("Welch t: both groups have zero variance, t undefined")
    else:
        r = stats.ttest_ind(b, a, equal_var=False, alternative=alternative)
        wt, wdf, wp = float(r.statistic), float(r.df), float(r.pvalue)
        tci = r.confidence_interval(confidence_level=confidence)
        wlo, whi = float(tci.low), float(tci.high)
    mu = mp = None
    if is_constant(np.concatenate([a, b])):
        notes.append("Mann-Whitney: all values equal")
    else:
        r = stats.mannwhitneyu(b, a, alternative=alternative)
        mu, mp = float(r.statistic), float(r.pvalue)
    pooled = np.sqrt(((a.size - 1) * va + (b.size - 1) * vb) / (a.size + b.size - 2)) \
        if a.size > 1 and b.size > 1 else np.nan
    return UnpairedComparison(
        n_control=int(a.size), n_candidate=int(b.size), mean_control=float(a.mean()),
        mean_candidate=float(b.mean()), mean_diff=float(b.mean() - a.mean()), ci=ci,
        welch_t=wt, welch_df=wdf, welch_pvalue=wp, welch_ci_low=wlo, welch_ci_high=whi,
        mannwhitney_u=mu, mannwhitney_pvalue=mp, prob_improvement=prob_improvement(a, b),
        cohens_d=float((b.mean() - a.mean()) / pooled) if pooled and np.isfinite(pooled) and pooled > 0 else None,
        alpha=alpha, notes=notes)

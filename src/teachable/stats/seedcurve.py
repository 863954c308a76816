"""How many seeds? Expected CI half-width of a mean vs the number of seeds n.

half_width(n) = t_{(1+c)/2, n-1} * sd / sqrt(n), with sd from a pilot (pooled within runs
when several runs are given). The band comes from resampling the pilot (a bootstrap of
the pooled SD, stratified by run, via scipy.stats.bootstrap) and carrying each resampled
SD through the same formula."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy import stats

from ..io import InputError, atomic_path
from ._util import JsonMixin, as_1d


@dataclass
class SeedCurve(JsonMixin):
    ns: list[int]
    half_width: list[float]
    band_low: list[float]
    band_high: list[float]
    confidence: float       # confidence of the CI whose half-width is plotted
    band: float             # coverage of the band over pilot resamples
    pilot_sd: float
    pilot_n: int
    n_groups: int
    n_resamples: int
    seed: int | None
    degenerate: bool = False
    note: str = ""

    def seeds_for(self, target_half_width: float, use: str = "expected") -> int | None:
        """Smallest n whose half-width (expected, or the band's upper edge with
        use='upper') is <= target; None if no n on the curve reaches it."""
        hw = self.half_width if use == "expected" else self.band_high
        for n, h in zip(self.ns, hw):
            if h <= target_half_width:
                return n
        return None


def half_width(sd, ns, confidence: float = 0.95) -> np.ndarray:
    """t-based CI half-width of a mean of n values with standard deviation sd, for each n
    in ns; an array of sds gives one row per sd."""
    ns = np.asarray(ns, dtype=float)
    factor = stats.t.ppf((1 + confidence) / 2, ns - 1) / np.sqrt(ns)
    sd = np.asarray(sd, dtype=float)
    return sd[..., None] * factor if sd.ndim else float(sd) * factor


def _pooled_sd_vec(*groups, axis=-1):
    ss = sum(((g - g.mean(axis=axis, keepdims=True)) ** 2).sum(axis=axis) for g in groups)
    df = sum(g.shape[axis] - 1 for g in groups)
    return np.sqrt(ss / df)


def seed_curve(
    groups: Sequence[Sequence[float]] | Sequence[float],
    ns: Sequence[int] | None = None,
    *,
    confidence: float = 0.95,
    band: float = 0.95,
    n_resamples: int = 2000,
    seed: int | None = 0,
) -> SeedCurve:
    """Curve of expected CI half-width vs n from pilot values (one list, or one list per
    run for a pooled within-run SD; use per-seed differences for a paired design)."""
    if len(groups) and np.ndim(groups[0]) == 0:
        groups = [groups]
    arrs = [as_1d(g, f"pilot group {i}") for i, g in enumerate(groups)]
    if sum(a.size - 1 for a in arrs) < 1:
        raise InputError("pilot needs at least 2 values in one run to estimate an SD")
    ns = list(range(2, 31)) if ns is None else sorted(int(n) for n in ns)
    if ns[0] < 2:
        raise InputError("n must be >= 2 for a t interval")
    sd = float(_pooled_sd_vec(*arrs))
    hw = half_width(sd, ns, confidence)
    usable = [a for a in arrs if a.size >= 2]
    degenerate, note = False, ""
    if sd == 0:
        degenerate, note = True, "pilot values are all equal: SD 0, zero half-width"
        lo = hi = hw
    else:
        res = stats.bootstrap(usable, _pooled_sd_vec, n_resamples=n_resamples, vectorized=True,
                              axis=-1, method="percentile", confidence_level=band,
                              rng=np.random.default_rng(seed))
        sds = np.asarray(res.bootstrap_distribution)
        curves = half_width(sds, ns, confidence)  # resamples x ns
        q = (1 - band) / 2
        lo, hi = np.quantile(curves, q, axis=0), np.quantile(curves, 1 - q, axis=0)
        if min(a.size for a in usable) < 5:
            note = ("pilot runs have fewer than 5 seeds: resampled SDs are biased low, so the "
                    "band is rough and sits low; trust the upper edge more than the lower")
    return SeedCurve(ns=ns, half_width=[float(v) for v in hw], band_low=[float(v) for v in lo],
                     band_high=[float(v) for v in hi], confidence=confidence, band=band,
                     pilot_sd=sd, pilot_n=int(sum(a.size for a in arrs)), n_groups=len(arrs),
                     n_resamples=n_resamples, seed=seed, degenerate=degenerate, note=note)


def plot_seed_curve(curve: SeedCurve, path: str | Path, *, target_half_width: float | None = None,
                    title: str | None = None, ylabel: str = "CI half-width") -> Path:
    """Write the curve (with its band and an optional target line) to an image file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.fill_between(curve.ns, curve.band_low, curve.band_high, alpha=0.25,
                    label=f"{curve.band:.0%} band (pilot resampled)")
    ax.plot(curve.ns, curve.half_width, marker="o", ms=3,
            label=f"expected {curve.confidence:.0%} CI half-width")
    if target_half_width is not None:
        ax.axhline(target_half_width, color="k", ls="--", lw=1, label=f"target {target_half_width:g}")
        n = curve.seeds_for(target_half_width)
        if n is not None:
            ax.axvline(n, color="gray", ls=":", lw=1)
    ax.set_xlabel("seeds (n)")
    ax.set_ylabel(ylabel)
    ax.set_title(title or f"How many seeds? (pilot n={curve.pilot_n}, sd={curve.pilot_sd:.3g})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path, suffix=path.suffix or ".png") as tmp:
        fig.savefig(tmp, dpi=120, format=(path.suffix.lstrip(".") or "png"))
    plt.close(fig)
    return path

"""Two-level (seeds x tasks) paired bootstrap for comparing models (docs/statistics.md).

An evaluation is a score per (training seed, task): every model of a comparison is run on
the same tasks, and a trained model once per training seed. Both vary in a replication: a
new study draws new seeds *and* new tasks. So one resample draws seeds with replacement and,
independently, tasks with replacement (within strata, e.g. panel quadrants, when given), and
applies the *same* task draw to every model being compared (paired by task) and the same seed
draw to every trained model (paired by seed). A deterministic model (greedy BASE) has one
row that every seed shares.

Resamples are count weights, so a statistic of any number of models is a few einsums: a
weighted mean over the resampled seeds x tasks of each model's (S, T) matrix. Percentile
intervals (BCa needs a jackknife over a two-level design that is not defined). With fewer
than `min_seeds` seeds the seed level cannot be resampled meaningfully (2 seeds give 3
distinct draws): the CI is withheld and the result says "too few seeds"."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Mapping, Sequence

import numpy as np

from ..io import InputError
from ._util import JsonMixin

CI_UNIT = "seeds×tasks"
TOO_FEW = "too few seeds"


def _counts(rng: np.random.Generator, n: int, b: int) -> np.ndarray:
    """(b, n) multinomial counts: how often each of n units is drawn in b resamples of size n."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=b).astype(float)


@dataclass
class Resamples:
    """Seed and task weights of `b` two-level resamples (row 0 of nothing: the point uses
    unit weights)."""

    seed_w: np.ndarray  # (B, S)
    task_w: np.ndarray  # (B, T)

    @property
    def b(self) -> int:
        return int(self.task_w.shape[0])


def resamples(n_seeds: int, n_tasks: int, b: int, seed: int,
              strata: Sequence | None = None, resample_seeds: bool = True) -> Resamples:
    """Count weights of b resamples: seeds with replacement; tasks with replacement within
    each stratum (a stratum keeps its size, so a per-stratum mean is always defined).

    A pure function of its arguments, so a table of many comparisons on one design draws its
    weights once (cached, read-only arrays): the multinomial draws were most of a table's time."""
    if n_tasks < 1 or n_seeds < 1:
        raise InputError(f"two-level bootstrap needs at least 1 seed and 1 task (got {n_seeds}, {n_tasks})")
    key = None
    if strata is not None:
        arr = np.asarray(strata)
        if arr.shape != (n_tasks,):
            raise InputError(f"strata: need one label per task ({n_tasks}), got shape {arr.shape}")
        key = tuple(arr.tolist())
    return _resamples(int(n_seeds), int(n_tasks), int(b), int(seed), key, bool(resample_seeds))


@lru_cache(maxsize=8)  # a (9999, 300) weight matrix is 24 MB
def _resamples(n_seeds: int, n_tasks: int, b: int, seed: int, strata: tuple | None,
               resample_seeds: bool) -> Resamples:
    rng = np.random.default_rng(seed)
    sw = _counts(rng, n_seeds, b) if resample_seeds and n_seeds > 1 else np.ones((b, n_seeds))
    if strata is None:
        tw = _counts(rng, n_tasks, b)
    else:
        labels = np.asarray(strata)
        tw = np.zeros((b, n_tasks))
        for s in sorted(set(strata), key=str):
            idx = np.flatnonzero(labels == s)
            tw[:, idx] = _counts(rng, idx.size, b)
    sw.flags.writeable = False
    tw.flags.writeable = False
    return Resamples(sw, tw)


def wmean(x: np.ndarray, r: Resamples | None, tasks: np.ndarray | None = None) -> np.ndarray | float:
    """Mean of an (S, T) matrix (S = 1 broadcasts: a deterministic model) over seeds x tasks,
    optionally over a boolean task subset; with r, one value per resample (B,)."""
    x = np.asarray(x, dtype=float)
    m = np.ones(x.shape[1], dtype=bool) if tasks is None else np.asarray(tasks, dtype=bool)
    if r is None:
        return float(x[:, m].mean())
    tw = r.task_w[:, m]
    xs = x[:, m]
    if xs.shape[0] == 1:
        return (tw @ xs[0]) / tw.sum(axis=1)
    sw = r.seed_w
    return np.einsum("bs,st,bt->b", sw, xs, tw) / (sw.sum(axis=1) * tw.sum(axis=1))


@dataclass
class TwoLevelCI(JsonMixin):
    point: float | None
    low: float | None
    high: float | None
    n_seeds: int
    n_tasks: int
    confidence: float
    n_resamples: int
    seed: int
    p_value: float | None = None   # two-sided percentile-bootstrap p of "statistic = 0"
    p_greater: float | None = None  # one-sided: share of resamples <= 0 (H0: statistic <= 0)
    ci_unit: str = CI_UNIT
    note: str = ""
    t_low: float | None = None   # few seeds (< t_below): t-interval over per-seed values
    t_high: float | None = None
    draws: np.ndarray | None = field(default=None, repr=False)

    @property
    def gate_low(self) -> float | None:
        """The more conservative lower bound (bootstrap or, with few seeds, t): what gates use."""
        return _conservative(self.low, self.t_low, min)

    @property
    def gate_high(self) -> float | None:
        return _conservative(self.high, self.t_high, max)

    @property
    def interval_used(self) -> str:
        """Which interval the gates use: 'bootstrap', 't' or 'none'."""
        if self.low is None:
            return "none"
        if self.t_low is None:
            return "bootstrap"
        return "t" if (self.t_high - self.t_low) > (self.high - self.low) else "bootstrap"

    def to_dict(self) -> dict:
        d = super().to_dict()
        d.pop("draws", None)
        d.update(gate_low=self.gate_low, gate_high=self.gate_high, interval_used=self.interval_used)
        return d


T_BELOW = 10  # fewer seeds than this: a t-interval beside the two-level bootstrap (docs/statistics.md)


def _conservative(boot, t, pick):
    if boot is None:
        return None
    return boot if t is None else float(pick(boot, t))


def per_seed_values(statistic: Callable[[Resamples | None], np.ndarray | float], n_seeds: int,
                    n_tasks: int) -> np.ndarray:
    """statistic evaluated on each seed alone with every task once: (S,) values."""
    r = Resamples(np.eye(n_seeds), np.ones((n_seeds, n_tasks)))
    return np.atleast_1d(np.asarray(statistic(r), dtype=float))


def t_interval(point: float, per_seed: np.ndarray, task_var: float = 0.0,
               confidence: float = 0.95) -> tuple[float | None, float | None]:
    """point +- t_df * SE with SE^2 = var(per-seed values)/S + task_var (the variance of the
    statistic over task resamples with the seeds fixed) and Welch-Satterthwaite df =
    SE^4 / ((var/S)^2 / (S-1)): Student's t over seeds when the seed term dominates, normal
    when the task term does."""
    from scipy.stats import t as tdist  # local: the stats core stays numpy-only until needed

    v = np.asarray(per_seed, float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return None, None
    a = float(v.var(ddof=1) / v.size)
    se2 = a + max(0.0, float(task_var))
    if se2 <= 0:
        return point, point
    df = float("inf") if a == 0 else se2 ** 2 / (a ** 2 / (v.size - 1))
    half = float(tdist.ppf((1 + confidence) / 2, df) * np.sqrt(se2))
    return point - half, point + half


def two_level_ci(statistic: Callable[[Resamples | None], np.ndarray | float], n_seeds: int, n_tasks: int, *,
                 strata: Sequence | None = None, confidence: float = 0.95, n_resamples: int = 2000,
                 seed: int = 0, min_seeds: int = 3, keep_draws: bool = False, t_below: int = T_BELOW) -> TwoLevelCI:
    """Percentile CI of statistic(r): statistic(None) is the point estimate, statistic(r) a
    (B,) array over resamples r (build it from `wmean`). With fewer than `t_below` seeds the
    t-interval over per-seed values is computed too (t_low, t_high); gate_low/gate_high are
    the more conservative of the two (a percentile bootstrap over 3-5 seeds under-covers when
    seeds disagree: docs/statistics.md)."""
    if not 0 < confidence < 1:
        raise InputError(f"confidence must be in (0, 1), got {confidence}")
    point = float(statistic(None))
    base = dict(n_seeds=int(n_seeds), n_tasks=int(n_tasks), confidence=confidence, n_resamples=int(n_resamples),
                seed=int(seed))
    if not np.isfinite(point):
        return TwoLevelCI(None, None, None, note="statistic undefined", **base)
    if n_seeds < min_seeds:
        return TwoLevelCI(point, None, None, note=f"{TOO_FEW} ({n_seeds} < {min_seeds}): no CI", **base)
    r = resamples(n_seeds, n_tasks, n_resamples, seed, strata)
    draws = np.asarray(statistic(r), dtype=float)
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return TwoLevelCI(point, None, None, note="statistic undefined on every resample", **base)
    a = (1 - confidence) / 2
    lo, hi = np.quantile(draws, [a, 1 - a])
    p_le, p_ge = float(np.mean(draws <= 0)), float(np.mean(draws >= 0))
    t_lo = t_hi = None
    if n_seeds < t_below:
        rt = resamples(n_seeds, n_tasks, n_resamples, seed + 1, strata, resample_seeds=False)
        dt = np.asarray(statistic(rt), dtype=float)
        dt = dt[np.isfinite(dt)]
        t_lo, t_hi = t_interval(point, per_seed_values(statistic, n_seeds, n_tasks),
                                float(dt.var(ddof=1)) if dt.size > 1 else 0.0, confidence)
    return TwoLevelCI(point, float(lo), float(hi), p_value=min(1.0, 2 * min(p_le, p_ge)), p_greater=p_le,
                      draws=draws if keep_draws else None, t_low=t_lo, t_high=t_hi, **base)


def paired_diff(control: np.ndarray, candidate: np.ndarray, tasks: np.ndarray | None = None,
                **kw) -> TwoLevelCI:
    """mean(candidate) - mean(control) over seeds x tasks, paired by task (and by seed when
    both have S rows; a 1-row control is a deterministic model every seed shares)."""
    c, t = _matrix(control, "control"), _matrix(candidate, "candidate")
    if c.shape[1] != t.shape[1]:
        raise InputError(f"paired comparison needs the same tasks: {c.shape[1]} vs {t.shape[1]} columns")
    if c.shape[0] not in (1, t.shape[0]):
        raise InputError(f"control has {c.shape[0]} seed rows, candidate {t.shape[0]}: need 1 or equal")
    n_s = max(c.shape[0], t.shape[0])
    n_t = int(c.shape[1] if tasks is None else np.asarray(tasks, bool).sum())
    return two_level_ci(lambda r: wmean(t, r, tasks) - wmean(c, r, tasks), n_s, c.shape[1], **kw) \
        if n_t else TwoLevelCI(None, None, None, n_s, 0, kw.get("confidence", 0.95), kw.get("n_resamples", 0),
                               kw.get("seed", 0), note="no tasks")


def mean_ci(x: np.ndarray, tasks: np.ndarray | None = None, **kw) -> TwoLevelCI:
    """Mean of one model over seeds x tasks."""
    m = _matrix(x, "scores")
    return two_level_ci(lambda r: wmean(m, r, tasks), m.shape[0], m.shape[1], **kw)


def _matrix(x, label: str) -> np.ndarray:
    m = np.asarray(x, dtype=float)
    if m.ndim == 1:
        m = m[None, :]
    if m.ndim != 2 or m.size == 0:
        raise InputError(f"{label}: expected a seeds x tasks matrix, got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise InputError(f"{label}: non-finite scores (a (seed, task) cell is missing?)")
    return m


def score_matrix(episodes, value: str, by: Sequence[str] = ("seed",), item: str = "item",
                 items: Sequence | None = None) -> tuple[np.ndarray, list, list]:
    """(S, T) matrix of `value` from long per-episode rows (pandas DataFrame) of one model:
    rows = sorted seeds, columns = `items` (default: sorted items). A missing (seed, item)
    cell is an error: the design is paired."""
    import pandas as pd  # local: keeps the stats core numpy-only

    df = pd.DataFrame(episodes)
    wide = df.pivot_table(index=list(by), columns=item, values=value, aggfunc="mean")
    cols = sorted(wide.columns, key=str) if items is None else list(items)
    missing = [c for c in cols if c not in wide.columns]
    if missing:
        raise InputError(f"{value}: no episodes for item(s) {missing[:5]} (paired design needs every item)")
    wide = wide[cols]
    if wide.isna().any().any():
        bad = wide.isna().stack()
        raise InputError(f"{value}: missing (seed, item) cell(s) {list(bad[bad].index)[:5]}")
    return wide.to_numpy(float), list(wide.index), cols


def stack(models: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Check that every model's matrix has the same number of task columns."""
    ms = {k: _matrix(v, k) for k, v in models.items()}
    widths = {m.shape[1] for m in ms.values()}
    if len(widths) > 1:
        raise InputError(f"models have different task sets: {dict((k, m.shape[1]) for k, m in ms.items())}")
    return ms


# ------------------------------------------------------------- coverage simulation

@dataclass
class Coverage(JsonMixin):
    n_datasets: int
    n_seeds: int
    n_tasks: int
    effect: float
    sd_seed: float
    sd_task_effect: float
    coverage: float          # share of 95% CIs that contain the true effect (two-level bootstrap)
    power: float             # share of CIs that exclude 0
    mean_width: float
    n_resamples: int
    seed: int
    coverage_t: float | None = None     # t-interval over seeds (few seeds only)
    coverage_gate: float | None = None  # the more conservative of the two: what gates use
    power_gate: float | None = None
    mean_width_gate: float | None = None
    seed_dist: str = "sign"


SEED_DISTS = ("sign", "normal")


def simulate_binary(rng: np.random.Generator, n_seeds: int, n_tasks: int, effect: float, sd_seed: float,
                    sd_task_effect: float, seed_dist: str = "sign") -> tuple[np.ndarray, np.ndarray]:
    """One simulated evaluation with a known true effect, on 0/1 successes like phase 3:
    a deterministic control (1 row: task t solved with prob q_t) and a trained model with
    success prob q_t + effect + a_s + b_t, where the seed effect a_s and the task-specific
    effect b_t are +-sd (mean 0) and q_t keeps every probability in [0, 1]. So the
    population mean difference is exactly `effect`. seed_dist 'sign': a_s = +-sd_seed (the
    hardest case for 3 seeds: a quarter of the studies draw three seeds on one side, with no
    spread to show it); 'normal': a_s = sd_seed * N(0, 1) clipped at +-2 (symmetric, mean 0)."""
    if seed_dist not in SEED_DISTS:
        raise InputError(f"seed_dist '{seed_dist}' is not one of {', '.join(SEED_DISTS)}")
    reach = sd_seed * (1.0 if seed_dist == "sign" else 2.0)
    lo = reach + sd_task_effect + max(0.0, -effect)
    hi = max(lo, 1 - reach - sd_task_effect - max(0.0, effect))
    q = rng.uniform(lo, hi, size=n_tasks)
    a = sd_seed * (rng.choice([-1.0, 1.0], size=(n_seeds, 1)) if seed_dist == "sign"
                   else np.clip(rng.standard_normal((n_seeds, 1)), -2.0, 2.0))
    b = sd_task_effect * rng.choice([-1.0, 1.0], size=(1, n_tasks))
    control = (rng.random((1, n_tasks)) < q).astype(float)
    cand = (rng.random((n_seeds, n_tasks)) < q + effect + a + b).astype(float)
    return control, cand


def coverage(n_datasets: int = 200, n_seeds: int = 5, n_tasks: int = 64, effect: float = 0.0,
             sd_seed: float = 0.05, sd_task_effect: float = 0.1, n_resamples: int = 1000,
             confidence: float = 0.95, seed: int = 0, seed_dist: str = "sign") -> Coverage:
    """Coverage of the two-level paired CI over simulated datasets (simulate_binary)."""
    rng = np.random.default_rng(seed)
    hit = excl = hit_t = hit_g = excl_g = 0
    widths, widths_g = [], []
    for i in range(n_datasets):
        c, t = simulate_binary(rng, n_seeds, n_tasks, effect, sd_seed, sd_task_effect, seed_dist)
        ci = paired_diff(c, t, confidence=confidence, n_resamples=n_resamples, seed=seed + i, min_seeds=1)
        hit += ci.low <= effect <= ci.high
        excl += not (ci.low <= 0 <= ci.high)
        widths.append(ci.high - ci.low)
        if ci.t_low is not None:
            hit_t += ci.t_low <= effect <= ci.t_high
        hit_g += ci.gate_low <= effect <= ci.gate_high
        excl_g += not (ci.gate_low <= 0 <= ci.gate_high)
        widths_g.append(ci.gate_high - ci.gate_low)
    few = n_seeds < T_BELOW
    return Coverage(n_datasets, n_seeds, n_tasks, effect, sd_seed, sd_task_effect, hit / n_datasets,
                    excl / n_datasets, float(np.mean(widths)), n_resamples, seed,
                    coverage_t=hit_t / n_datasets if few else None, coverage_gate=hit_g / n_datasets,
                    power_gate=excl_g / n_datasets, mean_width_gate=float(np.mean(widths_g)), seed_dist=seed_dist)


def max_bound(points: np.ndarray, draws: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """Lower confidence bound and p-value for max_k theta_k from K point estimates and their
    (B, K) bootstrap draws, by simultaneous one-sided bounds theta_k >= theta_hat_k - c
    (c = quantile of max_k (draw_k - theta_hat_k)); so picking the best of K (a format, a
    pair) is paid for. Returns (max theta_hat, lower bound, p of H0: every theta_k <= 0)."""
    points = np.asarray(points, float)
    dev = np.max(np.asarray(draws, float) - points[None, :], axis=1)
    top = float(points.max())
    c = float(np.quantile(dev, confidence))
    return top, top - c, float(np.mean(dev >= top))

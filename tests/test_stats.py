"""teachable.stats against independent references: scipy run directly on the same data and
seed, hand-computed statistics, and published power values."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from teachable.io import InputError
from teachable.stats import (aggregate_ci, bootstrap_ci, extract_curve, goal_achievement, holm,
                             iqm, paired_comparison, plot_seed_curve, pooled_sd, power_at,
                             prob_improvement, probability_of_improvement, seed_curve,
                             seeds_needed, seeds_needed_from_sd, summarize_curves,
                             unpaired_comparison, adjust_pvalues, half_width)
from teachable.stats.curves import Curve

X = np.array([0.31, 0.42, 0.35, 0.50, 0.28, 0.44, 0.39, 0.47])


def strict_json(obj) -> dict:
    return json.loads(json.dumps(obj.to_dict(), allow_nan=False))


# -- bootstrap ------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["BCa", "percentile"])
@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_bootstrap_equals_scipy_same_seed(method, alternative):
    ours = bootstrap_ci(X, "mean", method=method, alternative=alternative, n_resamples=2000, seed=7)
    ref = stats.bootstrap((X,), np.mean, method=method, alternative=alternative, n_resamples=2000,
                          rng=np.random.default_rng(7)).confidence_interval
    assert ours.point == pytest.approx(X.mean())
    assert (ours.low, ours.high) == (pytest.approx(ref.low), pytest.approx(ref.high))
    assert ours.method == method and not ours.degenerate
    if alternative == "greater":
        assert ours.high == math.inf and strict_json(ours)["high"] is None


def test_bootstrap_seeded_reproducible_and_seed_sensitive():
    a = bootstrap_ci(X, n_resamples=999, seed=1)
    assert a == bootstrap_ci(X, n_resamples=999, seed=1)
    assert (a.low, a.high) != (bootstrap_ci(X, n_resamples=999, seed=2).low,
                               bootstrap_ci(X, n_resamples=999, seed=2).high)


def test_bootstrap_iqm_and_median_statistics():
    ci = bootstrap_ci(X, "iqm", n_resamples=999, seed=0)
    ref = stats.bootstrap((X,), lambda x, axis: stats.trim_mean(x, 0.25, axis=axis),
                          n_resamples=999, rng=np.random.default_rng(0)).confidence_interval
    assert ci.point == pytest.approx(stats.trim_mean(X, 0.25))
    assert (ci.low, ci.high) == (pytest.approx(ref.low), pytest.approx(ref.high))


def test_bootstrap_degenerate_cases():
    const = bootstrap_ci([0.4, 0.4, 0.4])
    assert const.point == pytest.approx(0.4) and const.low == const.high == const.point
    assert const.degenerate and const.half_width == 0
    assert "all values equal" in const.note
    one = bootstrap_ci([0.7])
    assert one.point == 0.7 and math.isnan(one.low) and math.isnan(one.high) and one.degenerate
    assert strict_json(one)["low"] is None
    # BCa is undefined for the median of [0, 1, 1, 1] (scipy returns NaN): percentile fallback
    fb = bootstrap_ci([0, 1, 1, 1], "median", n_resamples=999, seed=0)
    ref = stats.bootstrap((np.array([0, 1, 1, 1.0]),), np.median, method="percentile",
                          n_resamples=999, rng=np.random.default_rng(0)).confidence_interval
    assert fb.method == "percentile" and "BCa undefined" in fb.note
    assert (fb.low, fb.high) == (ref.low, ref.high)


def test_bootstrap_bad_input_named():
    with pytest.raises(InputError, match="control: non-finite"):
        paired_comparison([1, float("nan")], [1, 2])
    with pytest.raises(InputError, match="data: no values"):
        bootstrap_ci([])
    with pytest.raises(InputError, match="unknown bootstrap method"):
        bootstrap_ci(X, method="studentized")


# -- comparisons ----------------------------------------------------------------------------
def test_paired_t_by_hand():
    ctrl, cand = [1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 3.0, 7.0]
    d = np.array([1.0, 2.0, 0.0, 3.0])
    sd = math.sqrt(((d - 1.5) ** 2).sum() / 3)  # sqrt(5/3)
    t = 1.5 / (sd / 2)
    p = 2 * stats.t.sf(t, df=3)
    r = paired_comparison(ctrl, cand, n_resamples=999, seed=0)
    assert r.mean_diff == 1.5 and r.sd_diff == pytest.approx(sd)
    assert r.t_stat == pytest.approx(t) and r.t_stat == pytest.approx(2.32379, rel=1e-5)
    assert r.t_pvalue == pytest.approx(p) and r.t_df == 3
    assert r.cohens_dz == pytest.approx(1.5 / sd)
    w = stats.wilcoxon(cand, ctrl)
    assert r.wilcoxon_pvalue == pytest.approx(w.pvalue)
    assert r.shapiro_pvalue == pytest.approx(stats.shapiro(d).pvalue)
    ref = stats.bootstrap((d,), np.mean, n_resamples=999, rng=np.random.default_rng(0)).confidence_interval
    assert (r.ci.low, r.ci.high) == (pytest.approx(ref.low), pytest.approx(ref.high))
    assert r.frac_improved == pytest.approx((3 + 0.5) / 4)
    strict_json(r)


def test_paired_degenerate_does_not_crash():
    r = paired_comparison([0.3, 0.33, 0.34], [0.45, 0.48, 0.49])  # constant 0.15 (round-off)
    assert r.t_pvalue is None and r.ci.degenerate and r.ci.low == pytest.approx(0.15)
    assert any("constant" in n for n in r.notes)
    z = paired_comparison([1, 2, 3], [1, 2, 3])
    assert z.wilcoxon_pvalue is None and z.mean_diff == 0 and z.ci.half_width == 0
    one = paired_comparison([1], [2])
    assert one.n == 1 and math.isnan(one.ci.low) and one.t_pvalue is None
    strict_json(one)


def test_welch_by_hand_and_mann_whitney():
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 4.0, 6.0, 8.0, 10.0])
    va, vb = a.var(ddof=1) / 4, b.var(ddof=1) / 5
    t = (b.mean() - a.mean()) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / 3 + vb ** 2 / 4)
    r = unpaired_comparison(a, b, n_resamples=999, seed=3)
    assert r.welch_t == pytest.approx(t) and r.welch_df == pytest.approx(df)
    assert r.welch_pvalue == pytest.approx(2 * stats.t.sf(t, df))
    half = stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    assert (r.welch_ci_low, r.welch_ci_high) == (pytest.approx(t * math.sqrt(va + vb) - half),
                                                 pytest.approx(t * math.sqrt(va + vb) + half))
    mw = stats.mannwhitneyu(b, a)
    assert r.mannwhitney_u == mw.statistic and r.mannwhitney_pvalue == pytest.approx(mw.pvalue)
    assert r.prob_improvement == pytest.approx(mw.statistic / 20)
    ref = stats.bootstrap((a, b), lambda x, y, axis: y.mean(axis) - x.mean(axis), n_resamples=999,
                          rng=np.random.default_rng(3)).confidence_interval
    assert (r.ci.low, r.ci.high) == (pytest.approx(ref.low), pytest.approx(ref.high))


def test_prob_improvement_by_hand():
    # candidate 1,2,3 vs control 2,2,0: 5 wins, 2 ties of 9 pairs
    assert prob_improvement([2, 2, 0], [1, 2, 3]) == pytest.approx(6 / 9)
    ci = probability_of_improvement([[1, 2, 3]], [[2, 2, 0]], n_resamples=999)
    assert ci.point == pytest.approx(6 / 9)
    two = probability_of_improvement([[1, 2, 3], [5, 5, 5]], [[2, 2, 0], [0, 0, 0]], n_resamples=999)
    assert two.point == pytest.approx((6 / 9 + 1) / 2) and two.low <= two.point <= two.high


# -- aggregates -----------------------------------------------------------------------------
def test_iqm_by_hand():
    assert iqm([1, 2, 3, 4, 5, 6, 7, 8]) == 4.5  # middle half 3,4,5,6
    assert iqm([[8, 1, 7, 2], [3, 6, 4, 5]]) == 4.5  # pooled over tasks x seeds
    assert iqm([10, 0, 1, 2]) == 1.5


def test_iqm_ci_is_stratified_by_task():
    scores = np.array([[0.0, 0.1, 0.2, 0.1, 0.0, 0.2],
                       [0.9, 1.0, 0.8, 1.0, 0.9, 0.8]])
    ci = aggregate_ci(scores, "iqm", method="percentile", n_resamples=4000, seed=0)
    assert ci.point == pytest.approx(iqm(scores))
    rng = np.random.default_rng(123)  # independent hand-rolled stratified bootstrap
    boot = [iqm(np.concatenate([r[rng.integers(0, r.size, r.size)] for r in scores]))
            for _ in range(4000)]
    lo, hi = np.percentile(boot, [2.5, 97.5])
    assert ci.low == pytest.approx(lo, abs=0.02) and ci.high == pytest.approx(hi, abs=0.02)
    flat = bootstrap_ci(scores.ravel(), "iqm", method="percentile", n_resamples=4000, seed=0)
    assert ci.high - ci.low < (flat.high - flat.low) / 2  # pooling tasks would be far wider
    const = aggregate_ci([[0, 0, 0], [1, 1, 1]])
    assert const.degenerate and const.low == const.high == const.point


# -- multiple comparisons -------------------------------------------------------------------
def test_holm_hand_example():
    # sorted 0.005 (x4=.02), 0.01 (x3=.03), 0.03 (x2=.06), 0.04 (x1=.04 -> max .06)
    r = holm([0.01, 0.04, 0.03, 0.005], alpha=0.05)
    assert r["p_adjusted"] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert r["reject"] == [True, False, False, True] and r["m"] == 4
    r = holm([0.02, None, 0.04])
    assert r["p_adjusted"] == [pytest.approx(0.04), None, pytest.approx(0.04)] and r["m"] == 2
    assert adjust_pvalues([0.01, 0.04], method="bonferroni")["p_adjusted"] == pytest.approx([0.02, 0.08])


# -- power ----------------------------------------------------------------------------------
def test_known_power_values():
    u = seeds_needed(0.5, alpha=0.05, power=0.8)
    p = seeds_needed(0.5, alpha=0.05, power=0.8, paired=True)
    assert (u.n, u.per, p.n, p.per) == (64, "group", 34, "pair")
    assert u.n_exact == pytest.approx(63.77, abs=0.01) and p.n_exact == pytest.approx(33.37, abs=0.01)
    assert u.achieved_power >= 0.8 > power_at(0.5, 63)
    assert seeds_needed(0.5, alternative="one-sided").n == 51
    assert seeds_needed(0.8).n == 26  # Cohen's table: d=0.8 -> 26 per group
    # noncentral t by hand for the paired case at n=34
    df, nc = 33, 0.5 * math.sqrt(34)
    crit = stats.t.ppf(0.975, df)
    by_hand = stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc)
    assert power_at(0.5, 34, paired=True) == pytest.approx(by_hand, rel=1e-6)


def test_power_from_sd_and_edge_cases():
    r = seeds_needed_from_sd(sd=0.1, diff=0.05, paired=True)
    assert r.n == 34 and r.sd == 0.1 and r.diff == 0.05
    assert seeds_needed(30).n == 2  # huge effect: minimum, no solver warning
    with pytest.raises(InputError, match="non-zero"):
        seeds_needed(0)
    with pytest.raises(InputError, match="sd must be > 0"):
        seeds_needed_from_sd(0, 0.1)
    assert pooled_sd([[1, 2, 3], [10, 11, 12]]) == pytest.approx(1.0)


# -- how many seeds -------------------------------------------------------------------------
def test_seed_curve(tmp_path):
    pilot = [0.30, 0.36, 0.41, 0.33, 0.38]
    c = seed_curve(pilot, range(2, 21), n_resamples=1000, seed=0)
    sd = np.std(pilot, ddof=1)
    assert c.pilot_sd == pytest.approx(sd)
    assert c.half_width[3] == pytest.approx(stats.t.ppf(0.975, 4) * sd / math.sqrt(5))
    assert all(lo <= h <= hi for lo, h, hi in zip(c.band_low, c.half_width, c.band_high))
    assert all(a > b for a, b in zip(c.half_width, c.half_width[1:]))
    n = c.seeds_for(0.03)
    assert c.half_width[c.ns.index(n)] <= 0.03 < c.half_width[c.ns.index(n) - 1]
    assert c.seeds_for(0.03, "upper") >= n and c.seeds_for(1e-9) is None
    assert seed_curve(pilot, n_resamples=1000, seed=0) == seed_curve(pilot, n_resamples=1000, seed=0)
    grouped = seed_curve([[1, 2, 3], [10, 11, 12]], [2, 3], n_resamples=200)
    assert grouped.pilot_sd == pytest.approx(1.0) and grouped.n_groups == 2
    out = plot_seed_curve(c, tmp_path / "fig" / "seeds.png", target_half_width=0.03)
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert half_width(np.array([1.0, 2.0]), [2, 4]).shape == (2, 2)
    strict_json(c)


# -- learning curves ------------------------------------------------------------------------
def _rows(pairs, metric="probe_success"):
    return [{"step": s, metric: v} for s, v in pairs] + [{"step": s, "loss": 1.0} for s, _ in pairs]


def test_curve_summaries_by_hand():
    a = extract_curve(_rows([(0, 0.0), (10, 1.0), (20, 1.0)]), "probe_success", run="A")
    b = extract_curve(_rows([(0, 0.0), (20, 1.0), (30, 0.5)]), "probe_success", run="B")
    auc = summarize_curves([a, b], "auc", window=(5, 15))
    # A: interpolated 0.5 at 5, 1 at 10 and 15 -> (3.75 + 5) / 10
    assert auc["A"].value == pytest.approx(0.875) and auc["A"].window == (5.0, 15.0)
    # B: straight line 0 -> 1 over 0..20: average over 5..15 is 0.5
    assert auc["B"].value == pytest.approx(0.5)
    fin = summarize_curves([a, b], "final", last_k=2)
    assert fin["A"].window == fin["B"].window == (0.0, 20.0)  # common window
    assert fin["A"].value == 1.0 and fin["B"].value == 0.5
    sl = summarize_curves([a, b], "slope")
    assert sl["A"].value == pytest.approx(0.05) and sl["B"].value == pytest.approx(0.05)
    assert stats.linregress([0, 10, 20], [0, 1, 1]).slope == pytest.approx(0.05)
    strict_json(auc["A"])


def test_curve_errors_name_the_run():
    with pytest.raises(InputError, match=r"run7: probe_success is nan at step 10"):
        extract_curve(_rows([(0, 0.1), (10, float("nan"))]), "probe_success", run="run7")
    with pytest.raises(InputError, match=r"run7: probe_success is None at step 10"):
        extract_curve(_rows([(0, 0.1), (10, None)]), "probe_success", run="run7")
    with pytest.raises(InputError, match="run8: no 'acc' values"):
        extract_curve(_rows([(0, 0.1)]), "acc", run="run8")
    with pytest.raises(InputError, match="logged twice at step 0"):
        extract_curve(_rows([(0, 0.1), (0, 0.2)]), "probe_success", run="r")
    a = Curve("A", "m", np.array([0.0, 10.0]), np.array([0.0, 1.0]))
    with pytest.raises(InputError, match=r"A: m covers steps \[0, 10\], window \[0, 20\] is outside"):
        summarize_curves([a], "auc", window=(0, 20))
    with pytest.raises(InputError, match="only 2 m points"):
        summarize_curves([a], "final", last_k=3)


# -- goals ----------------------------------------------------------------------------------
def test_goal_achievement():
    hi = goal_achievement([0.41, 0.44, 0.40, 0.45, 0.43], target=0.35, n_resamples=999)
    assert hi.achieved and hi.bound > 0.35 and hi.ci.alternative == "greater"
    ref = stats.bootstrap((np.array([0.41, 0.44, 0.40, 0.45, 0.43]),), np.mean, alternative="greater",
                          n_resamples=999, rng=np.random.default_rng(0)).confidence_interval
    assert hi.bound == pytest.approx(ref.low)
    assert not goal_achievement([0.30, 0.45, 0.33, 0.41], target=0.35, n_resamples=999).achieved
    drop = goal_achievement([0.01, 0.02, 0.00, 0.015], target=0.05, higher_is_better=False,
                            n_resamples=999)
    assert drop.achieved and drop.bound < 0.05 and drop.ci.alternative == "less"
    assert not goal_achievement([0.9], target=0.1, n_resamples=99).achieved  # NaN bound
    strict_json(drop)


def test_fast_rankdata_equals_scipy():
    """stats._util.rankdata (np.unique for 1-D) gives scipy's average ranks exactly, ties,
    NaN (scipy's own path) and n-d arrays included."""
    from teachable.stats._util import rankdata

    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 24, 120):
        for k in range(50):
            x = rng.integers(0, 4, n).astype(float) if k % 2 else rng.normal(size=n)
            assert np.array_equal(rankdata(x), stats.rankdata(x))
    assert np.isnan(rankdata(np.array([1.0, np.nan, 2.0]))).all()
    m = rng.integers(0, 3, (5, 7))
    assert np.array_equal(rankdata(m, axis=1), stats.rankdata(m, axis=1))


def test_bootstrap_weights_are_drawn_once_and_read_only():
    """resamples() is cached per design: the same weights as a fresh draw, shared and read-only."""
    from teachable.stats import hierarchical

    hierarchical._resamples.cache_clear()
    a = hierarchical.resamples(3, 10, 200, 7, strata=["x"] * 5 + ["y"] * 5)
    hierarchical._resamples.cache_clear()
    b = hierarchical.resamples(3, 10, 200, 7, strata=np.array(["x"] * 5 + ["y"] * 5))
    c = hierarchical.resamples(3, 10, 200, 7, strata=["x"] * 5 + ["y"] * 5)
    assert np.array_equal(a.task_w, b.task_w) and np.array_equal(a.seed_w, b.seed_w)
    assert c is b and not c.task_w.flags.writeable
    assert (c.task_w[:, :5].sum(axis=1) == 5).all()  # each stratum keeps its size

"""Every decision gate of the method in one list -> results/gates.json (docs/statistics.md).

One function per gate; each returns a list of gate dicts {name, value, ci, threshold, passed,
rule, source, ...}. Where a CI exists the verdict is a statement about a CI bound (e.g. "CI
lower bound > 0"), never about the point alone, so a gate fails when the data cannot tell.
`passed` is null (not evaluated) when the input is missing or too small for a CI (e.g. fewer
than stats.min_seeds training seeds); the note says why. Nothing is invented.

Two kinds (GATE_SPECS): *checks* (sanity of the run: balance, share, placebo, reliability)
and *tests* (the method's hypotheses). Every gate carries kind, family and unit (what its CI
resamples). Tests are Holm-adjusted within their family (`finalize`): each gets a one-sided
p-value of "the bound's hypothesis fails" and its verdict holds only when the Holm-adjusted p
is below (1 - confidence)/2 as well. A check that cannot fail under the configured method
(quadrant balance and share under median cuts) is "by construction": not counted as a pass.
Decisions use the cross-fitted ELP_net_xfit and the seeded-tie route (labeling.decision);
CIs over snapshots resample trajectories (stats.clustered); with fewer than 10 seeds a
two-level CI's gate bound is the more conservative of the bootstrap and the t-interval.

To add a gate: write `def my_gate(data..., t: dict, kw: dict) -> list[dict]` using `_gate`,
and add one line to `PLAN` naming its input sources."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sstats

from .evaluation import Models, pooled_panel, quadrant_runs
from .figures import read_csv
from .io import InputError, read_json, read_records
from .labeling.decision import DECISION_ELP, DECISION_ROUTE, decision_elp, with_decision_route
from .stats import holm
from .stats import hierarchical as hier
from .stats.clustered import UNIT_TRAJECTORIES, cluster_bootstrap, cluster_indices, cluster_weights, snapshot_clusters
from .vocab import FORMATS, QUADRANTS

DEFAULTS = {"placebo_max_abs": 0.1, "supervision_min_spread": 0.0, "retention_drop_max": 0.1,
            "retention_ni_margin": 0.05, "retention_fixed_drop": False, "utility_own_panel_min": 0.0,
            "min_per_quadrant": 3,
            "transfer_min_diag_gap": 0.0, "min_quadrant_share": 0.1, "cpt_spearman_min": 0.3,
            "cpt_min_n_per_quadrant": 20, "elp_cliffs_delta_min": 0.147, "utility_q1_q2_min": 0.0,
            "route_accuracy_min": 0.4, "best_quadrant_vs_b1_min": 0.0, "panel_gain_min": 0.0}
SOURCES = ("labeling_metadata", "label_reliability", "cpt_correlation", "micro_results", "snapshots", "episodes", "retention",
           "training_result", "selection_summary", "controls", "learnability", "student_report")
NULL_RUN = "null_replay"  # teachable.training.controls.NULL_RUN (not imported: that module needs the prompt stack)
CONTROL_RUNS = (NULL_RUN, "expert_demos", "dagger_demos", "dagger_shortest")
STATS_DEFAULTS = {"confidence": 0.95, "n_resamples": 2000, "seed": 0, "min_seeds": 3, "alpha": 0.05}


def _num(x):
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return int(x)
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _ci(ci) -> list | None:
    """[low, high] from a CI dict, a pair, or None."""
    if ci is None:
        return None
    if isinstance(ci, dict):
        lo, hi = ci.get("low"), ci.get("high")
    else:
        lo, hi = ci
    lo, hi = _num(lo), _num(hi)
    return None if lo is None and hi is None else [lo, hi]


def _gate(name, value, ci, threshold, passed, source, **extra) -> dict:
    return {"name": name, "value": _num(value), "ci": _ci(ci), "threshold": threshold,
            "passed": None if passed is None else bool(passed), "source": str(source), **extra}


def _missing(name, threshold, source, why) -> dict:
    return _gate(name, None, None, threshold, None, source, note=why)


def _copy(g: dict, source) -> dict:
    extra = {k: v for k, v in g.items() if k not in ("name", "value", "ci", "threshold", "passed")}
    return _gate(g.get("name", "?"), g.get("value"), g.get("ci"), g.get("threshold"), g.get("passed"), source, **extra)


def _h(kw: dict) -> dict:
    """The two-level bootstrap's keywords out of the gate keywords."""
    return {k: kw[k] for k in ("confidence", "n_resamples", "seed", "min_seeds")}


def _above(ci: hier.TwoLevelCI, threshold: float) -> bool | None:
    """Gate lower bound (the more conservative of bootstrap and, below 10 seeds, t) >
    threshold; None when there is no CI (too few seeds)."""
    return None if ci.gate_low is None else ci.gate_low > threshold


PANEL_UNIT = "seeds×panel items"


def _from_ci(name, ci: hier.TwoLevelCI, threshold, source, rule, unit: str | None = None, **extra) -> dict:
    return _gate(name, ci.point, [ci.low, ci.high], threshold, _above(ci, threshold), source, rule=rule,
                 n_seeds=ci.n_seeds, n_items=ci.n_tasks, ci_unit=unit or ci.ci_unit, t_ci=_ci([ci.t_low, ci.t_high]),
                 gate_ci=_ci([ci.gate_low, ci.gate_high]), interval_used=ci.interval_used,
                 **({"note": ci.note} if ci.note else {}), **extra)


def _pct(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    a = (1 - confidence) / 2
    lo, hi = np.quantile(np.asarray(draws, float), [a, 1 - a])
    return float(lo), float(hi)


def _t_max_bound(stat, n_s: int, n_t: int, confidence: float) -> float | None:
    """Few seeds: a simultaneous lower bound of max_k theta_k from per-seed values with
    Student t and Bonferroni over the K candidates (seeds only: tasks fixed)."""
    if n_s >= hier.T_BELOW or n_s < 2:
        return None
    v = np.asarray(stat(hier.Resamples(np.eye(n_s), np.ones((n_s, n_t)))), float).reshape(n_s, -1)
    k = v.shape[1]
    q = sstats.t.ppf(1 - (1 - confidence) / k, n_s - 1)
    return float(np.max(v.mean(axis=0) - q * v.std(axis=0, ddof=1) / math.sqrt(n_s)))


# ---------------------------------------------------------------- teachability (controls)


def student_is_teachable(controls, t: dict, kw: dict, source="controls") -> list[dict]:
    """Can this student be taught by this recipe? The controls stage (results/controls/
    controls.json, teachable.training.controls) trains, per training seed, a positive control
    (teacher labels at the student's own states and fresh teacher demos) and the null control
    (null_replay: BASE's own actions), both evaluated on phase 3's tasks. Passed when the
    two-level (seeds x tasks, paired) CI of task success positive - null lies above 0. A
    test of its own family; `sentence` tells the user in one line what it means. `controls`:
    the file or its loaded dict."""
    rep = controls if isinstance(controls, dict) else read_json(controls)
    name, thr, pos, null = "student_is_teachable", 0.0, "positive", "null_replay"
    rule = "CI lower bound of task success (positive control - null control), seeds x tasks paired, > 0"
    extra = {"kind": "test", "family": "teachability", "positive_run": pos, "null_run": null}
    runs = (rep.get("outcomes") or {}).get("runs") or {}
    if pos not in runs or null not in runs:
        why = f"controls.runs lacks {' and '.join(r for r in (pos, null) if r not in runs)}"
        return [_missing(name, thr, source, why) | extra | {
            "rule": rule, "sentence": f"Whether this student can be taught is not known: {why}."}]
    x, n = np.asarray(runs[pos], float), np.asarray(runs[null], float)
    ci = hier.paired_diff(n, x, **_h(kw))
    g = _from_ci(name, ci, thr, source, rule, **extra)
    if g["passed"] is True:
        s = (f"This student can be taught: teacher labels at its own states and fresh teacher demos raise its "
             f"task success by {ci.point:+.3f} [{ci.low:+.3f}, {ci.high:+.3f}] over the null control, so the "
             "training matrix can show what supervision does.")
    elif g["passed"] is False:
        s = (f"This student could not be shown to be teachable: the positive control minus the null control is "
             f"{ci.point:+.3f} [{ci.low:+.3f}, {ci.high:+.3f}], a CI that does not lie above 0, so a null result "
             "in the training matrix may say more about the student or the recipe than about the method.")
    else:
        s = f"Whether this student can be taught is not known: {g.get('note') or 'no CI'}."
    g["sentence"] = s
    return [g]


def student_learnable(rep: dict, t: dict, kw: dict, source="learnability") -> list[dict]:
    """The learning curve (results/student/learnability.json) reaches its target held-out
    agreement with the teacher at some warm-start size: the teacher's action can be learnt
    from what the student sees (docs/student.md). A check of the student, not a test."""
    rows = rep.get("rows") or []
    thr = float(rep.get("target", 0.95))
    if not rows:
        return [_missing("student_learnable", thr, source, "the learning curve has no rows")]
    best = max(rows, key=lambda r: r["heldout_agreement"])
    return [_gate("student_learnable", best["heldout_agreement"], None, thr, best["heldout_agreement"] >= thr, source,
                  rule="max held-out agreement over warm-start sizes >= target", n_tasks=best["n_tasks"],
                  ceiling=rep.get("ceiling"), kind="check", family="teachability")]


def student_uses_advice(rep: dict, t: dict, kw: dict, source="bootstrap_report") -> list[dict]:
    """Where the student is wrong alone, a right-now patch puts it right at least half the time
    (right_now_share >= 0.5), and a wrong-now patch moves it at most 5 points
    (wrong_now_move <= 0.05): the follow rates of its build report (docs/student.md). Point
    values on the build's fresh tasks (no CI). Two checks."""
    f = rep.get("follow") or {}
    out = []
    for name, key, thr, ok in (("student_uses_right_advice", "right_now_share", 0.5, lambda v: v >= 0.5),
                               ("student_ignores_wrong_advice", "wrong_now_move", 0.05, lambda v: v <= 0.05)):
        v = f.get(key)
        if v is None:
            out.append(_missing(name, thr, source, f"the build report has no follow.{key} (a student built before "
                                                   "the measure existed, or no state it gets wrong)"))
        else:
            out.append(_gate(name, v, None, thr, bool(ok(v)), source, rule=f"follow.{key} vs {thr}",
                             n_states=f.get("n_states"), stale_move=f.get("stale_move"), kind="check",
                             family="teachability"))
    return out


# ---------------------------------------------------------------- phase 1 (labels)


def quadrant_balance(path, t: dict | None = None) -> list[dict]:
    """Every quadrant has at least gates.min_per_quadrant labeled snapshots, from the counts
    in labeling_metadata.json (thresholds.counts); the gate is computed here, not in
    label_gather, so a gate setting re-runs only the gates. Older metadata with a recorded
    'gates' list is copied."""
    meta = read_json(path)
    counts = ((meta.get("thresholds") or {}).get("counts") if isinstance(meta, dict) else None)
    if isinstance(counts, dict) and counts:
        need = int((t or DEFAULTS)["min_per_quadrant"])
        return [_gate("quadrant_balance", min(counts.values()), None, need, min(counts.values()) >= need, path,
                      counts=counts, rule="min over quadrants of labeled snapshots >= threshold")]
    gates = meta.get("gates") if isinstance(meta, dict) else None
    if not isinstance(gates, list):
        raise InputError(f"{path}: neither thresholds.counts nor a 'gates' list")
    return [_copy(g, path) for g in gates]


def quadrant_share(snaps: list[dict], t: dict, kw: dict, source="snapshots") -> list[dict]:
    """The smallest quadrant's share of labeled snapshots; CI: percentile bootstrap over
    trajectories; passed when the CI lower bound >= gates.min_quadrant_share."""
    thr = t["min_quadrant_share"]
    q = np.array([s["quadrant"] for s in snaps])
    if q.size == 0:
        return [_missing("quadrant_share", thr, source, "no labeled snapshots")]
    onehot = (q[:, None] == np.array(QUADRANTS)[None, :]).astype(float)
    w = cluster_weights(snapshot_clusters(snaps), kw["n_resamples"], kw["seed"])
    draws = ((w @ onehot) / w.sum(axis=1, keepdims=True)).min(axis=1)
    lo, hi = _pct(draws, kw["confidence"])
    shares = dict(zip(QUADRANTS, onehot.mean(axis=0).tolist()))
    return [_gate("quadrant_share", float(onehot.mean(axis=0).min()), [lo, hi], thr, lo >= thr, source, shares=shares,
                  n=int(q.size), ci_unit=UNIT_TRAJECTORIES,
                  rule="CI lower bound of min over quadrants of share >= threshold")]


def label_reliability(path) -> list[dict]:
    """Test-retest Spearman of the labels (phase1/label_reliability.json, docs/labeling.md)."""
    rep = read_json(path)
    if not isinstance(rep, dict) or not isinstance(rep.get("gate"), dict):
        raise InputError(f"{path}: no 'gate' object")
    return [_copy(rep["gate"], path)]


def placebo_sanity(snaps: list[dict], t: dict, kw: dict, source="snapshots") -> list[dict]:
    """TOST equivalence of the placebo with the unpatched policy: d = p_placebo - p_base per
    snapshot; both one-sided tests (mean d <= -margin, mean d >= +margin) rejected at level
    alpha, i.e. the (1 - 2 alpha) CI over trajectories lies inside [-margin, margin]
    (gates.placebo_max_abs). Fails when the placebo moves success or when the data are too few
    to show that it does not. The placebo's own effect is reported beside ELP: ELP vs base
    (ELP_raw) beside ELP vs placebo (ELP_net, ELP_net_xfit)."""
    thr = t["placebo_max_abs"]
    d = np.array([s["p_placebo"] - s["p_base"] for s in snaps], dtype=float)
    if d.size < 2:
        return [_missing("placebo_sanity", thr, source, "fewer than 2 labeled snapshots")]
    cl = snapshot_clusters(snaps)
    w = cluster_weights(cl, kw["n_resamples"], kw["seed"])
    draws = (w @ d) / w.sum(axis=1)
    a = kw["alpha"]
    lo90, hi90 = np.quantile(draws, [a, 1 - a])
    lo95, hi95 = _pct(draws, kw["confidence"])
    p_lower = float(np.mean(draws <= -thr))  # H0: mean d <= -margin
    p_upper = float(np.mean(draws >= thr))   # H0: mean d >= +margin
    ok = max(p_lower, p_upper) < a and -thr < lo90 and hi90 < thr
    def mean_of(k):
        v = [float(s[k]) for s in snaps if isinstance(s.get(k), (int, float)) and not isinstance(s.get(k), bool)]
        return float(np.mean(v)) if v else None
    beside = {"placebo_effect": float(d.mean()), "placebo_effect_ci": [lo95, hi95],
              "mean_ELP_vs_base": mean_of("ELP_raw"), "mean_ELP_vs_placebo": mean_of("ELP_net"),
              "mean_ELP_vs_placebo_xfit": mean_of(DECISION_ELP)}
    return [_gate("placebo_sanity", float(d.mean()), [float(lo90), float(hi90)], thr, ok, source, n=int(d.size),
                  share_nonzero=float(np.mean(d != 0)), p_tost=max(p_lower, p_upper), ci_level=1 - 2 * a,
                  ci_unit=UNIT_TRAJECTORIES, excludes_zero=bool(lo95 > 0 or hi95 < 0), **beside,
                  rule="TOST: both one-sided p < alpha, i.e. the (1 - 2 alpha) CI of mean(p_placebo - p_base) "
                       "inside (-margin, margin)")]


def cliffs_delta(x, y) -> float:
    """P(X > Y) - P(X < Y) = 2 U / (n m) - 1 (Mann-Whitney U of x vs y)."""
    u = sstats.mannwhitneyu(x, y).statistic
    return float(2 * u / (len(x) * len(y)) - 1)


def elp_heterogeneity(snaps: list[dict], t: dict, kw: dict, source="snapshots") -> list[dict]:
    """ELP_net differs by quadrant: Kruskal-Wallis p < alpha AND Cliff's delta between the
    quadrants with the highest and lowest mean ELP_net has a CI lower bound > threshold.
    The bootstrap (within quadrants) re-picks the top and bottom quadrant in every resample,
    so the CI pays for the choice."""
    thr = t["elp_cliffs_delta_min"]
    groups = {q: np.array([decision_elp(s) for s in snaps if s["quadrant"] == q], float) for q in QUADRANTS}
    groups = {q: g for q, g in groups.items() if g.size >= 2}
    if len(groups) < 2:
        return [_missing("elp_heterogeneity", thr, source, "fewer than 2 quadrants with 2+ snapshots")]
    allv = np.concatenate(list(groups.values()))
    if np.ptp(allv) == 0:
        return [_gate("elp_heterogeneity", 0.0, None, thr, False, source, kruskal_p=1.0,
                      note=f"{DECISION_ELP} is constant", rule="Kruskal-Wallis p < alpha and Cliff's delta CI low > threshold")]
    kw_res = sstats.kruskal(*groups.values())
    names = list(groups)

    def delta_of(gs):
        means = [g.mean() for g in gs]
        hi, lo = int(np.argmax(means)), int(np.argmin(means))
        return float(np.mean(np.sign(gs[hi][:, None] - gs[lo][None, :]))), names[hi], names[lo]

    point, top, bottom = delta_of(list(groups.values()))
    keep = [s for s in snaps if s["quadrant"] in groups]
    e = np.array([decision_elp(s) for s in keep], float)
    qa = np.array([s["quadrant"] for s in keep])
    draws = []
    for idx in cluster_indices(snapshot_clusters(keep), min(kw["n_resamples"], 2000), kw["seed"]):
        gs = [e[idx][qa[idx] == q] for q in groups]
        if min(g.size for g in gs) >= 1:
            draws.append(delta_of(gs)[0])
    lo, hi = _pct(np.array(draws), kw["confidence"])
    ok = kw_res.pvalue < kw["alpha"] and lo > thr
    return [_gate("elp_heterogeneity", point, [lo, hi], thr, ok, source, kruskal_h=float(kw_res.statistic),
                  kruskal_p=float(kw_res.pvalue), top_quadrant=top, bottom_quadrant=bottom,
                  n_per_quadrant={q: int(g.size) for q, g in groups.items()}, label=DECISION_ELP,
                  ci_unit=UNIT_TRAJECTORIES, rule="Kruskal-Wallis p < alpha and Cliff's delta(top vs bottom mean quadrant) CI low > threshold")]


# ---------------------------------------------------------------- phase 1B (micro-training)


def _spearman_p(records: list[dict] | None, quadrant: str | None, kw: dict) -> float | None:
    """One-sided bootstrap p of 'Spearman(ELP_net_xfit, utility) <= 0' over trajectories."""
    from .stats.correlation import _defined, _spearman

    if not records:
        return None
    rs = [r for r in records if quadrant is None or r.get("quadrant") == quadrant]
    if len(rs) < 3:
        return None
    x = np.array([decision_elp(r) for r in rs], float)
    y = np.array([float(r["utility"]) for r in rs], float)
    _, draws = cluster_bootstrap((x, y), snapshot_clusters(rs), lambda a, b: float(_defined(_spearman)(a, b)),
                                 n_resamples=min(kw["n_resamples"], 2000), seed=kw["seed"], keep_draws=True)
    return float(np.mean(draws <= 0)) if draws.size else None


def cpt_spearman(rep: dict, t: dict, kw: dict, source="cpt_correlation", records: list[dict] | None = None) -> list[dict]:
    """Spearman(ELP_net_xfit, utility) >= gates.cpt_spearman_min (effect size) and its CI lower
    bound > 0 (the association is there; CI and p over trajectories); per quadrant the same
    when n >= cpt_min_n_per_quadrant. The plug-in's Spearman is reported beside it."""
    thr = t["cpt_spearman_min"]
    rule = "Spearman >= threshold and CI lower bound > 0"
    out = []
    plug = ((rep.get("overall_plugin") or {}).get("spearman") or {}).get("r")

    def one(name, corr, q=None):
        sp = (corr or {}).get("spearman") or {}
        r, ci = sp.get("r"), _ci(sp.get("ci"))
        if r is None or ci is None or ci[0] is None:
            return _missing(name, thr, source, sp.get("note", "no Spearman CI"))
        p = _spearman_p(records, q, kw)
        return _gate(name, r, ci, thr, r >= thr and ci[0] > 0, source, n=corr.get("n"), rule=rule,
                     label=rep.get("x", "ELP_net"), ci_unit=(sp.get("ci") or {}).get("ci_unit", "snapshots"),
                     **({"p": p, "p_null_threshold": 0.0} if p is not None else {}),
                     **({"spearman_plugin": plug} if q is None and plug is not None else {}))

    out.append(one("cpt_spearman", rep.get("overall")))
    for q in QUADRANTS:
        corr = (rep.get("per_quadrant") or {}).get(q) or {}
        n = int(corr.get("n") or 0)
        if n < t["cpt_min_n_per_quadrant"]:
            out.append(_missing(f"cpt_spearman_{q}", thr, source,
                                f"n = {n} < cpt_min_n_per_quadrant = {t['cpt_min_n_per_quadrant']}: not gated"))
        else:
            out.append(one(f"cpt_spearman_{q}", corr, q))
    return out


def utility_q1_gt_q2(records: list[dict], t: dict, kw: dict, source="micro_results") -> list[dict]:
    """Mean micro-training utility of Q1 minus Q2 (different snapshots: unpaired; percentile
    bootstrap over trajectories, stratified by quadrant); passed when the CI lower bound >
    threshold. Partly definitional: micro-training raises the very action whose forced value
    L_local measures, so high-L states gain by construction of L; utility_own_panel_q1_gt_q2
    is the test that is not."""
    thr = t["utility_q1_q2_min"]
    u = {q: [float(r["utility"]) for r in records if r["quadrant"] == q] for q in QUADRANTS[:2]}
    if min(len(v) for v in u.values()) < 2:
        return [_missing("utility_q1_gt_q2", thr, source, f"needs 2+ panel snapshots in Q1 and Q2, got "
                         f"{ {q: len(v) for q, v in u.items()} }")]
    rs = [r for r in records if r["quadrant"] in QUADRANTS[:2]]
    y = np.array([float(r["utility"]) for r in rs])
    is1 = np.array([r["quadrant"] == QUADRANTS[0] for r in rs], float)
    w = cluster_weights(snapshot_clusters(rs), kw["n_resamples"], kw["seed"])
    w1, w2 = w * is1, w * (1 - is1)
    ok_rows = (w1.sum(axis=1) > 0) & (w2.sum(axis=1) > 0)
    draws = (w1 @ y)[ok_rows] / w1.sum(axis=1)[ok_rows] - (w2 @ y)[ok_rows] / w2.sum(axis=1)[ok_rows]
    point = float(np.mean(u[QUADRANTS[0]]) - np.mean(u[QUADRANTS[1]]))
    lo, hi = _pct(draws, kw["confidence"])
    return [_gate("utility_q1_gt_q2", point, [lo, hi], thr, lo > thr, source,
                  n_q1=len(u[QUADRANTS[0]]), n_q2=len(u[QUADRANTS[1]]), ci_unit=UNIT_TRAJECTORIES,
                  p=float(np.mean(draws <= thr)), p_null_threshold=thr, definitional="partly",
                  rule="CI lower bound of mean(U_Q1) - mean(U_Q2) > threshold (partly definitional: see "
                       "utility_own_panel_q1_gt_q2)")]


# ---------------------------------------------------------------- phase 3 (episodes)


def _format_matrix(M: Models, fmt: str) -> np.ndarray | None:
    rids = [f"{q}_{fmt}" for q in QUADRANTS if f"{q}_{fmt}" in M.run_ids]
    if not rids:
        return None
    mats = [M.m(r) for r in rids]
    if len({m.shape for m in mats}) > 1:
        raise InputError(f"runs {rids} have different seeds: cannot pool them by seed")
    return np.mean(mats, axis=0)


def _draws(fn, n_seeds, n_items, kw, strata=None):
    r = hier.resamples(n_seeds, n_items, kw["n_resamples"], kw["seed"], strata)
    return fn(None), fn(r)


def _too_few(name, thr, source, n_seeds, kw, rule):
    return _missing(name, thr, source, f"{hier.TOO_FEW} ({n_seeds} < {kw['min_seeds']}): no CI, not evaluated") \
        | {"rule": rule}


def supervision_differentiation(M: Models, t: dict, kw: dict, source="episodes") -> list[dict]:
    """Formats differ: spread = max - min over formats of mean task success of their 4
    quadrant runs (= of mean delta vs BASE). Lower bound from simultaneous bounds on every
    ordered pair of formats (the max is paid for), seeds x tasks resampled; passed when the
    lower bound > threshold."""
    thr = t["supervision_min_spread"]
    rule = "simultaneous lower bound of max - min over formats of mean delta vs BASE > threshold"
    mats = {f: _format_matrix(M, f) for f in FORMATS}
    mats = {f: m for f, m in mats.items() if m is not None}
    if len(mats) < 2:
        return [_missing("supervision_differentiation", thr, source, f"fewer than 2 formats with runs ({sorted(mats)})")]
    n_s = next(iter(mats.values())).shape[0]
    base = M.m("BASE")
    per_fmt = {f: hier.wmean(m, None) - hier.wmean(base, None) for f, m in mats.items()}
    if n_s < kw["min_seeds"]:
        return [_too_few("supervision_differentiation", thr, source, n_s, kw, rule)
                | {"per_format_mean_delta_base": per_fmt}]
    pairs = [(a, b) for a in mats for b in mats if a != b]

    def stat(r):
        means = {f: hier.wmean(m, r) for f, m in mats.items()}
        return np.stack([means[a] - means[b] for a, b in pairs], axis=-1)

    pts, draws = _draws(stat, n_s, base.shape[1], kw)
    top, low, p = hier.max_bound(pts, draws, kw["confidence"])
    t_low = _t_max_bound(stat, n_s, base.shape[1], kw["confidence"])
    g_low = low if t_low is None else min(low, t_low)
    return [_gate("supervision_differentiation", top, [low, None], thr, g_low > thr, source, p_value=p,
                  per_format_mean_delta_base=per_fmt, n_seeds=n_s, n_items=base.shape[1], ci_unit=hier.CI_UNIT,
                  t_ci=_ci([t_low, None]), gate_ci=[g_low, None], one_sided=True, rule=rule)]


def _pooled(M: Models) -> dict[str, np.ndarray]:
    return {q: pooled_panel(M, quadrant_runs(M, q)) for q in QUADRANTS if quadrant_runs(M, q)}


def transfer_diagonal(M: Models, t: dict, kw: dict, source="episodes") -> list[dict]:
    """Training on a quadrant helps its own held-out snapshots more than the others: mean
    diagonal - mean off-diagonal cell of the 4x4 transfer matrix (delta vs BASE); passed
    when the CI lower bound > threshold."""
    thr = t["transfer_min_diag_gap"]
    pooled = _pooled(M)
    masks = {q: M.quadrant_mask(q) for q in QUADRANTS if M.quadrant_mask(q).any()}
    diag = [q for q in pooled if q in masks]
    off = [(a, b) for a in pooled for b in masks if a != b]
    if not diag or not off:
        return [_missing("transfer_diagonal", thr, source, "needs diagonal and off-diagonal cells")]
    pb = M.m("BASE", "panel")

    def cell(a, b, r):
        return hier.wmean(pooled[a], r, masks[b]) - hier.wmean(pb, r, masks[b])

    def stat(r):
        return np.mean([cell(q, q, r) for q in diag], axis=0) - np.mean([cell(a, b, r) for a, b in off], axis=0)

    n_s = next(iter(pooled.values())).shape[0]
    ci = hier.two_level_ci(stat, n_s, pb.shape[1], strata=M.panel_quadrant, **_h(kw))
    return [_from_ci("transfer_diagonal", ci, thr, source, "CI lower bound of mean(diagonal) - mean(off-diagonal) > threshold",
                     unit=PANEL_UNIT)]


def panel_gain(M: Models, t: dict, kw: dict, source="episodes") -> list[dict]:
    """Held-out panel gain: runs trained on quadrant q (formats pooled) vs BASE on q's
    held-out panel snapshots, averaged over quadrants (the diagonal); CI lower bound > threshold."""
    thr = t["panel_gain_min"]
    pooled = _pooled(M)
    qs = [q for q in pooled if M.quadrant_mask(q).any()]
    if not qs:
        return [_missing("panel_gain", thr, source, "no quadrant run with held-out panel items")]
    pb = M.m("BASE", "panel")

    def stat(r):
        return np.mean([hier.wmean(pooled[q], r, M.quadrant_mask(q)) - hier.wmean(pb, r, M.quadrant_mask(q))
                        for q in qs], axis=0)

    n_s = pooled[qs[0]].shape[0]
    ci = hier.two_level_ci(stat, n_s, pb.shape[1], strata=M.panel_quadrant, **_h(kw))
    return [_from_ci("panel_gain", ci, thr, source, "CI lower bound of mean over quadrants of own-panel delta vs BASE > threshold",
                     unit=PANEL_UNIT)]


def utility_own_panel_q1_gt_q2(M: Models, t: dict, kw: dict, source="episodes") -> list[dict]:
    """The non-definitional form of utility_q1_gt_q2: phase-3 panel gain of a quadrant's own
    runs (formats pooled, delta vs BASE on that quadrant's held-out panel snapshots), Q1 minus
    Q2; different snapshots and models than the micro-training panel. Two-level CI (seeds x
    panel items within quadrant); passed when the gate lower bound > threshold."""
    thr = t["utility_own_panel_min"]
    q1, q2 = QUADRANTS[0], QUADRANTS[1]
    pooled = _pooled(M)
    if q1 not in pooled or q2 not in pooled or not M.quadrant_mask(q1).any() or not M.quadrant_mask(q2).any():
        return [_missing("utility_own_panel_q1_gt_q2", thr, source,
                         "needs Q1 and Q2 runs and held-out panel items of both quadrants in phase 3")]
    pb = M.m("BASE", "panel")
    m1, m2 = M.quadrant_mask(q1), M.quadrant_mask(q2)

    def stat(r):
        return (hier.wmean(pooled[q1], r, m1) - hier.wmean(pb, r, m1)) - \
            (hier.wmean(pooled[q2], r, m2) - hier.wmean(pb, r, m2))

    ci = hier.two_level_ci(stat, pooled[q1].shape[0], pb.shape[1], strata=M.panel_quadrant, **_h(kw))
    return [_from_ci("utility_own_panel_q1_gt_q2", ci, thr, source,
                     "gate lower bound of (own-panel delta vs BASE of Q1 runs) - (of Q2 runs) > threshold", unit=PANEL_UNIT)]


def best_quadrant_vs_b1(M: Models, t: dict, kw: dict, source="episodes") -> list[dict]:
    """For each quadrant, its best format's run beats B1_uniform on task success (paired by
    seed and task; the best-of-3 is paid for by simultaneous bounds); Holm across quadrants.
    Passed when some quadrant rejects 'best <= B1' after Holm and the lower bound > threshold."""
    thr = t["best_quadrant_vs_b1_min"]
    rule = "Holm-adjusted p < alpha for max over formats of (run - B1) in some quadrant, lower bound > threshold"
    if "B1_uniform" not in M.run_ids:
        return [_missing("best_quadrant_vs_b1", thr, source, "no B1_uniform run")]
    b1 = M.m("B1_uniform")
    n_s = b1.shape[0]
    per_q = {}
    for q in QUADRANTS:
        rids = [r for r in quadrant_runs(M, q)]
        if rids:
            per_q[q] = rids
    if not per_q:
        return [_missing("best_quadrant_vs_b1", thr, source, "no quadrant runs")]
    if n_s < kw["min_seeds"]:
        return [_too_few("best_quadrant_vs_b1", thr, source, n_s, kw, rule)]
    res = {}
    for q, rids in per_q.items():
        mats = [M.m(r) for r in rids]

        def stat(r, mats=mats):
            return np.stack([hier.wmean(m, r) - hier.wmean(b1, r) for m in mats], axis=-1)

        pts, draws = _draws(stat, n_s, b1.shape[1], kw)
        top, low, p = hier.max_bound(pts, draws, kw["confidence"])
        t_low = _t_max_bound(stat, n_s, b1.shape[1], kw["confidence"])
        res[q] = {"best_run": rids[int(np.argmax(pts))], "delta_b1": top, "lower_bound_bootstrap": low,
                  "lower_bound_t": t_low, "lower_bound": low if t_low is None else min(low, t_low), "p": p}
    adj = holm([v["p"] for v in res.values()], kw["alpha"])
    for (q, v), pa in zip(res.items(), adj["p_adjusted"]):
        v["p_holm"] = pa
    best = max(res, key=lambda q: res[q]["delta_b1"])
    ok = any(v["p_holm"] < kw["alpha"] and v["lower_bound"] > thr for v in res.values())
    return [_gate("best_quadrant_vs_b1", res[best]["delta_b1"], [res[best]["lower_bound"], None], thr, ok, source,
                  best_quadrant=best, per_quadrant=res, n_seeds=n_s, ci_unit=hier.CI_UNIT, one_sided=True,
                  p=min(v["p_holm"] for v in res.values()), rule=rule)]


def route_accuracy(M: Models, snaps: list[dict], t: dict, kw: dict, source="episodes+snapshots") -> list[dict]:
    """Share of labeled snapshots whose CPT route (labeling.decision: argmax of the gains with
    a seeded draw for ties, not route_net's fixed demo > hint > contrast order) is the best
    supervision format of their quadrant in phase 3 (the format whose run {q}_{format} has the
    highest success on q's held-out panel), against the majority-route baseline on the same
    data: the accuracy of routing every snapshot to the most common route. The bootstrap
    resamples trajectories and, jointly, seeds x panel items (re-picking the best format in
    each resample); passed when the lower bound of (accuracy - majority baseline) > 0 and the
    accuracy's lower bound > gates.route_accuracy_min."""
    thr = t["route_accuracy_min"]
    fm = {q: {f: M.m(f"{q}_{f}", "panel") for f in FORMATS if f"{q}_{f}" in M.run_ids} for q in QUADRANTS}
    fm = {q: v for q, v in fm.items() if v and M.quadrant_mask(q).any()}
    routed = with_decision_route(snaps, kw["seed"])
    sn = [s for s in routed if s.get("quadrant") in fm and s.get(DECISION_ROUTE) in FORMATS]
    if not sn:
        return [_missing("route_accuracy", thr, source, "no quadrant with format runs, panel items and routed snapshots")]
    n_s = next(iter(next(iter(fm.values())).values())).shape[0]
    sq = np.array([s["quadrant"] for s in sn])
    sr = np.array([s[DECISION_ROUTE] for s in sn])
    fidx = {f: i for i, f in enumerate(FORMATS)}
    counts = pd.Series(sr).value_counts()
    majority = str(sorted(counts.index[counts == counts.max()], key=lambda f: fidx[f])[0])
    n_tied = int(sum(1 for s in sn if (s.get("route_tied") or 1) > 1))

    def best(r):  # (B,) or scalar index per quadrant
        out = {}
        for q, mats in fm.items():
            vals = np.stack([np.atleast_1d(hier.wmean(m, r, M.quadrant_mask(q))) for m in mats.values()], axis=-1)
            names = list(mats)
            out[q] = np.array([fidx[names[i]] for i in np.argmax(vals, axis=-1)])
        return out

    b0 = best(None)
    route = np.array([fidx[x] for x in sr])
    hit0 = np.array([route[i] == b0[q][0] for i, q in enumerate(sq)], float)
    maj0 = np.array([fidx[majority] == b0[q][0] for q in sq], float)
    point, base_point = float(hit0.mean()), float(maj0.mean())
    extra = dict(best_format={q: FORMATS[int(v[0])] for q, v in b0.items()}, majority_route=majority,
                 majority_route_share=float(counts.max() / len(sn)), majority_baseline_accuracy=base_point,
                 accuracy_minus_majority=point - base_point, n_snapshots=len(sn), n_route_ties=n_tied,
                 route_label=DECISION_ROUTE, n_seeds=n_s)
    rule = ("lower bound of accuracy - majority-route accuracy (same resamples) > 0 and accuracy lower bound > "
            "threshold")
    if n_s < kw["min_seeds"]:
        return [_too_few("route_accuracy", thr, source, n_s, kw, rule) | {"value": point, **extra}]
    r = hier.resamples(n_s, M.m("BASE", "panel").shape[1], kw["n_resamples"], kw["seed"], M.panel_quadrant)
    bb = best(r)
    sw = cluster_weights(snapshot_clusters(sn), r.b, kw["seed"] + 1)  # (B, n_snaps), trajectories
    hits = np.stack([bb[q] == route[i] for i, q in enumerate(sq)], axis=-1)  # (B, n_snaps)
    maj = np.stack([bb[q] == fidx[majority] for q in sq], axis=-1)
    draws = (hits * sw).sum(axis=1) / sw.sum(axis=1)
    diff = ((hits.astype(float) - maj) * sw).sum(axis=1) / sw.sum(axis=1)
    lo, hi = _pct(draws, kw["confidence"])
    dlo, dhi = _pct(diff, kw["confidence"])
    return [_gate("route_accuracy", point, [lo, hi], thr, dlo > 0 and lo > thr, source,
                  ci_unit="trajectories and seeds×panel items", diff_ci=[dlo, dhi], p=float(np.mean(diff <= 0)),
                  p_null_threshold=0.0, **extra, rule=rule)]


def _null_matrix(M: Models, controls: dict | None) -> tuple[np.ndarray | None, list[int] | None, str]:
    """null_replay's (seeds x tasks) task success on phase 3's tasks: from phase-3 episodes
    when it is a run there, else from the controls stage's controls.json (outcomes.runs);
    (None, None, why) when neither has it."""
    if NULL_RUN in M.run_ids:
        return M.m(NULL_RUN), M.seeds(NULL_RUN), "episodes"
    o = (controls or {}).get("outcomes") or {}
    if NULL_RUN not in (o.get("runs") or {}):
        return None, None, "no null control: null_replay is evaluated neither in phase 3's episodes nor in " \
                           "the controls stage's controls.json"
    cols = {str(t): i for i, t in enumerate(o.get("tasks") or [])}
    missing = [t for t in M.tasks if t not in cols]
    if missing:
        raise InputError(f"controls.json: null_replay has no outcome for phase-3 task(s) {missing[:5]} "
                         "(the null control must be evaluated on phase 3's tasks)")
    mat = np.asarray(o["runs"][NULL_RUN], float)
    return mat[:, [cols[t] for t in M.tasks]], [int(x) for x in o.get("seeds") or []], "controls"


def retention_noninferiority(M: Models, controls: dict | None, t: dict, kw: dict,
                             source="episodes+controls") -> list[dict]:
    """Retention judged against the null fine-tune (null_replay: the recipe trained on BASE's
    own greedy actions, teachable.training.controls): for every trained run, drop(run) -
    drop(null_replay) on the tasks BASE solves, paired by seed and task (two-level); the run
    is non-inferior when the gate upper bound < gates.retention_ni_margin. Passed when every
    run is (an intersection-union test: no multiplicity correction). A symmetric flip rate
    (solved->failed plus failed->solved, over all tasks) is reported beside it, the null's too:
    a fixed drop threshold counts only losses, so greedy churn alone can fail it."""
    margin = t["retention_ni_margin"]
    rule = "every run: gate upper bound of drop(run) - drop(null_replay) < margin (non-inferiority)"
    null, null_seeds, where = _null_matrix(M, controls)
    if null is None:
        return [_missing("retention_noninferiority", margin, source, where) | {"rule": rule}]
    solved = M.base_solved()
    if not solved.any():
        return [_missing("retention_noninferiority", margin, source, "BASE solves no task: retention undefined")]
    base = M.m("BASE")[0] > 0.5

    def flips(x):
        x = x > 0.5
        lost = float(np.mean(base[None, :] & ~x))
        won = float(np.mean(~base[None, :] & x))
        return {"solved_to_failed": lost, "failed_to_solved": won, "flip_rate": lost + won}

    runs = [r for r in M.run_ids if r not in CONTROL_RUNS]
    if not runs:
        return [_missing("retention_noninferiority", margin, source, "no trained run beside the controls")]
    per, gates_hi, ps = {}, [], []
    for rid in runs:
        x = M.m(rid)
        if M.seeds(rid) != null_seeds:
            return [_missing("retention_noninferiority", margin, source,
                             f"{rid} has seeds {M.seeds(rid)}, {NULL_RUN} ({where}) {null_seeds}: the comparison is "
                             "paired by seed (train the null control on training.seeds)") | {"rule": rule}]
        ci = hier.two_level_ci(lambda r, x=x: hier.wmean(1.0 - x, r, solved) - hier.wmean(1.0 - null, r, solved),
                               x.shape[0], x.shape[1], keep_draws=True, **_h(kw))
        p = None if ci.draws is None else float(np.mean(ci.draws >= margin))
        per[rid] = {"drop_minus_null": ci.point, "ci": [ci.low, ci.high], "t_ci": [ci.t_low, ci.t_high],
                    "gate_high": ci.gate_high, "p": p, **flips(x), "note": ci.note}
        gates_hi.append(ci.gate_high)
        ps.append(p)
    worst = max(per, key=lambda r: per[r]["drop_minus_null"])
    w = per[worst]
    passed = None if any(h is None for h in gates_hi) else all(h < margin for h in gates_hi)
    return [_gate("retention_noninferiority", w["drop_minus_null"], w["ci"], margin, passed, source,
                  run_id=worst, per_run=per, null_flips=flips(null), null_source=where, n_base_solved=int(solved.sum()),
                  ci_unit=hier.CI_UNIT, gate_ci=_ci([None, w["gate_high"]]), direction="less",
                  p=None if any(q is None for q in ps) else max(ps), p_null_threshold=margin,
                  **({"note": "a run has no CI (too few seeds): not evaluated"} if passed is None else {}), rule=rule)]


def retention_drop(path, t: dict, kw: dict) -> list[dict]:
    """(Option gates.retention_fixed_drop) Every run's retention drop (on tasks BASE solves)
    is small: the largest CI upper bound over runs <= threshold (retention_results.csv,
    two-level CIs). Counts only losses: greedy churn alone can fail it."""
    thr = t["retention_drop_max"]
    df = read_csv(path, ("run_id", "retention_drop", "drop_ci_low", "drop_ci_high"))
    df = df[(df["run_id"] != "BASE") & df["retention_drop"].astype(float).notna()]
    if df.empty:
        return [_missing("retention_drop", thr, path, "no trained run with a retention_drop")]
    worst = df.loc[df["retention_drop"].astype(float).idxmax()]
    hi = df["drop_ci_high"].astype(float)
    rule = "max over runs of the retention-drop CI upper bound <= threshold"
    if hi.isna().any():
        return [_gate("retention_drop", worst["retention_drop"], None, thr, None, path, run_id=str(worst["run_id"]),
                      note="a run has no CI (too few seeds): not evaluated", rule=rule)]
    w = df.loc[hi.idxmax()]
    return [_gate("retention_drop", worst["retention_drop"], [worst["drop_ci_low"], worst["drop_ci_high"]], thr,
                  float(hi.max()) <= thr, path, run_id=str(worst["run_id"]), worst_upper_run=str(w["run_id"]),
                  worst_upper=float(hi.max()), direction="less", rule=rule)]


def listed_gates(path) -> list[dict]:
    """Gates recorded upstream as a 'gates' list (phase 4, phase 5)."""
    data = read_json(path)
    gates = data.get("gates") if isinstance(data, dict) else None
    if not isinstance(gates, list):
        raise InputError(f"{path}: no 'gates' list")
    return [_restate(_copy(g, path)) for g in gates]


def _restate(g: dict) -> dict:
    """An upstream gate with a CI and a numeric threshold passes only when its CI lower bound
    exceeds the threshold (strict: a tie or a CI that reaches the threshold fails)."""
    thr, ci = g.get("threshold"), _ci(g.get("gate_ci")) or g.get("ci")
    if isinstance(thr, (int, float)) and ci and ci[0] is not None:
        g["passed_upstream"] = g["passed"]
        g["passed"] = bool(ci[0] > thr)
        g["rule"] = "gate lower bound (the more conservative of bootstrap and t below 10 seeds) > threshold" \
            if g.get("gate_ci") else "CI lower bound > threshold"
    return g


# ---------------------------------------------------------------- the plan

_SNAP_KEYS = ("snapshot_id", "quadrant", "p_placebo", "p_base", "ELP_net", DECISION_ELP, "route_net")


def _episodes(p) -> Models:
    return Models(pd.read_csv(p, dtype={"item": str}))


PLAN = [  # (gate name for a missing input, needed sources, fn(loaded inputs, t, kw))
    ("student_is_teachable", ("controls",), lambda d, t, kw: student_is_teachable(d["controls"], t, kw)),
    ("student_learnable", ("learnability",), lambda d, t, kw: student_learnable(d["learnability"], t, kw)),
    ("student_uses_advice", ("student_report",), lambda d, t, kw: student_uses_advice(d["student_report"], t, kw)),
    ("quadrant_balance", ("labeling_metadata",), lambda d, t, kw: quadrant_balance(d["labeling_metadata"], t)),
    ("label_reliability", ("label_reliability",), lambda d, t, kw: label_reliability(d["label_reliability"])),
    ("quadrant_share", ("snapshots",), lambda d, t, kw: quadrant_share(d["snapshots"], t, kw)),
    ("placebo_sanity", ("snapshots",), lambda d, t, kw: placebo_sanity(d["snapshots"], t, kw)),
    ("elp_heterogeneity", ("snapshots",), lambda d, t, kw: elp_heterogeneity(d["snapshots"], t, kw)),
    ("cpt_spearman", ("cpt_correlation",),
     lambda d, t, kw: cpt_spearman(d["cpt_correlation"], t, kw, records=d.get("micro_results"))),
    ("utility_q1_gt_q2", ("micro_results",), lambda d, t, kw: utility_q1_gt_q2(d["micro_results"], t, kw)),
    ("supervision_differentiation", ("episodes",), lambda d, t, kw: supervision_differentiation(d["episodes"], t, kw)),
    ("transfer_diagonal", ("episodes",), lambda d, t, kw: transfer_diagonal(d["episodes"], t, kw)),
    ("panel_gain", ("episodes",), lambda d, t, kw: panel_gain(d["episodes"], t, kw)),
    ("utility_own_panel_q1_gt_q2", ("episodes",), lambda d, t, kw: utility_own_panel_q1_gt_q2(d["episodes"], t, kw)),
    ("best_quadrant_vs_b1", ("episodes",), lambda d, t, kw: best_quadrant_vs_b1(d["episodes"], t, kw)),
    ("route_accuracy", ("episodes", "snapshots"), lambda d, t, kw: route_accuracy(d["episodes"], d["snapshots"], t, kw)),
    ("retention_noninferiority", ("episodes",),
     lambda d, t, kw: retention_noninferiority(d["episodes"], d.get("controls"), t, kw)),
    ("retention_drop", ("retention",), lambda d, t, kw: retention_drop(d["retention"], t, kw)),  # option
    ("predictor_targets", ("training_result",), lambda d, t, kw: listed_gates(d["training_result"])),
    ("selection_order", ("selection_summary",), lambda d, t, kw: listed_gates(d["selection_summary"])),
]
THRESHOLD_KEY = {"quadrant_balance": "min_per_quadrant", "quadrant_share": "min_quadrant_share", "placebo_sanity": "placebo_max_abs",
                 "elp_heterogeneity": "elp_cliffs_delta_min", "cpt_spearman": "cpt_spearman_min",
                 "utility_q1_gt_q2": "utility_q1_q2_min", "supervision_differentiation": "supervision_min_spread",
                 "transfer_diagonal": "transfer_min_diag_gap", "panel_gain": "panel_gain_min",
                 "best_quadrant_vs_b1": "best_quadrant_vs_b1_min", "route_accuracy": "route_accuracy_min",
                 "retention_drop": "retention_drop_max", "retention_noninferiority": "retention_ni_margin",
                 "utility_own_panel_q1_gt_q2": "utility_own_panel_min"}
LOADERS = {
    "snapshots": lambda p: read_records(p, required=_SNAP_KEYS),
    "labeling_metadata": lambda p: p,
    "controls": read_json,
    "learnability": read_json,
    "student_report": read_json,
    "episodes": _episodes,
    "cpt_correlation": read_json,
    "micro_results": lambda p: (read_json(p) or {}).get("records") or [],
}


OPTIONAL = {"cpt_spearman": ("micro_results",), "retention_noninferiority": ("controls",)}


def thresholds(gcfg: dict) -> dict:
    return {k: (bool(gcfg[k]) if isinstance(v, bool) else float(gcfg[k])) if gcfg.get(k) is not None else v
            for k, v in DEFAULTS.items()}


# name (or prefix ending in '_' / '*'): (kind, family, unit). Checks: sanity of the run; tests:
# the method's hypotheses, Holm-adjusted within family. First match wins (exact, then prefix).
GATE_SPECS = {
    "student_is_teachable": ("test", "teachability", "seeds×tasks"),
    "student_learnable": ("check", "teachability", "held-out states"),
    "student_uses_advice": ("check", "teachability", "states (point value)"),
    "student_uses_right_advice": ("check", "teachability", "states (point value)"),
    "student_ignores_wrong_advice": ("check", "teachability", "states (point value)"),
    "quadrant_balance": ("check", "labels", "snapshots (counts)"),
    "quadrant_share": ("check", "labels", UNIT_TRAJECTORIES),
    "label_reliability": ("check", "labels", "snapshots (test-retest)"),
    "placebo_sanity": ("check", "labels", UNIT_TRAJECTORIES),
    "elp_heterogeneity": ("test", "cpt_labels", UNIT_TRAJECTORIES),
    "cpt_spearman*": ("test", "cpt_validity", UNIT_TRAJECTORIES),
    "route_accuracy": ("test", "cpt_validity", "trajectories and seeds×panel items"),
    "utility_q1_gt_q2": ("test", "quadrant_gains", UNIT_TRAJECTORIES),
    "utility_own_panel_q1_gt_q2": ("test", "quadrant_gains", "seeds×panel items"),
    "panel_gain": ("test", "quadrant_gains", "seeds×panel items"),
    "best_quadrant_vs_b1": ("test", "quadrant_gains", hier.CI_UNIT),
    "supervision_differentiation": ("test", "format_differentiation", hier.CI_UNIT),
    "transfer_diagonal": ("test", "transfer", "seeds×panel items"),
    "retention_noninferiority": ("test", "retention", hier.CI_UNIT),
    "retention_drop": ("test", "retention", hier.CI_UNIT),
    "predictor_*": ("test", "predictor", UNIT_TRAJECTORIES),
    "selection_*": ("test", "selection_order", hier.CI_UNIT),
}
FAMILY_ORDER = ("teachability", "labels", "cpt_labels", "cpt_validity", "quadrant_gains", "format_differentiation",
                "transfer", "retention", "predictor", "selection_order")


def spec_of(name: str) -> tuple[str, str, str]:
    if name in GATE_SPECS:
        return GATE_SPECS[name]
    for k, v in GATE_SPECS.items():
        if k.endswith(("*", "_")) and name.startswith(k.rstrip("*")):
            return v
    return ("test", "other", "unknown")


BY_CONSTRUCTION = {  # gate: (quadrants.method values under which it cannot fail, why)
    "quadrant_balance": (("median",), "median cuts put half the snapshots on each side of both cuts, so Q1 = Q3 "
                                      "and Q2 = Q4 in count (up to ties): the balance holds by construction"),
    "quadrant_share": (("median",), "median cuts fix both marginals at 1/2, so the quadrant shares only restate "
                                    "the cuts (Q1 = Q3, Q2 = Q4 up to ties): by construction"),
}


def _normal_p(g: dict, confidence: float) -> float | None:
    """One-sided p of 'the bound's hypothesis fails' from the gate interval, normal
    approximation: greater gates H0 value <= threshold, 'less' gates H0 value >= threshold."""
    v, thr = g.get("value"), g.get("threshold")
    ci = g.get("gate_ci") or g.get("ci")
    if not isinstance(v, (int, float)) or not isinstance(thr, (int, float)) or isinstance(thr, bool) or not ci:
        return None
    lo, hi = ci[0], ci[1]
    less = g.get("direction") == "less"
    if g.get("one_sided"):
        z = sstats.norm.ppf(confidence)
        se = (v - lo) / z if lo is not None else None
    else:
        z = sstats.norm.ppf((1 + confidence) / 2)
        se = (hi - lo) / (2 * z) if lo is not None and hi is not None else \
            ((hi - v) / z if less and hi is not None else None)
    if se is None or not se > 0:
        if se is None:
            return None
        return 0.0 if (v < thr if less else v > thr) else 1.0
    zstat = (thr - v) / se if less else (v - thr) / se
    return float(sstats.norm.sf(zstat))


def finalize(gates: list[dict], confidence: float = 0.95, alpha: float = 0.05,
             quadrant_method: str | None = None) -> list[dict]:
    """Kind, family and unit on every gate; by-construction checks; Holm within each family
    of tests (p_holm; `passed` becomes the adjusted verdict, `passed_unadjusted` keeps the
    bound's); a verdict string; ordered by family (the student test first)."""
    a = (1 - confidence) / 2  # one-sided level of a two-sided CI bound
    for g in gates:
        kind, fam, unit = spec_of(g["name"])
        g.update(kind=kind, family=fam)
        g.setdefault("ci_unit", unit)
        g["unit"] = g.get("ci_unit") or unit
        g["passed_unadjusted"] = g.get("passed")
        bc = BY_CONSTRUCTION.get(g["name"])
        g["by_construction"] = bool(bc and quadrant_method in bc[0])
        if g["by_construction"]:
            g["passed"] = None
            g["note"] = bc[1] + f" (quadrants.method: {quadrant_method}); not counted as a pass"
        if kind == "test" and g["passed_unadjusted"] is not None and g.get("p") is None:
            g["p"] = _normal_p(g, confidence)
            if g["p"] is not None:
                g["p_method"] = "normal approximation from the gate interval"
        elif kind == "test" and g.get("p") is not None:
            g.setdefault("p_method", "bootstrap share of resamples on the null side")
    for fam in {g["family"] for g in gates}:
        tests = [g for g in gates if g["family"] == fam and g["kind"] == "test" and g["passed_unadjusted"] is not None]
        adj = holm([g.get("p") for g in tests], a)
        for g, pa in zip(tests, adj["p_adjusted"]):
            g["p_holm"], g["family_size"] = pa, adj["m"]
            g["passed"] = bool(g["passed_unadjusted"]) and pa is not None and pa < a
    for g in gates:
        g["verdict"] = "by construction" if g["by_construction"] else \
            {True: "pass", False: "fail", None: "not evaluated"}[g["passed"]]
    rank = {f: i for i, f in enumerate(FAMILY_ORDER)}
    return sorted(gates, key=lambda g: rank.get(g["family"], len(rank)))  # stable within a family


def _quadrant_method(path) -> str | None:
    try:
        meta = read_json(path)
    except Exception:  # noqa: BLE001 - the quadrant_balance gate reports a bad file itself
        return None
    th = (meta or {}).get("thresholds") or {}
    return th.get("method") or ((meta or {}).get("quadrants") or {}).get("method")


def collect_gates(paths: dict[str, str | None], gcfg: dict, seed: int = 0, stats_cfg: dict | None = None) -> list[dict]:
    """Every gate. `paths` maps SOURCES names to files (None or absent = not produced)."""
    t = thresholds(gcfg)
    s = {**STATS_DEFAULTS, **(stats_cfg or {})}
    kw = {"confidence": float(s["confidence"]), "n_resamples": int(s["n_resamples"]), "seed": int(seed),
          "min_seeds": int(s["min_seeds"]), "alpha": float(s["alpha"])}
    loaded: dict = {}
    out = []
    for name, needs, fn in PLAN:
        if name == "retention_drop" and not t["retention_fixed_drop"]:
            continue  # the fixed drop threshold is an option (gates.retention_fixed_drop)
        absent = [k for k in needs if not paths.get(k) or not Path(paths[k]).exists()]
        if absent:
            out.append(_missing(name, t.get(THRESHOLD_KEY.get(name, "")), ",".join(str(paths.get(k) or k) for k in needs),
                                "input missing: " + ", ".join(str(paths.get(k) or k + " not given") for k in absent)))
            continue
        for k in needs:
            if k not in loaded:
                loaded[k] = LOADERS.get(k, lambda p: p)(paths[k])
        for opt in OPTIONAL.get(name, ()):  # inputs a gate uses when present
            if opt not in loaded and paths.get(opt) and Path(paths[opt]).exists():
                loaded[opt] = LOADERS.get(opt, lambda p: p)(paths[opt])
        out.extend(fn(loaded, t, kw))
    qm = _quadrant_method(paths["labeling_metadata"]) if paths.get("labeling_metadata") \
        and Path(paths["labeling_metadata"]).exists() else None
    return finalize(out, kw["confidence"], kw["alpha"], qm)


def summary_line(gates: list[dict]) -> str:
    """Tests (Holm-adjusted) and checks counted apart; by-construction checks are not passes."""
    def n(kind, v):
        return sum(g.get("kind", "test") == kind and g["passed"] is v and not g.get("by_construction") for g in gates)
    tests = [g for g in gates if g.get("kind", "test") == "test"]
    checks = [g for g in gates if g.get("kind") == "check"]
    bc = sum(bool(g.get("by_construction")) for g in gates)
    return (f"{len(tests)} tests (Holm within family): {n('test', True)} passed, {n('test', False)} failed, "
            f"{n('test', None)} not evaluated; {len(checks)} checks: {n('check', True)} passed, "
            f"{n('check', False)} failed, {bc} by construction, {n('check', None)} not evaluated")


def _fmt(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.3f}"
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in x) + "]"
    if isinstance(x, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in x.items())
    return str(x)


def _sentences(gates: list[dict]) -> list[str]:
    """The one-line answers some gates give a user (student_is_teachable), shown above the table."""
    return [f"**{g['sentence']}**" for g in gates if g.get("sentence")] + [""] * any(g.get("sentence") for g in gates)


def gates_markdown(gates: list[dict]) -> str:
    """gates.json as a Markdown table (name, kind, family, unit, value, CI, threshold, Holm p,
    adjusted verdict, rule or note)."""
    def verdict(g):
        if g.get("by_construction"):
            return "by construction"
        return {True: "pass", False: "**FAIL**", None: "not evaluated"}[g.get("passed")]
    rows = ["| gate | kind | family | unit | value | CI | threshold | p (Holm) | verdict | rule / note |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for g in gates:
        note = g.get("note") if g.get("by_construction") else (g.get("rule") or g.get("note") or "")
        rows.append(f"| {g['name']} | {g.get('kind', '-')} | {g.get('family', '-')} | {g.get('unit', '-')} | "
                    f"{_fmt(g.get('value'))} | {_fmt(g.get('gate_ci') or g.get('ci'))} | {_fmt(g.get('threshold'))} | "
                    f"{_fmt(g.get('p_holm'))} | {verdict(g)} | {' '.join(str(note).split())} |")
    return "\n".join(_sentences(gates) + rows + ["", summary_line(gates)])

"""Every decision gate of the method in one list -> results/gates.json (docs/statistics.md).

One function per gate; each returns a list of gate dicts {name, value, ci, threshold, passed,
rule, source, ...}. Where a CI exists the verdict is a statement about a CI bound (e.g. "CI
lower bound > 0"), never about the point alone, so a gate fails when the data cannot tell.
`passed` is null (not evaluated) when the input is missing or too small for a CI (e.g. fewer
than stats.min_seeds training seeds); the note says why. Nothing is invented.

To add a gate: write `def my_gate(data..., t: dict, kw: dict) -> list[dict]` using `_gate`,
and add one line to `PLAN` naming its input sources."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sstats

from .evaluation import Models, pooled_panel, quadrant_runs
from .figures import FORMATS, read_csv
from .io import InputError, read_json, read_records
from .labeling.quadrants import QUADRANTS
from .stats import bootstrap_ci, holm
from .stats import hierarchical as hier

DEFAULTS = {"placebo_max_abs": 0.1, "supervision_min_spread": 0.0, "retention_drop_max": 0.1,
            "transfer_min_diag_gap": 0.0, "min_quadrant_share": 0.1, "cpt_spearman_min": 0.3,
            "cpt_min_n_per_quadrant": 20, "elp_cliffs_delta_min": 0.147, "utility_q1_q2_min": 0.0,
            "route_accuracy_min": 0.4, "best_quadrant_vs_b1_min": 0.0, "panel_gain_min": 0.0}
SOURCES = ("labeling_metadata", "label_reliability", "cpt_correlation", "micro_results", "snapshots", "episodes", "retention",
           "training_result", "selection_summary")
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
    """CI lower bound > threshold; None when there is no CI (too few seeds)."""
    return None if ci.low is None else ci.low > threshold


def _from_ci(name, ci: hier.TwoLevelCI, threshold, source, rule, **extra) -> dict:
    return _gate(name, ci.point, [ci.low, ci.high], threshold, _above(ci, threshold), source, rule=rule,
                 n_seeds=ci.n_seeds, n_items=ci.n_tasks, ci_unit=ci.ci_unit,
                 **({"note": ci.note} if ci.note else {}), **extra)


# ---------------------------------------------------------------- phase 1 (labels)


def quadrant_balance(path) -> list[dict]:
    """Copied from labeling_metadata.json (labeling owns the count-based gate)."""
    meta = read_json(path)
    gates = meta.get("gates") if isinstance(meta, dict) else None
    if not isinstance(gates, list):
        raise InputError(f"{path}: no 'gates' list")
    return [_copy(g, path) for g in gates]


def quadrant_share(snaps: list[dict], t: dict, kw: dict, source="snapshots") -> list[dict]:
    """The smallest quadrant's share of labeled snapshots; CI: percentile bootstrap over
    snapshots; passed when the CI lower bound >= gates.min_quadrant_share."""
    thr = t["min_quadrant_share"]
    q = np.array([s["quadrant"] for s in snaps])
    if q.size == 0:
        return [_missing("quadrant_share", thr, source, "no labeled snapshots")]
    onehot = (q[:, None] == np.array(QUADRANTS)[None, :]).astype(float)
    ci = bootstrap_ci(np.arange(q.size), lambda i, axis=-1: onehot[i.astype(int)].mean(axis=-2).min(axis=-1),
                      method="percentile", n_resamples=kw["n_resamples"], seed=kw["seed"],
                      confidence=kw["confidence"])
    shares = dict(zip(QUADRANTS, onehot.mean(axis=0).tolist()))
    return [_gate("quadrant_share", ci.point, ci.to_dict(), thr, ci.low >= thr, source, shares=shares,
                  n=int(q.size), rule="CI lower bound of min over quadrants of share >= threshold")]


def label_reliability(path) -> list[dict]:
    """Test-retest Spearman of the labels (phase1/label_reliability.json, docs/labeling.md)."""
    rep = read_json(path)
    if not isinstance(rep, dict) or not isinstance(rep.get("gate"), dict):
        raise InputError(f"{path}: no 'gate' object")
    return [_copy(rep["gate"], path)]


def placebo_sanity(snaps: list[dict], t: dict, kw: dict, source="snapshots") -> list[dict]:
    """Equivalence: the CI of mean(p_placebo - p_base) over labeled snapshots lies inside
    [-threshold, threshold] (the no-content patch does not move success by itself). Fails
    when the placebo moves success or when the data are too few to show that it does not."""
    thr = t["placebo_max_abs"]
    d = np.array([s["p_placebo"] - s["p_base"] for s in snaps], dtype=float)
    if d.size < 2:
        return [_missing("placebo_sanity", thr, source, "fewer than 2 labeled snapshots")]
    ci = bootstrap_ci(d, "mean", method="percentile", n_resamples=kw["n_resamples"], seed=kw["seed"],
                      confidence=kw["confidence"])
    ok = -thr <= ci.low and ci.high <= thr
    return [_gate("placebo_sanity", float(d.mean()), ci.to_dict(), thr, ok, source, n=int(d.size),
                  share_nonzero=float(np.mean(d != 0)),
                  rule="CI of mean(p_placebo - p_base) inside [-threshold, threshold] (equivalence)")]


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
    groups = {q: np.array([s["ELP_net"] for s in snaps if s["quadrant"] == q], float) for q in QUADRANTS}
    groups = {q: g for q, g in groups.items() if g.size >= 2}
    if len(groups) < 2:
        return [_missing("elp_heterogeneity", thr, source, "fewer than 2 quadrants with 2+ snapshots")]
    allv = np.concatenate(list(groups.values()))
    if np.ptp(allv) == 0:
        return [_gate("elp_heterogeneity", 0.0, None, thr, False, source, kruskal_p=1.0,
                      note="ELP_net is constant", rule="Kruskal-Wallis p < alpha and Cliff's delta CI low > threshold")]
    kw_res = sstats.kruskal(*groups.values())
    names = list(groups)

    def delta_of(gs):
        means = [g.mean() for g in gs]
        hi, lo = int(np.argmax(means)), int(np.argmin(means))
        return float(np.mean(np.sign(gs[hi][:, None] - gs[lo][None, :]))), names[hi], names[lo]

    point, top, bottom = delta_of(list(groups.values()))
    rng = np.random.default_rng(kw["seed"])
    draws = np.array([delta_of([g[rng.integers(0, g.size, g.size)] for g in groups.values()])[0]
                      for _ in range(min(kw["n_resamples"], 2000))])
    a = (1 - kw["confidence"]) / 2
    lo, hi = np.quantile(draws, [a, 1 - a])
    ok = kw_res.pvalue < kw["alpha"] and lo > thr
    return [_gate("elp_heterogeneity", point, [lo, hi], thr, ok, source, kruskal_h=float(kw_res.statistic),
                  kruskal_p=float(kw_res.pvalue), top_quadrant=top, bottom_quadrant=bottom,
                  n_per_quadrant={q: int(g.size) for q, g in groups.items()},
                  rule="Kruskal-Wallis p < alpha and Cliff's delta(top vs bottom mean quadrant) CI low > threshold")]


# ---------------------------------------------------------------- phase 1B (micro-training)


def cpt_spearman(rep: dict, t: dict, kw: dict, source="cpt_correlation") -> list[dict]:
    """Spearman(ELP_net, utility) >= gates.cpt_spearman_min (effect size) and its CI lower
    bound > 0 (the association is there); per quadrant the same when n >= cpt_min_n_per_quadrant."""
    thr = t["cpt_spearman_min"]
    rule = "Spearman >= threshold and CI lower bound > 0"
    out = []

    def one(name, corr):
        sp = (corr or {}).get("spearman") or {}
        r, ci = sp.get("r"), _ci(sp.get("ci"))
        if r is None or ci is None or ci[0] is None:
            return _missing(name, thr, source, sp.get("note", "no Spearman CI"))
        return _gate(name, r, ci, thr, r >= thr and ci[0] > 0, source, n=corr.get("n"), rule=rule)

    out.append(one("cpt_spearman", rep.get("overall")))
    for q in QUADRANTS:
        corr = (rep.get("per_quadrant") or {}).get(q) or {}
        n = int(corr.get("n") or 0)
        if n < t["cpt_min_n_per_quadrant"]:
            out.append(_missing(f"cpt_spearman_{q}", thr, source,
                                f"n = {n} < cpt_min_n_per_quadrant = {t['cpt_min_n_per_quadrant']}: not gated"))
        else:
            out.append(one(f"cpt_spearman_{q}", corr))
    return out


def utility_q1_gt_q2(records: list[dict], t: dict, kw: dict, source="micro_results") -> list[dict]:
    """Mean micro-training utility of Q1 minus Q2 (different snapshots: unpaired, stratified
    percentile bootstrap); passed when the CI lower bound > threshold."""
    from .stats import unpaired_comparison

    thr = t["utility_q1_q2_min"]
    u = {q: [float(r["utility"]) for r in records if r["quadrant"] == q] for q in QUADRANTS[:2]}
    if min(len(v) for v in u.values()) < 2:
        return [_missing("utility_q1_gt_q2", thr, source, f"needs 2+ panel snapshots in Q1 and Q2, got "
                         f"{ {q: len(v) for q, v in u.items()} }")]
    uc = unpaired_comparison(u[QUADRANTS[1]], u[QUADRANTS[0]], method="percentile", n_resamples=kw["n_resamples"],
                             seed=kw["seed"], confidence=kw["confidence"])
    lo = uc.ci.low
    return [_gate("utility_q1_gt_q2", uc.mean_diff, [uc.ci.low, uc.ci.high], thr,
                  None if lo is None or not math.isfinite(lo) else lo > thr, source,
                  n_q1=len(u[QUADRANTS[0]]), n_q2=len(u[QUADRANTS[1]]), rule="CI lower bound of mean(U_Q1) - mean(U_Q2) > threshold")]


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
    return [_gate("supervision_differentiation", top, [low, None], thr, low > thr, source, p_value=p,
                  per_format_mean_delta_base=per_fmt, n_seeds=n_s, n_items=base.shape[1], ci_unit=hier.CI_UNIT,
                  rule=rule)]


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
    return [_from_ci("transfer_diagonal", ci, thr, source, "CI lower bound of mean(diagonal) - mean(off-diagonal) > threshold")]


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
    return [_from_ci("panel_gain", ci, thr, source, "CI lower bound of mean over quadrants of own-panel delta vs BASE > threshold")]


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
        res[q] = {"best_run": rids[int(np.argmax(pts))], "delta_b1": top, "lower_bound": low, "p": p}
    adj = holm([v["p"] for v in res.values()], kw["alpha"])
    for (q, v), pa in zip(res.items(), adj["p_adjusted"]):
        v["p_holm"] = pa
    best = max(res, key=lambda q: res[q]["delta_b1"])
    ok = any(v["p_holm"] < kw["alpha"] and v["lower_bound"] > thr for v in res.values())
    return [_gate("best_quadrant_vs_b1", res[best]["delta_b1"], [res[best]["lower_bound"], None], thr, ok, source,
                  best_quadrant=best, per_quadrant=res, n_seeds=n_s, ci_unit=hier.CI_UNIT, rule=rule)]


def route_accuracy(M: Models, snaps: list[dict], t: dict, kw: dict, source="episodes+snapshots") -> list[dict]:
    """Share of labeled snapshots whose CPT route_net is the best supervision format of their
    quadrant in phase 3 (the format whose run {q}_{format} has the highest success on q's
    held-out panel). The bootstrap resamples snapshots and, jointly, seeds x panel items (so
    the best format is re-picked per resample); passed when the CI lower bound > threshold."""
    thr = t["route_accuracy_min"]
    fm = {q: {f: M.m(f"{q}_{f}", "panel") for f in FORMATS if f"{q}_{f}" in M.run_ids} for q in QUADRANTS}
    fm = {q: v for q, v in fm.items() if v and M.quadrant_mask(q).any()}
    sn = [s for s in snaps if s.get("quadrant") in fm and s.get("route_net") in FORMATS]
    if not sn:
        return [_missing("route_accuracy", thr, source, "no quadrant with format runs, panel items and routed snapshots")]
    n_s = next(iter(next(iter(fm.values())).values())).shape[0]
    sq = np.array([s["quadrant"] for s in sn])
    sr = np.array([s["route_net"] for s in sn])
    fidx = {f: i for i, f in enumerate(FORMATS)}

    def best(r):  # (B,) or scalar index per quadrant
        out = {}
        for q, mats in fm.items():
            vals = np.stack([np.atleast_1d(hier.wmean(m, r, M.quadrant_mask(q))) for m in mats.values()], axis=-1)
            names = list(mats)
            out[q] = np.array([fidx[names[i]] for i in np.argmax(vals, axis=-1)])
        return out

    b0 = best(None)
    hit0 = np.array([fidx[r] == b0[q][0] for q, r in zip(sq, sr)], float)
    point = float(hit0.mean())
    if n_s < kw["min_seeds"]:
        return [_too_few("route_accuracy", thr, source, n_s, kw, "CI lower bound > threshold")
                | {"value": point, "best_format": {q: FORMATS[int(v[0])] for q, v in b0.items()}}]
    r = hier.resamples(n_s, M.m("BASE", "panel").shape[1], kw["n_resamples"], kw["seed"], M.panel_quadrant)
    bb = best(r)
    rng = np.random.default_rng(kw["seed"] + 1)
    sw = rng.multinomial(len(sn), np.full(len(sn), 1 / len(sn)), size=r.b)
    route = np.array([fidx[x] for x in sr])
    hits = np.stack([bb[q] == route[i] for i, q in enumerate(sq)], axis=-1)  # (B, n_snaps)
    draws = (hits * sw).sum(axis=1) / len(sn)
    a = (1 - kw["confidence"]) / 2
    lo, hi = np.quantile(draws, [a, 1 - a])
    counts = pd.Series(sr).value_counts(normalize=True)
    return [_gate("route_accuracy", point, [lo, hi], thr, lo > thr, source, n_snapshots=len(sn), n_seeds=n_s,
                  best_format={q: FORMATS[int(v[0])] for q, v in b0.items()},
                  majority_route_share=float(counts.iloc[0]), ci_unit="snapshots and seeds×panel items",
                  rule="CI lower bound of share(route_net == best phase-3 format of its quadrant) > threshold")]


def retention_drop(path, t: dict, kw: dict) -> list[dict]:
    """Every run's retention drop (on tasks BASE solves) is small: the largest CI upper
    bound over runs <= threshold (retention_results.csv, two-level CIs)."""
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
                  worst_upper=float(hi.max()), rule=rule)]


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
    thr, ci = g.get("threshold"), g.get("ci")
    if isinstance(thr, (int, float)) and ci and ci[0] is not None:
        g["passed_upstream"] = g["passed"]
        g["passed"] = bool(ci[0] > thr)
        g["rule"] = "CI lower bound > threshold"
    return g


# ---------------------------------------------------------------- the plan

_SNAP_KEYS = ("snapshot_id", "quadrant", "p_placebo", "p_base", "ELP_net", "route_net")


def _episodes(p) -> Models:
    return Models(pd.read_csv(p, dtype={"item": str}))


PLAN = [  # (gate name for a missing input, needed sources, fn(loaded inputs, t, kw))
    ("quadrant_balance", ("labeling_metadata",), lambda d, t, kw: quadrant_balance(d["labeling_metadata"])),
    ("label_reliability", ("label_reliability",), lambda d, t, kw: label_reliability(d["label_reliability"])),
    ("quadrant_share", ("snapshots",), lambda d, t, kw: quadrant_share(d["snapshots"], t, kw)),
    ("placebo_sanity", ("snapshots",), lambda d, t, kw: placebo_sanity(d["snapshots"], t, kw)),
    ("elp_heterogeneity", ("snapshots",), lambda d, t, kw: elp_heterogeneity(d["snapshots"], t, kw)),
    ("cpt_spearman", ("cpt_correlation",), lambda d, t, kw: cpt_spearman(d["cpt_correlation"], t, kw)),
    ("utility_q1_gt_q2", ("micro_results",), lambda d, t, kw: utility_q1_gt_q2(d["micro_results"], t, kw)),
    ("supervision_differentiation", ("episodes",), lambda d, t, kw: supervision_differentiation(d["episodes"], t, kw)),
    ("transfer_diagonal", ("episodes",), lambda d, t, kw: transfer_diagonal(d["episodes"], t, kw)),
    ("panel_gain", ("episodes",), lambda d, t, kw: panel_gain(d["episodes"], t, kw)),
    ("best_quadrant_vs_b1", ("episodes",), lambda d, t, kw: best_quadrant_vs_b1(d["episodes"], t, kw)),
    ("route_accuracy", ("episodes", "snapshots"), lambda d, t, kw: route_accuracy(d["episodes"], d["snapshots"], t, kw)),
    ("retention_drop", ("retention",), lambda d, t, kw: retention_drop(d["retention"], t, kw)),
    ("predictor_targets", ("training_result",), lambda d, t, kw: listed_gates(d["training_result"])),
    ("selection_order", ("selection_summary",), lambda d, t, kw: listed_gates(d["selection_summary"])),
]
THRESHOLD_KEY = {"quadrant_share": "min_quadrant_share", "placebo_sanity": "placebo_max_abs",
                 "elp_heterogeneity": "elp_cliffs_delta_min", "cpt_spearman": "cpt_spearman_min",
                 "utility_q1_gt_q2": "utility_q1_q2_min", "supervision_differentiation": "supervision_min_spread",
                 "transfer_diagonal": "transfer_min_diag_gap", "panel_gain": "panel_gain_min",
                 "best_quadrant_vs_b1": "best_quadrant_vs_b1_min", "route_accuracy": "route_accuracy_min",
                 "retention_drop": "retention_drop_max"}
LOADERS = {
    "snapshots": lambda p: read_records(p, required=_SNAP_KEYS),
    "episodes": _episodes,
    "cpt_correlation": read_json,
    "micro_results": lambda p: (read_json(p) or {}).get("records") or [],
}


def thresholds(gcfg: dict) -> dict:
    return {k: float(gcfg[k]) if gcfg.get(k) is not None else v for k, v in DEFAULTS.items()}


def collect_gates(paths: dict[str, str | None], gcfg: dict, seed: int = 0, stats_cfg: dict | None = None) -> list[dict]:
    """Every gate. `paths` maps SOURCES names to files (None or absent = not produced)."""
    t = thresholds(gcfg)
    s = {**STATS_DEFAULTS, **(stats_cfg or {})}
    kw = {"confidence": float(s["confidence"]), "n_resamples": int(s["n_resamples"]), "seed": int(seed),
          "min_seeds": int(s["min_seeds"]), "alpha": float(s["alpha"])}
    loaded: dict = {}
    out = []
    for name, needs, fn in PLAN:
        absent = [k for k in needs if not paths.get(k) or not Path(paths[k]).exists()]
        if absent:
            out.append(_missing(name, t.get(THRESHOLD_KEY.get(name, "")), ",".join(str(paths.get(k) or k) for k in needs),
                                "input missing: " + ", ".join(str(paths.get(k) or k + " not given") for k in absent)))
            continue
        for k in needs:
            if k not in loaded:
                loaded[k] = LOADERS.get(k, lambda p: p)(paths[k])
        out.extend(fn(loaded, t, kw))
    return out


def summary_line(gates: list[dict]) -> str:
    n = {v: sum(g["passed"] is v for g in gates) for v in (True, False, None)}
    return f"{len(gates)} gates: {n[True]} passed, {n[False]} failed, {n[None]} not evaluated"


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


def gates_markdown(gates: list[dict]) -> str:
    """gates.json as a Markdown table (name, value, CI, threshold, verdict, rule or note)."""
    verdict = {True: "pass", False: "**FAIL**", None: "not evaluated"}
    rows = ["| gate | value | CI | threshold | verdict | rule / note |", "|---|---|---|---|---|---|"]
    for g in gates:
        note = g.get("rule") or g.get("note") or ""
        rows.append(f"| {g['name']} | {_fmt(g.get('value'))} | {_fmt(g.get('ci'))} | {_fmt(g.get('threshold'))} | "
                    f"{verdict[g.get('passed')]} | {' '.join(str(note).split())} |")
    return "\n".join(rows + ["", summary_line(gates)])

"""Phase 5 summary: per method the mean and bootstrap CI over training seeds of each
metric, paired (same-seed) differences against random with CIs, paired t / Wilcoxon
p-values with a Holm correction across the methods compared with random, and the
selection-order gates (e.g. oracle >= predictor >= random)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..io import InputError
from ..stats import bootstrap_ci, holm, jsonable, paired_comparison
from ..stats import hierarchical as hier
from ..vocab import SELECTION_METHODS

# Metrics that per-episode rows (eval.episodes.csv) give at seeds x items level.
EPISODE_METRICS = {"task_success": "task", "panel_success": "panel"}

RUN_PREFIX = "selection_"


def run_id_of(method: str) -> str:
    return f"{RUN_PREFIX}{method}"


def collect(evals: list[dict], methods: list[str], metrics: list[str], sources: list[str] | None = None
            ) -> dict[str, dict[int, dict]]:
    """{method: {seed: metrics}} from eval.json records, checking that each record's method
    was actually used (no arm became another) and that every method has the same seeds."""
    sources = sources or [f"eval {i}" for i in range(len(evals))]
    out: dict[str, dict[int, dict]] = {m: {} for m in methods}
    for rec, src in zip(evals, sources):
        m, used = rec.get("method"), rec.get("method_used")
        if m not in out:
            raise InputError(f"{src}: method {m!r} is not one of selection.methods ({', '.join(methods)})")
        if used != m:
            raise InputError(f"{src}: arm '{m}' ran as {used!r}; an arm may never become another")
        seed = int(rec["seed"])
        if seed in out[m]:
            raise InputError(f"{src}: a second evaluation of method '{m}' seed {seed}")
        missing = [k for k in metrics if not isinstance((rec.get("metrics") or {}).get(k), (int, float))]
        if missing:
            raise InputError(f"{src}: metrics missing or not numbers: {', '.join(missing)}")
        out[m][seed] = rec["metrics"]
    empty = [m for m in methods if not out[m]]
    if empty:
        raise InputError(f"no evaluations for selection method(s) {', '.join(empty)}")
    seeds = {m: sorted(v) for m, v in out.items()}
    ref = seeds[methods[0]]
    for m in methods:
        if seeds[m] != ref:
            raise InputError(f"selection method '{m}' has seeds {seeds[m]}, '{methods[0]}' has {ref}: the paired "
                             "design needs the same seeds for every method")
    return out


def episode_matrices(episodes: pd.DataFrame, methods: list[str], metrics: list[str]) -> dict:
    """{metric: (strata or None, {method: (S, items) success matrix})} for metrics that
    per-episode rows support; items (tasks, panel snapshots) shared by every method."""
    ep = episodes.copy()
    ep["item"] = ep["item"].astype(str)
    out = {}
    for k in metrics:
        kind = EPISODE_METRICS.get(k)
        if kind is None:
            continue
        rows = ep[ep.kind == kind]
        ref = rows[rows.run_id == run_id_of(methods[0])].drop_duplicates("item").sort_values("item")
        if ref.empty:
            continue
        items = list(ref.item)
        mats = {m: hier.score_matrix(rows[rows.run_id == run_id_of(m)], "success", items=items)[0] for m in methods}
        strata = np.array(ref.quadrant.fillna("").astype(str)) if kind == "panel" else None
        out[k] = (strata, mats)
    return out


def _two_level(mats: dict, strata, a: str | None, b: str, n_res: int, seed: int, min_seeds: int):
    """Mean of b (a None) or paired b - a over seeds x items (same resample for both)."""
    x = mats[b]
    fn = (lambda r: hier.wmean(x, r)) if a is None else (lambda r: hier.wmean(x, r) - hier.wmean(mats[a], r))
    return hier.two_level_ci(fn, x.shape[0], x.shape[1], strata=strata, n_resamples=n_res, seed=seed,
                             min_seeds=min_seeds)


def summarize(evals: list[dict], picks: dict[str, dict], scfg: dict, seed: int,
              sources: list[str] | None = None, episodes: pd.DataFrame | None = None,
              min_seeds: int = 3) -> tuple[dict, pd.DataFrame]:
    """With `episodes` (every arm's eval.episodes.csv rows), task/panel success CIs and
    paired differences resample seeds x items (two-level, docs/statistics.md) and a CI is
    withheld below `min_seeds`; without, they resample seeds only (older records)."""
    methods = list(scfg["methods"])
    metrics = list(scfg["metrics"])
    baseline = scfg["baseline"]
    n_res = int(scfg["bootstrap_resamples"])
    data = collect(evals, methods, metrics, sources)
    seeds = sorted(data[methods[0]])
    em = episode_matrices(episodes, methods, metrics) if episodes is not None else {}
    per_method: dict = {}
    rows = []
    for m in methods:
        pk = picks.get(m, {})
        entry = {"method_used": pk.get("method_used", m), "budget": pk.get("budget"),
                 "scores": (pk.get("scores") or {}).get("score"), "picked_summary": pk.get("picked_summary"),
                 "seeds": seeds, "metrics": {}}
        for k in metrics:
            vals = [float(data[m][s][k]) for s in seeds]
            ci = bootstrap_ci(vals, "mean", n_resamples=n_res, seed=seed)
            e = {"values": vals, "mean": float(np.mean(vals)), "ci": ci.to_dict(), "ci_unit": "seeds"}
            if m != baseline and baseline in data:
                base = [float(data[baseline][s][k]) for s in seeds]
                pc = paired_comparison(base, vals, seeds=seeds, n_resamples=n_res, seed=seed)
                e[f"vs_{baseline}"] = pc.to_dict()
            if k in em:  # two-level replaces the seeds-only CI and difference
                strata, mats = em[k]
                tl = _two_level(mats, strata, None, m, n_res, seed, min_seeds)
                e.update(ci={"low": tl.low, "high": tl.high, "point": tl.point, "t_low": tl.t_low, "t_high": tl.t_high},
                         ci_unit=tl.ci_unit, ci_note=tl.note)
                if m != baseline and baseline in data:
                    d = _two_level(mats, strata, baseline, m, n_res, seed, min_seeds)
                    e[f"vs_{baseline}"].update(mean_diff=d.point, ci={"low": d.low, "high": d.high, "t_low": d.t_low,
                                                                      "t_high": d.t_high},
                                               t_pvalue=d.p_value, p_kind="two-level bootstrap",
                                               ci_unit=d.ci_unit, ci_note=d.note)
            entry["metrics"][k] = e
        per_method[m] = entry
    # Holm across the methods compared with the baseline, per metric (paired t p-values)
    for k in metrics:
        cands = [m for m in methods if m != baseline and baseline in data]
        pv = [per_method[m]["metrics"][k][f"vs_{baseline}"]["t_pvalue"] for m in cands]
        adj = holm(pv)
        for m, p_adj, rej in zip(cands, adj["p_adjusted"], adj["reject"]):
            per_method[m]["metrics"][k][f"vs_{baseline}"]["t_pvalue_holm"] = p_adj
            per_method[m]["metrics"][k][f"vs_{baseline}"]["reject_holm"] = rej
    for m in methods:
        for k in metrics:
            e = per_method[m]["metrics"][k]
            d = e.get(f"vs_{baseline}") or {}
            rows.append({
                "method": m, "method_used": per_method[m]["method_used"], "metric": k, "n_seeds": len(seeds),
                "mean": e["mean"], "ci_low": e["ci"]["low"], "ci_high": e["ci"]["high"],
                "ci_t_low": e["ci"].get("t_low"), "ci_t_high": e["ci"].get("t_high"),
                f"diff_vs_{baseline}": d.get("mean_diff"), "diff_ci_low": (d.get("ci") or {}).get("low"),
                "diff_ci_high": (d.get("ci") or {}).get("high"), "diff_ci_t_low": (d.get("ci") or {}).get("t_low"),
                "diff_ci_t_high": (d.get("ci") or {}).get("t_high"), "p_paired_t": d.get("t_pvalue"),
                "p_paired_t_holm": d.get("t_pvalue_holm"), "p_wilcoxon": d.get("wilcoxon_pvalue"),
                "budget": per_method[m]["budget"], "ci_unit": e.get("ci_unit"), "ci_note": e.get("ci_note", ""),
                "picked_mean_ELP_net": (per_method[m]["picked_summary"] or {}).get("mean_ELP_net"),
                "picked_mean_ELP_net_xfit": (per_method[m]["picked_summary"] or {}).get("mean_ELP_net_xfit"),
            })
    gates = order_gates(data, seeds, scfg, seed, em, min_seeds)
    summary = {"methods": methods, "seeds": seeds, "baseline": baseline, "metrics": metrics,
               "budget": scfg.get("budget"), "format": scfg.get("format"), "per_method": per_method,
               "gates": gates}
    return jsonable(summary), pd.DataFrame(rows)


def order_gates(data: dict, seeds: list[int], scfg: dict, seed: int, em: dict | None = None,
                min_seeds: int = 3) -> list[dict]:
    """One gate per (better, worse) pair in selection.gate_pairs and metric in
    selection.gate_metrics: value = mean over seeds of (better - worse); passed when the
    paired CI lower bound > selection.gate_margin (strict: a tie fails). The p-values are
    recorded beside it."""
    gates = []
    margin = float(scfg["gate_margin"])
    for better, worse in scfg["gate_pairs"]:
        for name in (better, worse):
            if name not in SELECTION_METHODS:
                raise InputError(f"selection.gate_pairs: unknown method '{name}' (known: {', '.join(SELECTION_METHODS)})")
        if better not in data or worse not in data:
            continue  # a method left out of selection.methods has no gate
        for k in scfg["gate_metrics"]:
            a = [float(data[worse][s][k]) for s in seeds]
            b = [float(data[better][s][k]) for s in seeds]
            pc = paired_comparison(a, b, seeds=seeds, n_resamples=int(scfg["bootstrap_resamples"]), seed=seed)
            g = {"ci_unit": "seeds"}
            if em and k in em:
                strata, mats = em[k]
                d = _two_level(mats, strata, worse, better, int(scfg["bootstrap_resamples"]), seed, min_seeds)
                lo = d.gate_low  # few seeds: the more conservative of the bootstrap and the t-interval
                g = {"ci_unit": d.ci_unit, "ci_note": d.note, "p_two_level": d.p_value,
                     "ci_override": {"low": d.low, "high": d.high}, "t_ci": [d.t_low, d.t_high],
                     "gate_ci": [d.gate_low, d.gate_high], "interval_used": d.interval_used}
            else:
                lo = pc.ci.low
            passed = None if lo is None else bool(np.isfinite(lo) and lo > margin)
            gates.append({
                "name": f"selection_{better}_ge_{worse}_{k}", "value": pc.mean_diff, "threshold": margin,
                "passed": passed, "ci": g.pop("ci_override", pc.ci.to_dict()), **g,
                "rule": "paired CI lower bound > gate_margin (strict: ties fail)",
                "p_paired_t": pc.t_pvalue, "p_wilcoxon": pc.wilcoxon_pvalue, "n_seeds": len(seeds),
                "description": f"mean over seeds of {k}({better}) - {k}({worse})"})
    return gates

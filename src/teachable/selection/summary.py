"""Phase 5 summary: per method the mean and bootstrap CI over training seeds of each
metric, paired (same-seed) differences against random with CIs, paired t / Wilcoxon
p-values with a Holm correction across the methods compared with random, and the
selection-order gates (e.g. oracle >= predictor >= random)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..io import InputError
from ..stats import bootstrap_ci, holm, jsonable, paired_comparison
from .pick import METHODS

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


def summarize(evals: list[dict], picks: dict[str, dict], scfg: dict, seed: int,
              sources: list[str] | None = None) -> tuple[dict, pd.DataFrame]:
    methods = list(scfg["methods"])
    metrics = list(scfg["metrics"])
    baseline = scfg["baseline"]
    n_res = int(scfg["bootstrap_resamples"])
    data = collect(evals, methods, metrics, sources)
    seeds = sorted(data[methods[0]])
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
            e = {"values": vals, "mean": float(np.mean(vals)), "ci": ci.to_dict()}
            if m != baseline and baseline in data:
                base = [float(data[baseline][s][k]) for s in seeds]
                pc = paired_comparison(base, vals, seeds=seeds, n_resamples=n_res, seed=seed)
                e[f"vs_{baseline}"] = pc.to_dict()
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
                f"diff_vs_{baseline}": d.get("mean_diff"), "diff_ci_low": (d.get("ci") or {}).get("low"),
                "diff_ci_high": (d.get("ci") or {}).get("high"), "p_paired_t": d.get("t_pvalue"),
                "p_paired_t_holm": d.get("t_pvalue_holm"), "p_wilcoxon": d.get("wilcoxon_pvalue"),
                "budget": per_method[m]["budget"],
                "picked_mean_ELP_net": (per_method[m]["picked_summary"] or {}).get("mean_ELP_net"),
            })
    gates = order_gates(data, seeds, scfg, seed)
    summary = {"methods": methods, "seeds": seeds, "baseline": baseline, "metrics": metrics,
               "budget": scfg.get("budget"), "format": scfg.get("format"), "per_method": per_method,
               "gates": gates}
    return jsonable(summary), pd.DataFrame(rows)


def order_gates(data: dict, seeds: list[int], scfg: dict, seed: int) -> list[dict]:
    """One gate per (better, worse) pair in selection.gate_pairs and metric in
    selection.gate_metrics: value = mean over seeds of (better - worse); passed when the
    paired CI lower bound > selection.gate_margin (strict: a tie fails). The p-values are
    recorded beside it."""
    gates = []
    margin = float(scfg["gate_margin"])
    for better, worse in scfg["gate_pairs"]:
        for name in (better, worse):
            if name not in METHODS:
                raise InputError(f"selection.gate_pairs: unknown method '{name}' (known: {', '.join(METHODS)})")
        if better not in data or worse not in data:
            continue  # a method left out of selection.methods has no gate
        for k in scfg["gate_metrics"]:
            a = [float(data[worse][s][k]) for s in seeds]
            b = [float(data[better][s][k]) for s in seeds]
            pc = paired_comparison(a, b, seeds=seeds, n_resamples=int(scfg["bootstrap_resamples"]), seed=seed)
            gates.append({
                "name": f"selection_{better}_ge_{worse}_{k}", "value": pc.mean_diff, "threshold": margin,
                "passed": bool(np.isfinite(pc.ci.low) and pc.ci.low > margin), "ci": pc.ci.to_dict(),
                "rule": "paired CI lower bound > gate_margin (strict: ties fail)",
                "ci_excludes_threshold": bool(np.isfinite(pc.ci.low) and pc.ci.low > margin),
                "p_paired_t": pc.t_pvalue, "p_wilcoxon": pc.wilcoxon_pvalue, "n_seeds": len(seeds),
                "description": f"mean over seeds of {k}({better}) - {k}({worse})"})
    return gates

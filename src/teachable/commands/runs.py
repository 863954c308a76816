"""`teachable runs ...`: build and query the run registry."""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict

import numpy as np

from ..io import InputError, write_json
from ..registry import build_registry, seed_values
from ..registry.reproduce import reproduce_plan
from ..stats import bootstrap_ci, paired_comparison, unpaired_comparison
from ._common import (db_parent, db_path, fmt, kv_table, open_registry, print_json, table)


def register(sub) -> None:
    p = sub.add_parser("runs", help="index and query training/evaluation runs")
    rs = p.add_subparsers(dest="cmd", metavar="COMMAND", required=True)
    common = db_parent()

    c = rs.add_parser("index", parents=[common], help="(re)build the registry from results files")
    c.add_argument("--skip-bad", action="store_true",
                   help="skip malformed files (listed in the report) instead of stopping")
    c.set_defaults(func=cmd_index)

    c = rs.add_parser("wandb", parents=[common], help="mirror the registry's runs to Weights & Biases (optional)")
    c.add_argument("--project", default="teachable")
    c.add_argument("--mode", choices=["offline", "online"], default="offline",
                   help="offline (default): local W&B run files, no account or network")
    c.add_argument("--dir", help="where W&B writes (default: RESULTS/wandb)")
    c.set_defaults(func=cmd_wandb)

    c = rs.add_parser("list", parents=[common], help="list runs")
    c.add_argument("--stage")
    c.add_argument("--status", choices=["done", "failed", "running"])
    c.add_argument("--metric", action="append", default=[], help="add a metric column (repeatable)")
    c.set_defaults(func=cmd_list)

    c = rs.add_parser("show", parents=[common], help="everything about a run (or all its seeds)")
    c.add_argument("runs", nargs="+", metavar="RUN",
                   help="RUN_ID/seedN, RUN_ID (all seeds) or STAGE:RUN_ID[/seedN]")
    c.set_defaults(func=cmd_show)

    c = rs.add_parser("leaderboard", parents=[common], help="rank run_ids by a metric (mean over seeds)")
    c.add_argument("--metric", required=True)
    c.add_argument("--top", type=int)
    c.add_argument("--stage")
    c.add_argument("--lower-is-better", action="store_true")
    _ci_args(c)
    c.set_defaults(func=cmd_leaderboard)

    c = rs.add_parser("compare", parents=[common], help="config differences and metrics side by side")
    c.add_argument("runs", nargs="+", metavar="RUN")
    c.add_argument("--all-params", action="store_true", help="show equal config values too")
    c.set_defaults(func=cmd_compare)

    c = rs.add_parser("significance", parents=[common],
                      help="test candidate B against control A on a metric (B - A)")
    c.add_argument("a", metavar="A", help="control")
    c.add_argument("b", metavar="B", help="candidate")
    c.add_argument("--metric", required=True)
    c.add_argument("--paired", action="store_true", help="pair on shared seeds")
    c.add_argument("--alpha", type=float, default=0.05)
    c.add_argument("--alternative", choices=["two-sided", "less", "greater"], default="two-sided")
    value_args(c)
    _ci_args(c, confidence=False)
    c.set_defaults(func=cmd_significance)

    c = rs.add_parser("export", parents=[common], help="write runs' full records to JSON")
    c.add_argument("runs", nargs="+", metavar="RUN")
    c.add_argument("--output", "-o", required=True)
    c.set_defaults(func=cmd_export)

    c = rs.add_parser("stats", parents=[common], help="what the registry holds")
    c.set_defaults(func=cmd_stats)

    c = rs.add_parser("reproduce", parents=[common],
                      help="print the snakemake command that rebuilds a run")
    c.add_argument("runs", nargs="+", metavar="RUN")
    c.add_argument("--configfile", default="config/config.yaml")
    c.add_argument("--cores", type=int, default=2)
    c.add_argument("--overrides-file", help="where nested overrides are written "
                   "(default RESULTS/reproduce/RUN_ID/seedN.yaml)")
    c.add_argument("--no-write", action="store_true", help="do not write the overrides file")
    c.set_defaults(func=cmd_reproduce)


def _ci_args(c, confidence: bool = True) -> None:
    if confidence:
        c.add_argument("--confidence", type=float, default=0.95)
    c.add_argument("--method", choices=["BCa", "percentile"], default="BCa")
    c.add_argument("--n-resamples", type=int, default=9999)
    c.add_argument("--seed", type=int, default=0, help="bootstrap seed")


def value_args(c) -> None:
    """How a run's value is taken: final metric or a learning-curve summary."""
    c.add_argument("--summary", choices=["value", "auc", "final", "slope"],
                   help="value: final metric; auc/final/slope: learning curve from "
                        "metrics.jsonl (default: auc when every run logs the metric, else value)")
    c.add_argument("--window", nargs=2, type=float, metavar=("START", "END"),
                   help="step window for curve summaries (default: common to all runs)")
    c.add_argument("--last-k", type=int, default=1, help="points averaged by --summary final")


# -- commands ----------------------------------------------------------------------------
def cmd_wandb(args) -> int:
    from ..registry.wandb_mirror import mirror_to_wandb

    dirs = mirror_to_wandb(db_path(args), args.project, args.mode, args.dir or os.path.join(args.results, "wandb"))
    if args.json:
        print_json({"runs": len(dirs), "dirs": dirs})
    else:
        print(f"mirrored {len(dirs)} runs to W&B project '{args.project}' ({args.mode})")
    return 0


def cmd_index(args) -> int:
    rep = build_registry(args.results, db_path(args), skip_bad=args.skip_bad)
    if args.json:
        print_json(rep.to_dict())
        return 0
    print(f"indexed {rep.runs} runs ({rep.eval_only} evaluation-only) into {rep.db}: "
          f"{rep.params} params, {rep.metrics} metrics, {rep.step_rows} step values, "
          f"{rep.checkpoints} checkpoints")
    for w in rep.warnings:
        print(f"warning: {w}", file=sys.stderr)
    for s in rep.skipped:
        print(f"skipped: {s}", file=sys.stderr)
    return 0


def _unique(groups: dict[str, list[dict]]) -> list[dict]:
    """Runs of several names in order, each once."""
    out: dict[int, dict] = {}
    for runs in groups.values():
        for r in runs:
            out.setdefault(r["pk"], r)
    return list(out.values())


def _commit(r: dict) -> str:
    if not r["git_commit"]:
        return "-"
    return r["git_commit"][:8] + ("*" if r["git_dirty"] else "")


def cmd_list(args) -> int:
    with open_registry(args) as reg:
        rows, runs = [], reg.runs(args.stage, args.status)
        for r in runs:
            row = {"run": r["key"], "stage": r["stage"], "status": r["status"],
                   "wall_time_s": r["wall_time_s"], "n_examples": r["n_examples"],
                   "n_tokens": r["n_tokens"], "commit": _commit(r), "started_at": r["started_at"]}
            if args.metric:
                m = reg.metrics(r["pk"])
                row.update({k: m.get(k) for k in args.metric})
            rows.append(row)
    if args.json:
        for row, r in zip(rows, runs):
            row.pop("commit")
            row.update(git_commit=r["git_commit"],
                       git_dirty=None if r["git_dirty"] is None else bool(r["git_dirty"]))
        print_json(rows)
    else:
        print(table(rows))
    return 0


def cmd_show(args) -> int:
    with open_registry(args) as reg:
        runs = _unique(reg.resolve(args.runs))
        recs = [reg.record(r) for r in runs]
        curves = {r["key"]: reg.step_metric_names(r["pk"]) for r in runs}
    if args.json:
        print_json(recs if len(recs) > 1 else recs[0])
        return 0
    for rec in recs:
        head = {k: rec[k] for k in ("key", "stage", "status", "run_json", "eval_json",
                                     "metrics_jsonl", "wall_time_s", "n_examples", "n_tokens",
                                     "adapter_path", "git_commit", "git_dirty", "host",
                                     "device", "started_at", "finished_at")}
        print(f"== {rec['key']} ({rec['stage']})")
        print(kv_table(head))
        print("\nmetrics")
        print(table([[k, v, rec["metric_sources"][k]] for k, v in rec["metrics"].items()],
                    headers=["metric", "value", "source"]))
        if curves[rec["key"]]:
            print("\nlearning curves (metrics.jsonl)")
            print(table([{"name": k, **v} for k, v in curves[rec["key"]].items()]))
        if rec["checkpoints"]:
            print("\ncheckpoints")
            print(table(rec["checkpoints"]))
        from ..registry import flatten

        print("\nconfig")
        print(table([[k, json.dumps(v)] for k, v in flatten(rec["config"])], headers=["key", "value"]))
        print()
    return 0


def _ci_dict(values, args, confidence=None) -> dict:
    ci = bootstrap_ci(values, "mean", confidence=confidence or args.confidence, method=args.method,
                      n_resamples=args.n_resamples, seed=args.seed)
    return {"ci_low": ci.low, "ci_high": ci.high, "ci_note": ci.note}


def cmd_leaderboard(args) -> int:
    with open_registry(args) as reg:
        groups = defaultdict(list)
        for r in reg.runs(args.stage, "done"):
            v = reg.metrics(r["pk"]).get(args.metric)
            if v is not None:
                groups[(r["stage"], r["run_id"])].append((r["seed"], v))
        if not groups:
            known = ", ".join(reg.metric_names()) or "none"
            raise InputError(f"no finished run has metric '{args.metric}' (metrics: {known})")
    rows = []
    for (stage, run_id), sv in groups.items():
        vals = np.array([v for _, v in sv])
        rows.append({"run_id": run_id, "stage": stage, "n": len(vals), "mean": float(vals.mean()),
                     "std": float(vals.std(ddof=1)) if len(vals) > 1 else None,
                     **_ci_dict(vals, args), "seeds": sorted(s for s, _ in sv)})
    rows.sort(key=lambda r: r["mean"], reverse=not args.lower_is_better)
    for i, r in enumerate(rows, 1):
        r["rank"] = i
    rows = rows[: args.top] if args.top else rows
    if args.json:
        print_json({"metric": args.metric, "confidence": args.confidence, "method": args.method,
                    "n_resamples": args.n_resamples, "seed": args.seed, "rows": rows})
        return 0
    print(f"{args.metric} (mean over seeds, {args.confidence:.0%} bootstrap CI of the mean, "
          f"{args.method}, {'lower' if args.lower_is_better else 'higher'} is better)")
    print(table([{"rank": r["rank"], "run_id": r["run_id"], "stage": r["stage"], "n": r["n"],
                  "mean": r["mean"], "std": r["std"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                  "seeds": ",".join(map(str, r["seeds"]))} for r in rows]))
    notes = sorted({r["ci_note"] for r in rows if r["ci_note"]})
    for n in notes:
        print(f"note: {n}")
    return 0


_VARIES = "<varies>"


def cmd_compare(args) -> int:
    with open_registry(args) as reg:
        groups = reg.resolve(args.runs)
        params, metrics = {}, {}
        for name, runs in groups.items():
            per = [reg.params(r["pk"]) for r in runs]
            keys = set().union(*per)
            params[name] = {k: (per[0].get(k, None) if all(p.get(k, _VARIES) == per[0].get(k, _VARIES)
                                                           for p in per) else _VARIES) for k in keys}
            ms = [reg.metrics(r["pk"]) for r in runs]
            metrics[name] = {m: [x[m] for x in ms if x.get(m) is not None] for m in set().union(*ms)}
    names = list(groups)
    all_keys = sorted(set().union(*params.values()))
    missing = "<absent>"
    diff = {k: {n: params[n].get(k, missing) for n in names} for k in all_keys}
    if not args.all_params:
        diff = {k: v for k, v in diff.items()
                if len({json.dumps(x, sort_keys=True) for x in v.values()}) > 1}
    msum = {}
    for m in sorted(set().union(*metrics.values())):
        msum[m] = {}
        for n in names:
            vals = metrics[n].get(m, [])
            msum[m][n] = {"mean": float(np.mean(vals)) if vals else None,
                          "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else None,
                          "n": len(vals), "values": vals}
    if args.json:
        print_json({"runs": {n: [r["key"] for r in groups[n]] for n in names},
                    "config_diff": diff, "metrics": msum})
        return 0
    print("config " + ("(all keys)" if args.all_params else "differences"))
    print(table([[k, *[v if isinstance(v, str) else json.dumps(v) for v in d.values()]]
                 for k, d in diff.items()], headers=["key", *names]) if diff else "(identical)")
    print("\nmetrics (mean ± sd over seeds, n)")

    def cell(s):
        if not s["n"]:
            return "-"
        if s["n"] == 1:
            return fmt(s["mean"])
        sd = s["std"] if abs(s["std"]) > 1e-12 * max(1.0, abs(s["mean"])) else 0.0  # round-off
        return f"{fmt(s['mean'])} ± {fmt(sd, 2)} ({s['n']})"

    print(table([[m, *[cell(s[n]) for n in names]] for m, s in msum.items()],
                headers=["metric", *names], fmt_values=False))
    return 0


def cmd_significance(args) -> int:
    with open_registry(args) as reg:
        sv = seed_values(reg, [args.a, args.b], args.metric, args.summary,
                         tuple(args.window) if args.window else None, args.last_k)
    a, b = sv.values[args.a], sv.values[args.b]
    common = dict(alpha=args.alpha, method=args.method, n_resamples=args.n_resamples,
                  seed=args.seed, alternative=args.alternative)
    info = {"control": args.a, "candidate": args.b, "metric": args.metric, "summary": sv.summary,
            "window": sv.window, "paired": args.paired}
    if args.paired:
        seeds = sorted(set(a) & set(b))
        if not seeds:
            raise InputError(f"{args.a} and {args.b} share no seeds "
                             f"({sorted(a)} vs {sorted(b)}); drop --paired")
        info["unshared_seeds"] = {"control": sorted(set(a) - set(seeds)),
                                  "candidate": sorted(set(b) - set(seeds))}
        res = paired_comparison([a[s] for s in seeds], [b[s] for s in seeds], seeds=seeds, **common)
    else:
        res = unpaired_comparison(list(a.values()), list(b.values()), **common)
    out = {**info, "skipped_not_done": sv.skipped, "result": res.to_dict()}
    if args.json:
        print_json(out)
        return 0
    d = res.to_dict()
    ci = d.pop("ci")
    notes = d.pop("notes")
    print(f"{args.metric} ({sv.summary}{'' if sv.window is None else f', steps {sv.window[0]:g}-{sv.window[1]:g}'}): "
          f"candidate {args.b} - control {args.a}, {'paired on seeds ' + ','.join(map(str, seeds)) if args.paired else 'unpaired (Welch)'}")
    d.update({"ci_low": ci["low"], "ci_high": ci["high"], "ci_method": ci["method"],
              "ci_confidence": ci["confidence"]})
    print(kv_table(d))
    for n in notes:
        print(f"note: {n}")
    if args.paired and any(info["unshared_seeds"].values()):
        print(f"note: seeds without a partner were left out: {info['unshared_seeds']}")
    return 0


def cmd_export(args) -> int:
    with open_registry(args) as reg:
        recs = [reg.record(r) for r in _unique(reg.resolve(args.runs))]
        results = str(reg.results_dir)
    from ..stats import jsonable

    write_json(args.output, jsonable({"registry": str(db_path(args)), "results_dir": results,
                                      "runs": recs}))
    if args.json:
        print_json({"output": args.output, "runs": [r["key"] for r in recs]})
    else:
        print(f"wrote {len(recs)} run(s) to {args.output}")
    return 0


def cmd_stats(args) -> int:
    with open_registry(args) as reg:
        runs = reg.runs()
        per_id = defaultdict(set)
        for r in runs:
            per_id[(r["stage"], r["run_id"])].add(r["seed"])
        ck = reg.con.execute("SELECT SUM(present), COUNT(*) FROM checkpoints").fetchone()
        out = {
            "db": str(db_path(args)), "results_dir": str(reg.results_dir),
            "runs": len(runs), "run_ids": len(per_id),
            "by_stage": reg.grouped("stage"), "by_status": reg.grouped("status"),
            "seeds_per_run_id": {f"{s}:{i}": sorted(v) for (s, i), v in sorted(per_id.items())},
            "git_commits": reg.grouped("git_commit"),
            "dirty_runs": sum(1 for r in runs if r["git_dirty"]),
            "wall_time_s_total": float(sum(r["wall_time_s"] or 0 for r in runs)),
            "n_tokens_total": int(sum(r["n_tokens"] or 0 for r in runs)),
            "metrics": reg.metric_names(), "step_metrics": reg.step_names(),
            "checkpoints": {"present": int(ck[0] or 0), "missing": int(ck[1] - (ck[0] or 0))},
            "rows": {t: reg.count(t) for t in ("runs", "params", "metrics", "step_metrics", "checkpoints")},
        }
    if args.json:
        print_json(out)
        return 0
    print(kv_table({k: out[k] for k in ("db", "results_dir", "runs", "run_ids", "dirty_runs",
                                        "wall_time_s_total", "n_tokens_total")}))
    for key in ("by_stage", "by_status", "checkpoints", "rows"):
        print(f"\n{key.replace('_', ' ')}")
        print(table([[k, v] for k, v in out[key].items()], headers=["", "count"]))
    print("\nseeds per run_id")
    print(table([[k, ",".join(map(str, v)), len(v)] for k, v in out["seeds_per_run_id"].items()],
                headers=["run_id", "seeds", "n"]))
    print("\nmetrics (runs having it)")
    print(table([[k, v, "final"] for k, v in out["metrics"].items()]
                + [[k, v, "curve"] for k, v in out["step_metrics"].items()],
                headers=["metric", "runs", "kind"]))
    return 0


def cmd_reproduce(args) -> int:
    with open_registry(args) as reg:
        runs = _unique(reg.resolve(args.runs))
        if args.overrides_file and len(runs) > 1:
            raise InputError(f"--overrides-file needs one run; {' '.join(args.runs)} names {len(runs)}")
        plans = [reproduce_plan(reg, r, configfile=args.configfile, cores=args.cores,
                                overrides_file=args.overrides_file, write=not args.no_write)
                 for r in runs]
    if args.json:
        print_json(plans if len(plans) > 1 else plans[0])
        return 0
    for p in plans:
        print(f"# {p['run']} ({p['stage']})")
        for n in p["notes"]:
            print(f"# note: {n}")
        if p["overrides"]:
            print("# overrides vs " + args.configfile + ": "
                  + ", ".join(f"{k}={json.dumps(v)}" for k, v in p["overrides"].items()))
        if p["overrides_file"]:
            where = os.path.relpath(p["overrides_file"])
            print(f"# nested overrides {'would go' if args.no_write else 'written'} to {where}")
        if p["run_only_keys"]:
            print("# run-specific keys (set by the rule, not overridable): " + ", ".join(p["run_only_keys"]))
        print(p["command"])
    return 0

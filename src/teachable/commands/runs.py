"""`teachable runs ...`: build and query the run registry."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..io import write_json
from ..registry import analysis, build_registry, flatten
from ..workflow.scripting import add, add_config_arg
from ..stats import jsonable
from ._common import db_parent, db_path, fmt, kv_table, open_registry, print_json, table


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
    c.add_argument("--entity", help="W&B entity (team or user; default: your W&B default)")
    c.add_argument("--mode", choices=["offline", "online"], default="offline",
                   help="offline (default): local W&B run files, no account or network; WANDB_MODE overrides")
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
    add_config_arg(c, required=False, default="config/config.yaml", dest="configfile",
                   help="the pipeline config the run is reproduced against (YAML)")
    add(c, "configfiles", dest="configfile", action="store", nargs=None, default=None, metavar=None,
        help=argparse.SUPPRESS)  # old spelling
    c.add_argument("--cores", type=int, default=2)
    c.add_argument("--overrides-file", help="where nested overrides are written "
                   "(default RESULTS/reproduce/RUN_ID/seedN.yaml)")
    c.add_argument("--no-write", action="store_true", help="do not write the overrides file")
    c.set_defaults(func=cmd_reproduce)


def _ci_args(c, confidence: bool = True) -> None:
    if confidence:
        c.add_argument("--confidence", type=float, default=0.95)
    c.add_argument("--min-seeds", type=int, default=analysis.MIN_SEEDS,
                   help="fewest seeds for an interval (stats.min_seeds; default %(default)s): below it none is shown")
    c.add_argument("--method", choices=["BCa", "percentile"], default="BCa")
    c.add_argument("--n-resamples", type=int, default=9999)
    add(c, "seed", default=0, help="bootstrap seed")


def value_args(c) -> None:
    """How a run's value is taken: final metric or a learning-curve summary."""
    c.add_argument("--summary", choices=["value", "auc", "final", "slope"],
                   help="value: final metric; auc/final/slope: learning curve from "
                        "metrics.jsonl (default: auc when every run logs the metric, else value)")
    c.add_argument("--window", nargs=2, type=float, metavar=("START", "END"),
                   help="step window for curve summaries (default: common to all runs)")
    c.add_argument("--last-k", type=int, default=1, help="points averaged by --summary final")


# -- commands (parse and print; the questions are answered in registry/analysis.py) ----
def cmd_wandb(args) -> int:
    from ..registry.wandb_mirror import mirror_to_wandb

    dirs = mirror_to_wandb(db_path(args), args.project, args.mode, args.dir or os.path.join(args.results, "wandb"),
                           entity=args.entity)
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


def _commit(r: dict) -> str:
    if not r["git_commit"]:
        return "-"
    return r["git_commit"][:8] + ("*" if r["git_dirty"] else "")


def cmd_list(args) -> int:
    with open_registry(args) as reg:
        rows = analysis.list_runs(reg, args.stage, args.status, args.metric)
    if args.json:
        print_json(rows)
        return 0
    cols = ("run", "stage", "status", "wall_time_s", "n_examples", "n_tokens")
    print(table([{**{k: r[k] for k in cols}, "commit": _commit(r), "started_at": r["started_at"],
                  **{k: r[k] for k in args.metric}} for r in rows]))
    return 0


def cmd_show(args) -> int:
    with open_registry(args) as reg:
        recs = analysis.show_runs(reg, args.runs)
    if args.json:
        for rec in recs:
            rec.pop("curves")
        print_json(recs if len(recs) > 1 else recs[0])
        return 0
    for rec in recs:
        print(f"== {rec['key']} ({rec['stage']})")
        print(kv_table({k: rec[k] for k in analysis.SHOW_FIELDS}))
        print("\nmetrics")
        print(table([[k, v, rec["metric_sources"][k]] for k, v in rec["metrics"].items()],
                    headers=["metric", "value", "source"]))
        if rec["curves"]:
            print("\nlearning curves (metrics.jsonl)")
            print(table([{"name": k, **v} for k, v in rec["curves"].items()]))
        if rec["checkpoints"]:
            print("\ncheckpoints")
            print(table(rec["checkpoints"]))
        print("\nconfig")
        print(table([[k, json.dumps(v)] for k, v in flatten(rec["config"])], headers=["key", "value"]))
        print()
    return 0


def cmd_leaderboard(args) -> int:
    with open_registry(args) as reg:
        rows = analysis.leaderboard(reg, args.metric, args.stage, args.top, args.lower_is_better,
                                    args.confidence, args.method, args.n_resamples, args.seed, args.min_seeds)
    if args.json:
        print_json({"metric": args.metric, "confidence": args.confidence, "method": args.method,
                    "n_resamples": args.n_resamples, "seed": args.seed, "rows": rows})
        return 0
    print(f"{args.metric} (mean over seeds; {args.confidence:.0%} CI of the mean as the tables show it: none "
          f"below {args.min_seeds} seeds, below 10 the more conservative of bootstrap ({args.method}) and t; "
          f"{'lower' if args.lower_is_better else 'higher'} is better)")
    print(table([{"rank": r["rank"], "run_id": r["run_id"], "stage": r["stage"], "n": r["n"],
                  "mean": r["mean"], "std": r["std"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                  "ci_unit": r["ci_unit"] if r["ci_low"] is not None else "",
                  "seeds": ",".join(map(str, r["seeds"]))} for r in rows]))
    for n in sorted({r["ci_note"] for r in rows if r["ci_note"]}):
        print(f"note: {n}")
    return 0


def cmd_compare(args) -> int:
    with open_registry(args) as reg:
        out = analysis.compare(reg, args.runs, args.all_params)
    if args.json:
        print_json(out)
        return 0
    names, diff, msum = list(out["runs"]), out["config_diff"], out["metrics"]
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
        out = analysis.significance(reg, args.a, args.b, args.metric, args.paired, args.summary,
                                    args.window, args.last_k, min_seeds=args.min_seeds, alpha=args.alpha,
                                    method=args.method,
                                    n_resamples=args.n_resamples, seed=args.seed,
                                    alternative=args.alternative)
    seeds = out.pop("seeds", None)
    if args.json:
        print_json(out)
        return 0
    d = dict(out["result"])
    ci = d.pop("ci")
    notes = d.pop("notes")
    iv = out["interval"]
    window = out["window"]
    print(f"{args.metric} ({out['summary']}{'' if window is None else f', steps {window[0]:g}-{window[1]:g}'}): "
          f"candidate {args.b} - control {args.a}, {'paired on seeds ' + ','.join(map(str, seeds)) if args.paired else 'unpaired (Welch)'}")
    d.update({"ci_low": iv["ci_low"], "ci_high": iv["ci_high"], "ci_unit": iv["ci_unit"] if iv["ci_low"] is not None
              else None, "interval_used": iv["interval_used"], "ci_method": ci["method"],
              "ci_confidence": ci["confidence"]})
    if iv.get("ci_note"):
        notes = [iv["ci_note"], *notes]
    print(kv_table(d))
    for n in notes:
        print(f"note: {n}")
    if args.paired and any(out["unshared_seeds"].values()):
        print(f"note: seeds without a partner were left out: {out['unshared_seeds']}")
    return 0


def cmd_export(args) -> int:
    with open_registry(args) as reg:
        out = analysis.export_records(reg, args.runs)
    write_json(args.output, jsonable(out))
    if args.json:
        print_json({"output": args.output, "runs": [r["key"] for r in out["runs"]]})
    else:
        print(f"wrote {len(out['runs'])} run(s) to {args.output}")
    return 0


def cmd_stats(args) -> int:
    with open_registry(args) as reg:
        out = analysis.summary(reg)
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
        plans = analysis.reproduce(reg, args.runs, overrides_file=args.overrides_file,
                                   configfile=args.configfile, cores=args.cores, write=not args.no_write)
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

"""`teachable analyze ...`: comparisons across runs with multiple-comparison correction,
seed planning (power + how-many-seeds curve), and power analysis."""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path

import numpy as np

from ..io import InputError
from ..registry import seed_values
from ..workflow.scripting import add
from ..stats import (adjust_pvalues, paired_comparison, plot_seed_curve, pooled_sd, seed_curve,
                     seeds_needed, seeds_needed_from_sd, unpaired_comparison)
from ._common import (db_parent, emit_to, fmt, json_parent, kv_table, markdown_table,
                      open_registry, print_json, table, to_json)
from .runs import value_args


def register(sub) -> None:
    p = sub.add_parser("analyze", help="statistics across runs and seed planning")
    an = p.add_subparsers(dest="cmd", metavar="COMMAND", required=True)
    reg_parent = db_parent(json_flag=False)

    c = an.add_parser("compare", parents=[reg_parent],
                      help="candidate vs control runs, per-seed, Holm-corrected across the family")
    c.add_argument("--pairs", nargs="+", metavar="CTRL:CAND")
    c.add_argument("--control", nargs="+", metavar="RUN")
    c.add_argument("--candidate", nargs="+", metavar="RUN")
    c.add_argument("--metric", required=True)
    value_args(c)
    c.add_argument("--unpaired", action="store_true", help="Welch/Mann-Whitney instead of paired seeds")
    c.add_argument("--test", choices=["t", "wilcoxon"], default="t",
                   help="p-value entering the correction (paired t / Welch, or Wilcoxon / Mann-Whitney)")
    c.add_argument("--correction", default="holm", help="multipletests method (default holm)")
    c.add_argument("--alpha", type=float, default=0.05)
    c.add_argument("--method", choices=["BCa", "percentile"], default="BCa")
    c.add_argument("--n-resamples", type=int, default=9999)
    add(c, "seed", default=0, help="bootstrap seed")
    for fmt_ in ("csv", "json", "md"):
        kw = dict(nargs="?", const="-", metavar="PATH", help=f"write {fmt_} to PATH (stdout without PATH)")
        if fmt_ == "json":  # the shared --json, taking a path here
            add(c, "json", action="store", default=None, **kw)
        else:
            c.add_argument(f"--{fmt_}", **kw)
    c.set_defaults(func=cmd_compare)

    c = an.add_parser("seeds", parents=[db_parent()],
                      help="how many seeds: power analysis and CI half-width curve from pilot runs")
    c.add_argument("--runs", nargs="+", metavar="RUN", help="pilot runs (SD pooled within runs)")
    c.add_argument("--pairs", nargs="+", metavar="CTRL:CAND", help="pilot pairs (SD of per-seed differences)")
    c.add_argument("--metric", required=True)
    value_args(c)
    c.add_argument("--diff", type=float, help="difference to detect (default: observed, with --pairs)")
    c.add_argument("--alpha", type=float, default=0.05)
    c.add_argument("--power", type=float, default=0.8)
    c.add_argument("--target-half-width", type=float)
    c.add_argument("--max-n", type=int, default=30)
    c.add_argument("--n-resamples", type=int, default=2000)
    add(c, "seed", default=0, help="bootstrap seed")
    c.add_argument("--plot", help="plot path (default RESULTS/figures/seeds_METRIC.png)")
    c.set_defaults(func=cmd_seeds)

    c = an.add_parser("power", parents=[json_parent()], help="seeds needed for an effect size")
    c.add_argument("--effect", type=float, help="Cohen's d (d_z of differences with --paired)")
    c.add_argument("--sd", type=float, help="pilot SD (of per-seed differences with --paired)")
    c.add_argument("--diff", type=float, help="difference to detect (with --sd)")
    c.add_argument("--paired", action="store_true")
    c.add_argument("--alpha", type=float, default=0.05)
    c.add_argument("--power", type=float, default=0.8)
    c.add_argument("--one-sided", action="store_true")
    c.set_defaults(func=cmd_power)


def _split_pair(text: str, reg) -> tuple[str, str]:
    """CTRL:CAND; with stage-qualified names (which contain ':' too) the split is the one
    where both sides name runs in the registry."""
    parts = text.split(":")
    if len(parts) < 2:
        raise InputError(f"--pairs entry '{text}' is not CTRL:CAND")
    if len(parts) == 2:
        return parts[0], parts[1]
    cuts = [(":".join(parts[:i]), ":".join(parts[i:])) for i in range(1, len(parts))]
    ok = [c for c in cuts if reg.select(c[0]) and reg.select(c[1])]
    if len(ok) != 1:
        raise InputError(f"--pairs entry '{text}': cannot tell control from candidate")
    return ok[0]


def _pairs(args, reg) -> list[tuple[str, str]]:
    if args.pairs and (getattr(args, "control", None) or getattr(args, "candidate", None)):
        raise InputError("give either --pairs or --control/--candidate, not both")
    if args.pairs:
        return [_split_pair(p, reg) for p in args.pairs]
    if getattr(args, "control", None) and getattr(args, "candidate", None):
        return list(itertools.product(args.control, args.candidate))
    raise InputError("give --pairs CTRL:CAND ... or --control RUN ... --candidate RUN ...")


def compare_rows(args) -> tuple[list[dict], dict]:
    with open_registry(args) as reg:
        pairs = _pairs(args, reg)
        sv = seed_values(reg, [n for p in pairs for n in p], args.metric, args.summary,
                         tuple(args.window) if args.window else None, args.last_k)
    rows, results = [], []
    for ctrl, cand in pairs:
        a, b = sv.values[ctrl], sv.values[cand]
        kw = dict(alpha=args.alpha, method=args.method, n_resamples=args.n_resamples, seed=args.seed)
        if args.unpaired:
            r = unpaired_comparison(list(a.values()), list(b.values()), **kw)
            p = r.welch_pvalue if args.test == "t" else r.mannwhitney_pvalue
            n, extra = f"{r.n_control}/{r.n_candidate}", {"prob_improvement": r.prob_improvement,
                                                          "shapiro_p": None}
        else:
            seeds = sorted(set(a) & set(b))
            if not seeds:
                raise InputError(f"{ctrl} and {cand} share no seeds; use --unpaired")
            r = paired_comparison([a[s] for s in seeds], [b[s] for s in seeds], seeds=seeds, **kw)
            p = r.t_pvalue if args.test == "t" else r.wilcoxon_pvalue
            n, extra = r.n, {"prob_improvement": r.frac_improved, "shapiro_p": r.shapiro_pvalue}
        results.append(r)
        rows.append({"control": ctrl, "candidate": cand, "n": n, "control_mean": r.mean_control,
                     "candidate_mean": r.mean_candidate, "diff": r.mean_diff, "ci_low": r.ci.low,
                     "ci_high": r.ci.high, "p": p, **extra})
    adj = adjust_pvalues([r["p"] for r in rows], args.alpha, args.correction)
    for r, pa, rej in zip(rows, adj["p_adjusted"], adj["reject"]):
        r[f"p_{args.correction}"], r["significant"] = pa, rej
    meta = {"metric": args.metric, "summary": sv.summary, "window": sv.window, "last_k": sv.last_k,
            "paired": not args.unpaired, "test": args.test, "alpha": args.alpha,
            "correction": adj, "ci_method": args.method, "n_resamples": args.n_resamples,
            "seed": args.seed, "skipped_not_done": {k: v for k, v in sv.skipped.items() if v},
            "values": sv.values, "details": [r.to_dict() for r in results]}
    return rows, meta


def cmd_compare(args) -> int:
    rows, meta = compare_rows(args)
    if args.json:
        emit_to(args.json, to_json({**meta, "rows": rows}), "JSON")
    if args.csv:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
        emit_to(args.csv, buf.getvalue(), "CSV")
    if args.md:
        emit_to(args.md, _caption(meta) + "\n\n" + markdown_table(rows), "Markdown")
    if not (args.json or args.csv or args.md):
        print(_caption(meta))
        print(table(rows))
        for k, v in meta["skipped_not_done"].items():
            print(f"note: {k}: left out runs not done: {', '.join(v)}")
        for row, det in zip(rows, meta["details"]):
            for n in det["notes"]:
                print(f"note: {row['control']} -> {row['candidate']}: {n}")
    return 0


def _caption(meta: dict) -> str:
    win = "" if meta["window"] is None else f" over steps {meta['window'][0]:g}-{meta['window'][1]:g}"
    k = f" (last {meta['last_k']})" if meta["last_k"] else ""
    design = "paired on shared seeds" if meta["paired"] else "unpaired"
    test = {("t", True): "paired t", ("wilcoxon", True): "Wilcoxon signed-rank",
            ("t", False): "Welch t", ("wilcoxon", False): "Mann-Whitney U"}[(meta["test"], meta["paired"])]
    return (f"{meta['metric']} [{meta['summary']}{k}{win}], candidate - control, {design}; "
            f"{test} p, {meta['correction']['method']}-adjusted over {meta['correction']['m']} tests "
            f"at alpha {meta['alpha']}; {meta['ci_method']} bootstrap CI "
            f"({meta['n_resamples']} resamples, seed {meta['seed']})")


def cmd_seeds(args) -> int:
    if bool(args.runs) == bool(args.pairs):
        raise InputError("give pilot --runs RUN ... or --pairs CTRL:CAND ...")
    with open_registry(args) as reg:
        pairs = _pairs(args, reg) if args.pairs else []
        names = args.runs or [n for p in pairs for n in p]
        sv = seed_values(reg, names, args.metric, args.summary,
                         tuple(args.window) if args.window else None, args.last_k)
        results_dir = Path(args.results)
    paired = bool(args.pairs)
    if paired:
        groups, diffs = [], []
        for ctrl, cand in pairs:
            a, b = sv.values[ctrl], sv.values[cand]
            seeds = sorted(set(a) & set(b))
            d = [b[s] - a[s] for s in seeds]
            groups.append(d)
            diffs += d
        # SD of differences, pooled over pairs around each pair's own mean difference
        sd = pooled_sd(groups)
        observed = float(np.mean(diffs))
    else:
        groups = [list(sv.values[n].values()) for n in args.runs]
        sd = pooled_sd(groups)
        observed = None
    diff = args.diff if args.diff is not None else observed
    curve = seed_curve(groups, range(2, args.max_n + 1), confidence=1 - args.alpha,
                       n_resamples=args.n_resamples, seed=args.seed)
    plot = Path(args.plot) if args.plot else results_dir / "figures" / f"seeds_{args.metric}.png"
    plot_seed_curve(curve, plot, target_half_width=args.target_half_width,
                    title=f"How many seeds? {args.metric} ({sv.summary})",
                    ylabel=f"{1 - args.alpha:.0%} CI half-width of the {'mean difference' if paired else 'mean'}")
    power = None
    if diff is not None and sd > 0 and diff != 0:
        power = seeds_needed_from_sd(sd, diff, alpha=args.alpha, power=args.power, paired=paired)
    out = {"metric": args.metric, "summary": sv.summary, "window": sv.window, "paired": paired,
           "pilot_values": sv.values, "pilot_sd": sd, "observed_diff": observed, "diff": diff,
           "power": power.to_dict() if power else None,
           "seeds_for_target_half_width": curve.seeds_for(args.target_half_width)
           if args.target_half_width else None,
           "seeds_for_target_half_width_upper": curve.seeds_for(args.target_half_width, "upper")
           if args.target_half_width else None,
           "curve": curve.to_dict(), "plot": str(plot)}
    if args.json:
        print_json(out)
        return 0
    print(kv_table({"metric": f"{args.metric} ({sv.summary})",
                    "design": "paired differences" if paired else "single arm (pooled within runs)",
                    "pilot n": curve.pilot_n, "pilot sd": sd, "diff to detect": diff,
                    f"seeds for power {args.power} at alpha {args.alpha}":
                        f"{power.n} {'paired seeds' if paired else 'seeds per arm'} "
                        f"(d={power.effect_size:.3g})" if power else "- (give --diff)",
                    "seeds for target half-width": out["seeds_for_target_half_width"],
                    "plot": str(plot)}))
    pick = [n for n in curve.ns if n in (2, 3, 5, 10, 20, 30, 50) or n == curve.ns[-1]]
    print()
    print(table([{"n": n, "half_width": curve.half_width[i], "band_low": curve.band_low[i],
                  "band_high": curve.band_high[i]} for i, n in enumerate(curve.ns) if n in pick]))
    if curve.note:
        print(f"note: {curve.note}")
    return 0


def cmd_power(args) -> int:
    alt = "one-sided" if args.one_sided else "two-sided"
    if args.effect is not None and (args.sd is not None or args.diff is not None):
        raise InputError("give --effect or --sd with --diff, not both")
    if args.effect is not None:
        res = seeds_needed(args.effect, alpha=args.alpha, power=args.power, paired=args.paired,
                           alternative=alt)
    elif args.sd is not None and args.diff is not None:
        res = seeds_needed_from_sd(args.sd, args.diff, alpha=args.alpha, power=args.power,
                                   paired=args.paired, alternative=alt)
    else:
        raise InputError("give --effect D, or --sd S and --diff D")
    if args.json:
        print_json(res.to_dict())
        return 0
    print(f"{res.n} {'paired seeds' if res.paired else 'seeds per arm'} "
          f"(exact {fmt(res.n_exact)}; power {res.achieved_power:.3f} at n={res.n}) to detect "
          f"d={res.effect_size:.3g} at alpha {res.alpha} ({res.alternative}, "
          f"{'paired t on per-seed differences' if res.paired else 'two-sample t, equal groups'})")
    return 0

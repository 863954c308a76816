#!/usr/bin/env python
"""Validation: report over the fresh seeds (Markdown + JSON + CSV + plot)."""

import pandas as pd

from teachable.workflow import scripting
from teachable.io import InputError, atomic_path, read_json, write_json, write_text
from teachable.evaluation import FRESH_TASK_STAGE
from teachable.validation import plot, report


def main():
    p = scripting.parser(__doc__)
    p.add_argument("--selected", required=True)
    p.add_argument("--seeds", nargs="+", type=int, required=True, help="the fresh seeds of this phase")
    p.add_argument("--records", nargs="+", required=True)
    p.add_argument("--base", required=True, help="validation/BASE/eval.json (BASE on the fresh tasks and panel)")
    p.add_argument("--original-base", required=True, help="phase3/runs/BASE/seed0.json (the tasks that picked)")
    p.add_argument("--episodes", nargs="+", required=True,
                   help="eval.episodes.csv of every record (same order as --records), for the two-level CIs")
    p.add_argument("--base-episodes", required=True, help="validation/BASE/eval.episodes.csv")
    p.add_argument("--original-episodes", required=True, help="phase3/episodes.csv (the tasks that picked)")
    p.add_argument("--out-prefix", required=True, help="writes PREFIX.md/.json/.csv/.png")
    args = p.parse_args()
    cfg = scripting.setup(args)
    sel = read_json(args.selected)
    metric = cfg["validation"]["metric"]
    base_rec, orig_rec = read_json(args.base), read_json(args.original_base)
    if (base_rec.get("eval_set") or {}).get("task_stage") != FRESH_TASK_STAGE:
        raise InputError(f"{args.base}: BASE was not evaluated on the fresh validation tasks (eval_set "
                         f"{base_rec.get('eval_set')}); rerun validation_base")
    base, original_base = base_rec["metrics"][metric], orig_rec["metrics"][metric]
    records = [read_json(f) for f in args.records]
    stale = [f for f, r in zip(args.records, records) if (r.get("eval_set") or {}).get("task_stage") != FRESH_TASK_STAGE]
    if stale:
        raise InputError(f"{stale[0]}: not evaluated on the fresh validation tasks; rerun validation_evaluate")
    stray = sorted({int(r["seed"]) for r in records} - set(args.seeds))
    if stray:
        raise InputError(f"validation: records of seeds {stray} are not among --seeds {args.seeds}")
    if len(args.episodes) != len(args.records):
        raise InputError(f"validation: {len(args.episodes)} --episodes files for {len(args.records)} --records")
    eps = [_read_episodes(f) for f in [args.base_episodes, *args.episodes]]
    for f, r, e in zip(args.episodes, records, eps[1:]):
        if set(zip(e.run_id, e.seed)) != {(r["run_id"], int(r["seed"]))}:
            raise InputError(f"{f}: its rows are not those of {r['run_id']} seed {r['seed']} (the matching record)")
    rep = report(sel["selected"], records, cfg["validation"], cfg["stats"], base, original_base,
                 episodes=pd.concat(eps, ignore_index=True), original_episodes=_read_episodes(args.original_episodes))
    rep["seeds"] = args.seeds
    df = pd.DataFrame(rep["configs"])
    with atomic_path(args.out_prefix + ".csv", suffix=".csv") as tmp:
        df.to_csv(tmp, index=False)
    write_json(args.out_prefix + ".json", rep)
    md = [f"# Validation re-runs ({rep['metric']}, {len(rep['seeds'])} fresh seeds)", "",
          f"Criteria: {rep['criteria']}; BASE on the fresh tasks = {base:.3f}, on the original (phase-3) tasks = "
          f"{original_base:.3f}.", "",
          "Fresh = new task seeds (stage 'validation_tasks') and panel part 1, disjoint from the phase-3 tasks and "
          "panel that picked the top-K. Shrinkage = fresh delta vs BASE minus original delta vs BASE.", "",
          f"95% CIs are two-level paired bootstraps (unit of resampling: {rep['ci_unit']}, paired by task and "
          f"seed; docs/statistics.md); with fewer than {cfg['stats']['min_seeds']} seeds a CI reads "
          "'too few seeds' and a criterion that needs it is not evaluated.", "",
          "| run_id | n seeds | n tasks | fresh mean | std | CV | 95% CI | original | ratio | original delta "
          "(95% CI) | fresh delta (95% CI) | shrinkage (95% CI) | ci_unit | passed | note |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rep["configs"]:
        f = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
        c = lambda lo, hi: "too few seeds" if lo is None else f"[{f(lo)}, {f(hi)}]"  # noqa: E731
        verdict = {True: "yes", False: "no", None: "not evaluated"}[r["passed"]]
        md.append(f"| {r['run_id']} | {r['n_seeds']} | {r['n_tasks']} | {f(r['mean'])} | {f(r['std'])} | "
                  f"{f(r['cv'])} | {c(r['ci_low'], r['ci_high'])} | {f(r['original_mean'])} | "
                  f"{f(r['ratio_to_original'])} | {f(r['original_delta_base'])} "
                  f"{c(r['original_delta_ci_low'], r['original_delta_ci_high'])} | {f(r['fresh_delta_base'])} "
                  f"{c(r['fresh_delta_ci_low'], r['fresh_delta_ci_high'])} | {f(r['shrinkage'])} "
                  f"{c(r['shrinkage_ci_low'], r['shrinkage_ci_high'])} | {r['ci_unit']} | {verdict} | "
                  f"{r['ci_note']} |")
    write_text(args.out_prefix + ".md", "\n".join(md) + "\n")
    plot(rep, args.out_prefix + ".png")
    print("\n".join(md))


def _read_episodes(path: str) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"item": str})


if __name__ == "__main__":
    scripting.run(main)

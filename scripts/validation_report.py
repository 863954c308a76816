#!/usr/bin/env python
"""Validation: report over the fresh seeds (Markdown + JSON + CSV + plot)."""

import pandas as pd

from teachable import scripting
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
    rep = report(sel["selected"], records, cfg["validation"], cfg["stats"], base, original_base)
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
          "| run_id | n | fresh mean | std | CV | 95% CI | original | ratio | original delta | fresh delta "
          "| shrinkage | passed |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rep["configs"]:
        f = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
        md.append(f"| {r['run_id']} | {r['n_seeds']} | {f(r['mean'])} | {f(r['std'])} | {f(r['cv'])} | "
                  f"[{f(r['ci_low'])}, {f(r['ci_high'])}] | {f(r['original_mean'])} | {f(r['ratio_to_original'])} "
                  f"| {f(r['original_delta_base'])} | {f(r['fresh_delta_base'])} | {f(r['shrinkage'])} "
                  f"| {'yes' if r['passed'] else 'no'} |")
    write_text(args.out_prefix + ".md", "\n".join(md) + "\n")
    plot(rep, args.out_prefix + ".png")
    print("\n".join(md))


if __name__ == "__main__":
    scripting.run(main)

#!/usr/bin/env python
"""Validation: report over the fresh seeds (Markdown + JSON + CSV + plot)."""

import pandas as pd

from teachable import scripting
from teachable.io import InputError, atomic_path, read_json, write_json, write_text
from teachable.validation import plot, report


def main():
    p = scripting.parser(__doc__)
    p.add_argument("--selected", required=True)
    p.add_argument("--seeds", nargs="+", type=int, required=True, help="the fresh seeds of this phase")
    p.add_argument("--records", nargs="+", required=True)
    p.add_argument("--base", required=True, help="phase3/runs/BASE/seed0.json")
    p.add_argument("--out-prefix", required=True, help="writes PREFIX.md/.json/.csv/.png")
    args = p.parse_args()
    cfg = scripting.setup(args)
    sel = read_json(args.selected)
    base = read_json(args.base)["metrics"][cfg["validation"]["metric"]]
    records = [read_json(f) for f in args.records]
    stray = sorted({int(r["seed"]) for r in records} - set(args.seeds))
    if stray:
        raise InputError(f"validation: records of seeds {stray} are not among --seeds {args.seeds}")
    rep = report(sel["selected"], records, cfg["validation"], cfg["stats"], base)
    rep["seeds"] = args.seeds
    df = pd.DataFrame(rep["configs"])
    with atomic_path(args.out_prefix + ".csv", suffix=".csv") as tmp:
        df.to_csv(tmp, index=False)
    write_json(args.out_prefix + ".json", rep)
    md = [f"# Validation re-runs ({rep['metric']}, {len(rep['seeds'])} fresh seeds)", "",
          f"Criteria: {rep['criteria']}; BASE = {base:.3f}", "",
          "| run_id | n | mean | std | CV | 95% CI | original | ratio | passed |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rep["configs"]:
        f = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
        md.append(f"| {r['run_id']} | {r['n_seeds']} | {f(r['mean'])} | {f(r['std'])} | {f(r['cv'])} | "
                  f"[{f(r['ci_low'])}, {f(r['ci_high'])}] | {f(r['original_mean'])} | {f(r['ratio_to_original'])} "
                  f"| {'yes' if r['passed'] else 'no'} |")
    write_text(args.out_prefix + ".md", "\n".join(md) + "\n")
    plot(rep, args.out_prefix + ".png")
    print("\n".join(md))


if __name__ == "__main__":
    scripting.run(main)

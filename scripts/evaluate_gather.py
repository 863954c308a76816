#!/usr/bin/env python
"""Phase 3: one model's record runs/{run_id}/seed{seed}.json and .episodes.csv from its
evaluation blocks (rows in block order = the tasks-then-panel order of one whole job)."""

import pandas as pd

from teachable.workflow import scripting
from teachable.evaluation import metrics_from_rows
from teachable.io import InputError, atomic_path, read_json, write_json


def main():
    p = scripting.parser(__doc__, cfg=False)
    p.add_argument("--blocks", nargs="+", required=True, help="block files, in block order")
    p.add_argument("--base", default=None, help="BASE's record (for retention)")
    scripting.add(p, "out", required=True)
    p.add_argument("--episodes", required=True)
    args = p.parse_args()
    scripting.setup(args)
    blocks = [read_json(f) for f in args.blocks]
    ids = {(b["run_id"], b["seed"], b["adapter"]) for b in blocks}
    if len(ids) != 1:
        raise InputError(f"evaluation blocks of different models: {sorted(map(str, ids))}")
    run_id, seed, adapter = ids.pop()
    base = read_json(args.base) if args.base else None
    if base is not None and "base_solved_tasks" not in base:
        raise InputError(f"{args.base}: missing key 'base_solved_tasks'")
    res = metrics_from_rows([r for b in blocks for r in b["rows"]], base)
    rows = [{"run_id": run_id, "seed": seed, **r} for r in res["episodes"]]
    with atomic_path(args.episodes, suffix=".csv") as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    write_json(args.out, {"run_id": run_id, "seed": seed, "adapter": adapter, "metrics": res["metrics"],
                          "base_solved_tasks": res["base_solved_tasks"],
                          "eval_set": res["eval_set"]})  # ci_unit, n_units, n_distinct_games (TextWorld)
    print(f"{run_id} seed {seed}: {res['metrics']}")


if __name__ == "__main__":
    scripting.run(main)

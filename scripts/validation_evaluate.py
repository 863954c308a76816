#!/usr/bin/env python
"""Phase 3: greedy evaluation of one model (BASE, or a run's adapter) -> the per-model
record runs/{run_id}/seed{seed}.json and its per-episode rows (.episodes.csv)."""

import pandas as pd

from teachable.workflow import scripting
from teachable.evaluation import EVAL_TASK_STAGE, FRESH_TASK_STAGE, evaluate_model
from teachable.io import atomic_path, read_json, write_json
from teachable.policy import pick_device


def main():
    p = scripting.parser(__doc__)
    scripting.add_model_args(p)
    p.add_argument("--base", default=None, help="BASE's record (for retention)")
    p.add_argument("--fresh", action="store_true",
                   help="validation: fresh task seeds (stage 'validation_tasks') and the disjoint panel part 1")
    scripting.add(p, "out", required=True)
    p.add_argument("--episodes", required=True)
    args = p.parse_args()
    cfg = scripting.setup(args)
    snaps = scripting.read_eval_snapshots(args, cfg)
    base = read_json(args.base) if args.base else None
    if base is not None and "base_solved_tasks" not in base:
        raise SystemExit(f"error: {args.base}: missing key 'base_solved_tasks'")
    dev = str(pick_device(cfg["student"]["device"]))
    stage, part = (FRESH_TASK_STAGE, 1) if args.fresh else (EVAL_TASK_STAGE, 0)
    res = evaluate_model(scripting.student_path(cfg, args.student), args.adapter, cfg, snaps, args.seed, dev, base,
                         stage, part)
    rows = [{"run_id": args.run_id, "seed": args.seed, **r} for r in res["episodes"]]
    with atomic_path(args.episodes, suffix=".csv") as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    write_json(args.out, {"run_id": args.run_id, "seed": args.seed, "adapter": args.adapter,
                          "metrics": res["metrics"], "eval_set": res["eval_set"], "base_solved_tasks": res["base_solved_tasks"]})
    print(f"{args.run_id} seed {args.seed}: {res['metrics']}")


if __name__ == "__main__":
    scripting.run(main)

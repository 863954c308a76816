#!/usr/bin/env python
"""Phase 2: map every (run_id, seed) to its adapter path and run summary ->
training_summary.json (cheap aggregation)."""

import argparse
import os

from teachable.io import InputError, read_json, write_json
from teachable.workflow import scripting


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", nargs="+", required=True, help="phase2/{run_id}/seed{seed}/run.json files")
    scripting.add(p, "out", required=True)
    args = p.parse_args()
    adapters, runs = {}, []
    for path in args.runs:
        r = read_json(path)
        for k in ("run_id", "seed", "status", "adapter_path"):
            if k not in r:
                raise InputError(f"{path}: missing key '{k}' (not a run.json)")
        if r["status"] != "done":
            raise InputError(f"{path}: run status is '{r['status']}', not 'done'")
        adapter = os.path.join(os.path.dirname(path), "adapter")
        adapters.setdefault(r["run_id"], {})[str(r["seed"])] = adapter
        runs.append({"run_id": r["run_id"], "seed": r["seed"], "adapter_path": adapter, "run_json": path,
                     "n_examples": r.get("n_examples"), "n_tokens": r.get("n_tokens"),
                     "wall_time_s": r.get("wall_time_s"), "metrics": r.get("metrics", {})})
    write_json(args.out, {"n_runs": len(runs), "run_ids": sorted(adapters),
                          "seeds": sorted({r["seed"] for r in runs}), "adapters": adapters, "runs": runs})
    print(f"{len(runs)} runs summarised")


if __name__ == "__main__":
    scripting.run(main)

#!/usr/bin/env python
"""Phase 3: gather per-model records into episodes.csv and the five seed-aggregated tables
(mean, std, n_seeds, two-level seeds x tasks bootstrap CIs, paired differences vs BASE and
B1_uniform, Holm; "too few seeds" instead of a CI below stats.min_seeds)."""

import pandas as pd

from teachable.workflow import scripting
from teachable.evaluation import tables
from teachable.io import atomic_path, read_json


def main():
    p = scripting.parser(__doc__)
    p.add_argument("--records", nargs="+", required=True)
    p.add_argument("--episodes", nargs="+", required=True)
    scripting.add(p, "out_dir", required=True)
    args = p.parse_args()
    cfg = scripting.setup(args)
    records = [read_json(f) for f in args.records]
    episodes = pd.concat([pd.read_csv(f) for f in args.episodes], ignore_index=True)
    out = {"episodes": episodes, **tables(records, cfg["stats"], episodes)}
    for name, df in out.items():
        with atomic_path(f"{args.out_dir}/{name}.csv", suffix=".csv") as tmp:
            df.to_csv(tmp, index=False)
    print(out["overall_task_results"][["run_id", "n_seeds", "mean", "ci_low", "ci_high", "delta_base", "ci_note"]].to_string())


if __name__ == "__main__":
    scripting.run(main)

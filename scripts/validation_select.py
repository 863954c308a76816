#!/usr/bin/env python
"""Validation: pick the top-K training configurations by a metric from phase 3."""

import pandas as pd

from teachable.workflow import scripting
from teachable.io import write_json
from teachable.validation import select_top


def main():
    p = scripting.parser(__doc__)
    p.add_argument("--overall", required=True, help="phase3/overall_task_results.csv")
    scripting.add(p, "out", required=True)
    args = p.parse_args()
    cfg = scripting.setup(args)
    val = cfg["validation"]
    sel = select_top(pd.read_csv(args.overall), val["column"], val["top_k"], args.overall)
    write_json(args.out, {"metric": val["metric"], "column": val["column"], "selected": sel})
    print("validating", [s["run_id"] for s in sel])


if __name__ == "__main__":
    scripting.run(main)

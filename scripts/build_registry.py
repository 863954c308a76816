#!/usr/bin/env python
"""Registry: index every run.json / metrics.jsonl / evaluation under the results dir into
SQLite, and with `tracking.wandb: true` mirror the indexed runs to Weights & Biases."""

from teachable import scripting
from teachable.registry import build_registry


def main():
    p = scripting.parser(__doc__)
    p.add_argument("--results", required=True, help="results directory")
    p.add_argument("--db", required=True, help="registry database to (re)build")
    args = p.parse_args()
    cfg = scripting.setup(args)
    rep = build_registry(args.results, args.db)
    print(f"indexed {rep.runs} runs ({rep.eval_only} evaluation-only) into {rep.db}")
    for w in rep.warnings:
        print(f"warning: {w}")
    tr = cfg["tracking"]
    if tr["wandb"]:
        from teachable.registry.wandb_mirror import mirror_to_wandb

        dirs = mirror_to_wandb(args.db, tr["wandb_project"], tr["wandb_mode"], f"{args.results}/wandb")
        print(f"mirrored {len(dirs)} runs to W&B project '{tr['wandb_project']}' ({tr['wandb_mode']})")


if __name__ == "__main__":
    scripting.run(main)

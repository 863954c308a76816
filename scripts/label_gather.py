#!/usr/bin/env python
"""Phase 1: gather labeled shards; depth, held-out split, quadrant thresholds and counts,
quantiles, teacher usage, metadata and threshold plots (the quadrant-balance gate is computed
from the counts by the gates rule: teachable.gates.quadrant_balance)."""

from teachable import scripting
from teachable.io import read_jsonl, read_json, write_json, write_jsonl
from teachable.labeling.pipeline import gather, greedy_teacher_agreement
from teachable.labeling.plots import threshold_plots
from teachable.teacher import merge_usage


def main():
    p = scripting.parser(__doc__)
    p.add_argument("--shards", nargs="+", required=True)
    p.add_argument("--usages", nargs="+", required=True)
    p.add_argument("--flagged", nargs="+", required=True)
    p.add_argument("--out-dir", required=True, help="results/phase1")
    args = p.parse_args()
    cfg = scripting.setup(args)
    lab = cfg["labeling"]
    shards = [read_jsonl(f) for f in args.shards]
    snaps, th, quantiles = gather(shards, cfg["quadrants"], lab["holdout_frac"], cfg["seed"])
    usage = merge_usage([read_json(f) for f in args.usages])
    flagged = [s for f in args.flagged for s in read_jsonl(f)]
    out = args.out_dir
    threshold_plots(snaps, th, f"{out}/threshold_plots")
    write_json(f"{out}/quadrant_thresholds_auto.json", th)
    write_json(f"{out}/quantiles.json", quantiles)
    write_json(f"{out}/teacher_usage.json", usage)
    write_json(f"{out}/labeling_metadata.json", {
        "n_snapshots": len(snaps), "n_set_aside_teacher_invalid": len(flagged), "n_heldout": sum(s["heldout"] for s in snaps), "seed": cfg["seed"],
        "env": cfg["env"], "student": cfg["student"], "teacher": {k: v for k, v in cfg["teacher"].items()},
        "labeling": lab, "quadrants": cfg["quadrants"], "thresholds": th, "inputs": args.shards,
        "n_values": {"policy": lab["n_rollouts"], "force": lab["n_rollouts"], "expert": 1, "cpt": lab["n_rollouts"]},
        "base_greedy_is_teacher": greedy_teacher_agreement(snaps),
        "leverage_order_share": sum(s["p_expert"] >= s["p_force"] >= s["p_policy"] for s in snaps) / max(1, len(snaps)),
    })
    write_jsonl(f"{out}/teacher_flagged.jsonl", flagged)
    write_json(f"{out}/labeled_snapshots.json", snaps, indent=None)
    write_jsonl(f"{out}/labeled_snapshots.jsonl", snaps)
    print(f"{len(snaps)} labeled snapshots; quadrants {th['counts']}; teacher calls {usage.get('calls')}")


if __name__ == "__main__":
    scripting.run(main)

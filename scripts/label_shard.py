#!/usr/bin/env python
"""Phase 1: label one shard of the phase-0 snapshots (uncertainty, teacher advice,
leverage, CPT, structural features) -> shard JSONL + the shard's teacher usage."""

import json
import sys
from functools import partial

from teachable import scripting
from teachable.envs import env_from_config
from teachable.io import InputError, write_json, write_jsonl
from teachable.snapshot import read_snapshots
from teachable.labeling.pipeline import SNAPSHOT_KEYS, label_shard, select_snapshots, shard_of
from teachable.policy import Policy
from teachable.prompts import layout_of
from teachable.teacher import make_teacher


def main():
    p = scripting.parser(__doc__)
    p.add_argument("--student", default=None)
    p.add_argument("--failure", required=True, help="failure_snapshots.json (or .jsonl)")
    p.add_argument("--expert", required=True, help="snapshots_expert.json (or .jsonl)")
    p.add_argument("--shard", type=int, required=True)
    p.add_argument("--n-shards", type=int, required=True)
    p.add_argument("--cache-dir", required=True, help="teacher response cache")
    p.add_argument("--out", required=True)
    p.add_argument("--usage", required=True)
    p.add_argument("--flagged", required=True, help="snapshots whose teacher answer was flagged invalid")
    args = p.parse_args()
    cfg = scripting.setup(args)
    lab, st = cfg["labeling"], cfg["student"]
    # validate every input line and the teacher set-up before any rollout
    snaps = select_snapshots(read_snapshots(args.failure, SNAPSHOT_KEYS, cfg["env"]),
                             read_snapshots(args.expert, SNAPSHOT_KEYS, cfg["env"]),
                             lab["include_expert"], lab["max_snapshots"])
    if not snaps:
        raise InputError(f"{args.failure}, {args.expert}: no snapshots to label")
    teacher = make_teacher(cfg["teacher"], cache_dir=args.cache_dir)
    teacher.check_ready()
    mine = shard_of(snaps, args.shard, args.n_shards)
    policy = Policy.load(scripting.student_path(cfg, args.student), st["adapter"], st["device"], st["batch_size"],
                         st["prompt_format"], st["dtype"])
    try:
        labeled, flagged = label_shard(policy, partial(env_from_config, cfg["env"]), teacher, mine, lab,
                                       cfg["seed"], st["temperature"], st["history"],
                                       progress=f"label shard {args.shard}", layout=layout_of(st))
    finally:  # a failed shard still logs what its teacher calls cost
        print(f"teacher usage: {json.dumps(teacher.usage.to_dict())}", file=sys.stderr)
    write_json(args.usage, teacher.usage.to_dict())
    write_jsonl(args.flagged, flagged)
    write_jsonl(args.out, labeled)
    print(f"shard {args.shard}/{args.n_shards}: {len(labeled)} snapshots labeled, {len(flagged)} set aside "
          "(teacher answer flagged invalid)")


if __name__ == "__main__":
    scripting.run(main)

#!/usr/bin/env python
"""Phase 3: greedy evaluation of one block of one model's episodes (tasks, then the
held-out panel; block --shard of size --shard-size) -> the block's per-episode rows."""

from teachable.workflow import scripting
from teachable.evaluation import write_block
from teachable.policy import Policy, pick_device


def main():
    p = scripting.parser(__doc__)
    scripting.add_model_args(p)
    p.add_argument("--shard", type=int, required=True)
    p.add_argument("--shard-size", type=int, required=True)
    scripting.add(p, "out", required=True, help="block rows (JSON)")
    args = p.parse_args()
    cfg = scripting.setup(args)
    snaps = scripting.read_eval_snapshots(args, cfg)
    st = cfg["student"]
    dev = str(pick_device(st["device"]))
    policy = Policy.load(scripting.student_path(cfg, args.student), args.adapter, dev, st["batch_size"],
                         st["prompt_format"], st["dtype"])
    n = write_block(args.out, policy, cfg, snaps, args.shard, args.shard_size, run_id=args.run_id, seed=args.seed,
                    adapter=args.adapter, device=dev)
    print(f"{args.run_id} seed {args.seed} block {args.shard}: {n} episodes")


if __name__ == "__main__":
    scripting.run(main)

#!/usr/bin/env python
"""Phase 0: merge the rollout shards into rollouts.json (trajectories sorted by id)."""

from teachable import scripting
from teachable.io import read_json, write_json
from teachable.sharding import merge_rollouts


def main():
    p = scripting.parser(__doc__, cfg=False)
    p.add_argument("--shards", nargs="+", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    scripting.setup(args)
    merged = merge_rollouts([read_json(f) for f in args.shards])
    write_json(args.out, merged, indent=None)
    print(f"{merged['n']} rollouts from {len(args.shards)} shards, success {merged['success_rate']:.3f}")


if __name__ == "__main__":
    scripting.run(main)

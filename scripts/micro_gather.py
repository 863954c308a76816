#!/usr/bin/env python
"""Phase 1B: merge the micro-training shards into micro_training_results.json."""

from teachable import scripting
from teachable.io import read_json, write_json
from teachable.sharding import merge_micro


def main():
    p = scripting.parser(__doc__, cfg=False)
    p.add_argument("--shards", nargs="+", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    scripting.setup(args)
    merged = merge_micro([read_json(f) for f in args.shards])
    write_json(args.out, merged)
    print(f"{merged['n_snapshots']} micro-trained snapshots from {len(args.shards)} shards")


if __name__ == "__main__":
    scripting.run(main)

#!/usr/bin/env python
"""Phase 1B: merge the micro-training shards into micro_training_results.json."""

from teachable.workflow import scripting
from teachable.workflow.sharding import merge_micro


def main():
    scripting.gather_shards(__doc__, merge_micro, summary=lambda m, n: (
        f"{m['n_snapshots']} micro-trained snapshots from {n} shards"))


if __name__ == "__main__":
    scripting.run(main)

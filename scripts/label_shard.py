#!/usr/bin/env python
"""Phase 1: label one shard of the phase-0 snapshots (uncertainty, teacher advice,
leverage, CPT, structural features) -> shard JSONL + the shard's teacher usage.

The stage is teachable.labeling.stages.shard (`teachable label shard` runs the same function)."""

from teachable.workflow import scripting
from teachable.labeling import stages


def main():
    scripting.run_stage(__doc__, stages.shard_args, stages.shard)


if __name__ == "__main__":
    scripting.run(main)

#!/usr/bin/env python
"""Phase 1: gather labeled shards; depth, held-out split, quadrant thresholds and counts,
quantiles, teacher usage, metadata and threshold plots (the quadrant-balance gate is computed
from the counts by the gates rule: teachable.gates.quadrant_balance).

The stage is teachable.labeling.stages.gather (`teachable label gather` runs the same function)."""

from teachable.workflow import scripting
from teachable.labeling import stages


def main():
    scripting.run_stage(__doc__, stages.gather_args, stages.gather)


if __name__ == "__main__":
    scripting.run(main)

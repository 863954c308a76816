#!/usr/bin/env python
"""Phase 1: relabel a seeded subset of the labeled snapshots with an independent master
seed -> results/phase1/label_reliability.json (test-retest Spearman, quadrant kappa, gate).

The stage is teachable.labeling.stages.reliability (`teachable label reliability` runs the same function)."""

from teachable.workflow import scripting
from teachable.labeling import stages


def main():
    scripting.run_stage(__doc__, stages.reliability_args, stages.reliability)


if __name__ == "__main__":
    scripting.run(main)

#!/usr/bin/env python
"""Phase 0: merge the rollout shards into rollouts.json (trajectories sorted by id)."""

from teachable.workflow import scripting
from teachable.workflow.sharding import merge_rollouts


def main():
    scripting.gather_shards(__doc__, merge_rollouts, indent=None, summary=lambda m, n: (
        f"{m['n']} rollouts from {n} shards, success {m['success_rate']:.3f}"))


if __name__ == "__main__":
    scripting.run(main)

#!/usr/bin/env python
"""Phase 0: mine failure snapshots from rollouts.json -> failure_snapshots.json (the failure
step from phase0.failure_step)."""

from functools import partial

from teachable.workflow import scripting
from teachable.envs import env_from_config
from teachable.io import InputError, read_json, write_json
from teachable.mining import mine_failures


def main():
    p = scripting.parser(__doc__)
    p.add_argument("--rollouts", required=True)
    scripting.add(p, "out", required=True)
    args = p.parse_args()
    cfg = scripting.setup(args)
    data = read_json(args.rollouts)
    if "trajectories" not in data:
        raise InputError(f"{args.rollouts}: missing key 'trajectories'")
    snaps = mine_failures(data["trajectories"], partial(env_from_config, cfg["env"]), cfg["phase0"]["k_offsets"],
                          cfg["student"]["history"], cfg["phase0"]["failure_step"])
    write_json(args.out, snaps, indent=None)
    n_fail = sum(not t["success"] for t in data["trajectories"])
    g = [s["base_greedy_is_expert"] for s in snaps if s["base_greedy_is_expert"] is not None]
    share = f"{sum(g) / len(g):.3f}" if g else "n/a"
    print(f"{len(snaps)} failure snapshots from {n_fail} failed episodes (failure step: "
          f"{cfg['phase0']['failure_step']}); share where the student's greedy action is the expert's: {share}")


if __name__ == "__main__":
    scripting.run(main)

#!/usr/bin/env python
"""Phase 0: exact state-restore check over random snapshots; exits non-zero on any
difference (the check file is still written, so the failure can be read)."""

import sys
from functools import partial

from teachable.workflow import scripting
from teachable.envs import env_from_config
from teachable.io import InputError, write_json
from teachable.mining import restore_check
from teachable.snapshot import read_snapshots

REQUIRED = ("snapshot_id", "state", "obs_text", "mission", "valid_actions", "expert_action")


def main():
    p = scripting.parser(__doc__)
    p.add_argument("--snapshots", nargs="+", required=True)
    scripting.add(p, "out", required=True)
    args = p.parse_args()
    cfg = scripting.setup(args)
    snaps = [s for f in args.snapshots for s in read_snapshots(f, REQUIRED, cfg["env"])]
    if not snaps:
        raise InputError(f"{', '.join(args.snapshots)}: no snapshots to check")
    rep = restore_check(snaps, partial(env_from_config, cfg["env"]), cfg["phase0"]["restore_check_n"], cfg["seed"])
    print(f"restore check: {rep['n_checked']} checked, {rep['n_failed']} failed")
    if not rep["passed"]:
        write_json(args.out + ".failed", rep)
        sys.exit(f"state restore differs for {rep['n_failed']} snapshots (details in {args.out}.failed)")
    write_json(args.out, rep)


if __name__ == "__main__":
    scripting.run(main)

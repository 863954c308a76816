#!/usr/bin/env python
"""Phase 0: expert (bot) trajectories -> expert_trajectories/, and snapshots sampled from
them with the student's action distribution -> snapshots_expert.json."""

from functools import partial

from teachable.workflow import scripting
from teachable.envs import env_from_config
from teachable.io import atomic_dir, write_json
from teachable.mining import expert_trajectories, sample_expert_snapshots
from teachable.policy import Policy
from teachable.prompts import layout_of


def main():
    p = scripting.parser(__doc__)
    scripting.add(p, "student")
    scripting.add(p, "out_dir", required=True)
    p.add_argument("--out-snapshots", required=True)
    args = p.parse_args()
    cfg = scripting.setup(args)
    st, ph = cfg["student"], cfg["phase0"]
    mk = partial(env_from_config, cfg["env"])
    trajs = expert_trajectories(mk, ph["expert_n_tasks"], cfg["seed"], cfg["env"]["max_steps"])
    policy = Policy.load(scripting.student_path(cfg, args.student), st["adapter"], st["device"], st["batch_size"],
                         st["prompt_format"], st["dtype"])
    snaps = sample_expert_snapshots(trajs, mk, policy, ph["expert_sample_rate"], cfg["seed"], st["history"],
                                    layout_of(st))
    with atomic_dir(args.out_dir) as tmp:
        for tr in trajs:
            write_json(f"{tmp}/{tr['trajectory_id']}.json", tr)
    write_json(args.out_snapshots, snaps, indent=None)
    print(f"{len(trajs)} expert trajectories (success {sum(t['success'] for t in trajs)}), {len(snaps)} snapshots")


if __name__ == "__main__":
    scripting.run(main)

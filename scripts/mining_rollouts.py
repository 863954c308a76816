#!/usr/bin/env python
"""Phase 0: student rollouts (phase0.mine_policy: sampled or greedy) of one shard of the task ids (contiguous block
--shard of size --shard-size; all tasks without them) -> rollouts JSON."""

from functools import partial

from teachable.workflow import scripting
from teachable.envs import env_from_config
from teachable.io import write_json
from teachable.mining import student_rollouts
from teachable.policy import Policy
from teachable.prompts import layout_of


def main():
    p = scripting.parser(__doc__)
    scripting.add(p, "student")
    scripting.add(p, "out", required=True)
    p.add_argument("--shard", type=int, default=0)
    p.add_argument("--shard-size", type=int, default=None, help="tasks per shard (default: all in one)")
    args = p.parse_args()
    cfg = scripting.setup(args)
    st, n = cfg["student"], cfg["phase0"]["n_tasks"]
    size = args.shard_size or n
    ids = range(min(n, args.shard * size), min(n, (args.shard + 1) * size))
    policy = Policy.load(scripting.student_path(cfg, args.student), st["adapter"], st["device"], st["batch_size"],
                         st["prompt_format"], st["dtype"])
    trajs = student_rollouts(policy, partial(env_from_config, cfg["env"]), cfg["phase0"]["n_tasks"], cfg["seed"],
                             st["temperature"], st["history"], cfg["env"]["max_steps"], progress="rollouts",
                             ids=ids, layout=layout_of(st), mine_policy=cfg["phase0"]["mine_policy"])
    n_ok = sum(t["success"] for t in trajs)
    write_json(args.out, {"seed": cfg["seed"], "mine_policy": cfg["phase0"]["mine_policy"], "n": len(trajs), "success_rate": n_ok / max(1, len(trajs)),
                          "shard": args.shard, "trajectories": trajs}, indent=None)
    print(f"{len(trajs)} rollouts, success {n_ok}/{len(trajs)}")


if __name__ == "__main__":
    scripting.run(main)

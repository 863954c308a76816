#!/usr/bin/env python
"""Phase 1: relabel a seeded subset of the labeled snapshots with an independent master
seed -> results/phase1/label_reliability.json (test-retest Spearman, quadrant kappa, gate)."""

import time
from functools import partial

from teachable import scripting
from teachable.envs import env_from_config
from teachable.io import read_json, read_jsonl, write_json
from teachable.labeling import reliability as rel
from teachable.labeling.branches import label_rollouts
from teachable.policy import Policy
from teachable.prompts import layout_of


def main():
    args, cfg = scripting.parse_args(__doc__, {"--labels": "labeled_snapshots.jsonl",
                                               "--thresholds": "quadrant_thresholds_auto.json",
                                               "--out": "label_reliability.json"}, student=True)
    lab, st, rcfg = cfg["labeling"], cfg["student"], cfg["labeling"]["reliability"]
    first = rel.subset(read_jsonl(args.labels), rcfg["n"], rcfg["share"], cfg["seed"])
    th = read_json(args.thresholds)
    policy = Policy.load(scripting.student_path(cfg, args.student), st["adapter"], st["device"], st["batch_size"],
                         st["prompt_format"], st["dtype"])
    again = [rel.fresh_copy(s) for s in first]
    t0 = time.time()
    label_rollouts(policy, partial(env_from_config, cfg["env"]), again, lab["n_rollouts"], lab["horizon"],
                   rel.retest_seed(cfg["seed"]), st["temperature"], st["history"], progress="label retest",
                   outcome=lab["outcome"], layout=layout_of(st))
    wall = time.time() - t0
    out = rel.report(first, again, th, {"L_local": rcfg["min_spearman_L_local"],
                                        "ELP_net": rcfg["min_spearman_ELP_net"]}, lab["n_rollouts"], lab["horizon"],
                     seed=cfg["seed"])
    out.update(retest_seed=rel.retest_seed(cfg["seed"]), seed=cfg["seed"], rollout_wall_s=wall,
               labels_per_min=60 * len(again) / wall if wall > 0 else None)
    write_json(args.out, out)
    print(f"label reliability on {out['n_snapshots']} snapshots: Spearman "
          + ", ".join(f"{k} {v:.2f}" for k, v in out["spearman"].items() if v is not None)
          + f"; quadrant kappa {out['quadrant_kappa']}")


if __name__ == "__main__":
    scripting.run(main)

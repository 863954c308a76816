#!/usr/bin/env python
"""The student's learning curve: held-out agreement with the teacher against warm-start size
(teachable.learnability; docs/training.md)."""

from functools import partial

from teachable.workflow import scripting
from teachable.envs import env_from_config
from teachable.io import write_json
from teachable.learnability import learning_curve
from teachable.policy import pick_device
from teachable.prompts import layout_of


def main():
    p = scripting.parser(__doc__)
    scripting.add(p, "out", required=True, help="output JSON")
    args = p.parse_args()
    cfg = scripting.setup(args)
    lc = cfg["bootstrap"]["learnability"]
    rep = learning_curve(partial(env_from_config, cfg["env"]), cfg["bootstrap"], lc["sizes"], lc["steps"], cfg["seed"],
                         cfg["student"]["history"], cfg["env"]["max_steps"], lc["heldout_tasks"], lc["eval_tasks"],
                         layout_of(cfg["student"]), log=lambda m: print(m, flush=True),
                         device=str(pick_device(cfg["student"]["device"])))
    rep["target"] = lc["target"]
    rep["reaches_target"] = bool(max(r["heldout_agreement"] for r in rep["rows"]) >= lc["target"])
    write_json(args.out, rep)


if __name__ == "__main__":
    scripting.run(main)

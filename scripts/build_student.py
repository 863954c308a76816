#!/usr/bin/env python
"""Build the offline bootstrap student (docs/design.md §4) into a save_pretrained directory."""

from functools import partial

from teachable.workflow import scripting
from teachable.envs import env_from_config
from teachable.policy import pick_device
from teachable.prompts import layout_of
from teachable.student import bootstrap_student


def main():
    p = scripting.parser(__doc__)
    scripting.add(p, "out", required=True, help="output model directory")
    args = p.parse_args()
    cfg = scripting.setup(args)
    lo, hi = cfg["gates"]["warmstart_ratio_range"]
    rep = bootstrap_student(partial(env_from_config, cfg["env"]), cfg["bootstrap"], cfg["seed"], args.out,
                            cfg["student"]["history"], cfg["env"]["max_steps"],
                            device=str(pick_device(cfg["student"]["device"])), layout=layout_of(cfg["student"]))
    ok = lo < rep["entropy_ratio"] < hi
    print(f"student: success {rep['success_rate']:.3f}, mean(H)/ln|A| {rep['entropy_ratio']:.3f} "
          f"({'inside' if ok else 'OUTSIDE'} ({lo}, {hi})), {rep['steps']} steps, {rep['wall_time_s']:.1f}s")
    if not ok and cfg["gates"]["strict"]:
        raise SystemExit(f"gate failed: warm-start ratio {rep['entropy_ratio']:.3f} not in ({lo}, {hi})")


if __name__ == "__main__":
    scripting.run(main)

"""Control data sets of the recipe (scripts/recipe_sweep.py; docs/training.md, "Controls").

A phase-2 run's delta vs BASE means little without its two bounds on the same student and
recipe:

- `null_replay` (the floor): the replay set itself, i.e. BASE's own greedy actions. It
  teaches nothing new, so its retention drop and delta are what training alone costs.
- `expert_demos` (the positive control): fresh expert demonstrations, plentiful and right,
  on tasks of their own (seeds from (seed, 'expert_control'): not the warm-start's,
  phase 0's, the probe's or evaluation's), the warm-start's noisy-expert rollouts in the
  student's plain prompt. If the recipe can not improve the student on these, no run on a
  few dozen snapshots can be expected to.
"""

from __future__ import annotations

from functools import partial

from ..io import InputError, derive_seed
from ..prompts import build_prompt, layout_of
from .formats import SFTExample

NULL_RUN = "null_replay"
EXPERT_RUN = "expert_demos"


def expert_examples(cfg: dict, n_tasks: int, noise: float | None = None) -> list[SFTExample]:
    """Demo-format examples from the env's expert on `n_tasks` fresh tasks (every state of
    each episode, the expert's action as target; a random action is executed with prob
    `noise`, default bootstrap.demo_noise, so the states include recoveries)."""
    from ..envs import env_from_config
    from ..student import demo_states

    if n_tasks < 1:
        raise InputError(f"{EXPERT_RUN}: n_tasks {n_tasks} < 1")
    st = cfg["student"]
    noise = float(cfg["bootstrap"]["demo_noise"] if noise is None else noise)
    episodes = demo_states(partial(env_from_config, cfg["env"], expert=True), n_tasks,
                           derive_seed(cfg["seed"], "expert_control"), st["history"], noise, cfg["env"]["max_steps"])
    layout = layout_of(st)
    return [SFTExample(f"expert{i:05d}_t{t:03d}", "demo", build_prompt(s["mission"], s["obs"], s["hist"], "", layout),
                       s["action"], tuple(s["valid"]))
            for i, states in enumerate(episodes) for t, s in enumerate(states)]

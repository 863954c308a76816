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
- `dagger_demos`, the positive control at the student's own states: the student acts on
  fresh tasks of their own (seeds from (seed, 'dagger_control')), sampling at
  student.temperature as phase 0's rollouts do, and every state it visits is labelled with
  the expert's action (DAgger's data). B2_all is this at a few dozen failure states; if
  thousands of such labels can not improve the student, those few can not either.
  `dagger_shortest` is the same states labelled with a shortest-plan action instead (the
  expert's where it is one, else the first valid action after which the env's steps_to_go
  is least): it tells a bad teacher from a bad place to teach.
"""

from __future__ import annotations

from functools import partial

from ..io import InputError, derive_seed
from ..prompts import build_prompt, layout_of
from .formats import SFTExample

NULL_RUN = "null_replay"
EXPERT_RUN = "expert_demos"
DAGGER_RUN = "dagger_demos"
DAGGER_SHORTEST_RUN = "dagger_shortest"


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


def shortest_action(env, valid: list[str], expert: str) -> str:
    """`expert` if no valid action leaves a shorter plan (env.steps_to_go after it), else
    the first valid action that leaves the shortest; the env is left as it was."""
    from ..envs.base import steps_to_go_after

    togo = steps_to_go_after(env, valid)
    best = min(togo.values())
    return expert if togo.get(expert) == best else next(a for a in valid if togo[a] == best)


def dagger_examples(cfg: dict, policy, n_tasks: int, labels: str = "expert") -> list[SFTExample]:
    """Demo-format examples at the states `policy` visits on `n_tasks` fresh tasks, acting
    by sampling at student.temperature (greedy at 0), each labelled with the env's expert
    action (`labels` 'expert') or a shortest-plan action ('shortest', shortest_action). The
    episodes step in lock-step, one batched scoring per step."""
    import numpy as np

    from ..envs import env_from_config
    from ..rollout import pick_index

    if n_tasks < 1:
        raise InputError(f"{DAGGER_RUN}: n_tasks {n_tasks} < 1")
    if labels not in ("expert", "shortest"):
        raise InputError(f"{DAGGER_RUN}: labels {labels!r} is not one of expert, shortest")
    probe = env_from_config(cfg["env"], expert=False) if labels == "shortest" else None
    st, layout = cfg["student"], layout_of(cfg["student"])
    temp, hist_len = float(st["temperature"]), int(st["history"])
    envs = [env_from_config(cfg["env"], expert=True) for _ in range(n_tasks)]
    rngs = [np.random.default_rng(derive_seed(cfg["seed"], "dagger_sample", i)) for i in range(n_tasks)]
    obs = [env.reset(derive_seed(cfg["seed"], "dagger_control", i)) for i, env in enumerate(envs)]
    hist: list[list[str]] = [[] for _ in envs]
    steps: list[list[SFTExample]] = [[] for _ in envs]
    live = list(range(n_tasks))
    for _ in range(cfg["env"]["max_steps"]):
        if not live:
            break
        prompts = [build_prompt(obs[i].mission, obs[i].text, hist[i][-hist_len:] if hist_len else [], "", layout)
                   for i in live]
        scores = policy.score(prompts, [list(obs[i].valid_actions) for i in live])
        still = []
        for i, prompt, sc in zip(live, prompts, scores):
            valid = list(obs[i].valid_actions)
            target = envs[i].expert_action()
            if probe is not None:
                probe.set_state(envs[i].get_state())
                target = shortest_action(probe, valid, target)
            steps[i].append(SFTExample(f"dagger{i:05d}_t{len(steps[i]):03d}", "demo", prompt, target, tuple(valid)))
            a = valid[pick_index(sc, temp, rngs[i].random())]
            obs[i], _, done, info = envs[i].step(a)
            hist[i].append(a)
            if not (done or info.get("success")):
                still.append(i)
        live = still
    return [ex for ep in steps for ex in ep]

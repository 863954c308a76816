"""Where a student's greedy action differs from the expert's, and whether that matters
(scripts/student_errors.py; docs/training.md, "Controls").

Agreement with the expert under-states a student where several actions are equally good, and
over-states what fine-tuning on expert labels can add where the expert decides from what the
student's prompt does not show (BabyAIBot remembers the room; the prompt holds the 7x7 view
and two actions), or where the expert itself goes a long way round. So each state of a
rollout (the noisy expert's, as the warm-start's data, or the student's own, as phase 0's)
carries:

- the expert's action;
- the optimal actions: those after which the env's steps_to_go drops by one;
- a category from the expert's subgoal (BabyAI): `target in view` (the subgoal names an
  object the view shows), `target not in view`, `explore`, `other` (no object, or the carried
  one: drop it, find a free cell); `all` for envs without subgoals.

error_breakdown() then reports, overall and per category, how often the greedy student picks
the expert's action and how often it picks an optimal one.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Callable

import numpy as np

from .envs.base import TextEnv, steps_to_go_after
from .io import InputError, derive_seed
from .prompts import DEFAULT_LAYOUT, build_prompt
from .engine import pick_index

_OBJECT = re.compile(r"\b(red|green|blue|purple|yellow|grey) (key|ball|box|door)\b")
CATEGORIES = ("target in view", "target not in view", "explore", "other", "all")


def category(subgoal: str | None, obs_text: str) -> str:
    """The expert's subgoal as one of CATEGORIES (None: the env has no subgoals)."""
    if subgoal is None:
        return "all"
    if not subgoal or subgoal == "explore":
        return "explore"
    m = _OBJECT.search(subgoal)
    if not m or subgoal.startswith("drop") or "free cell" in subgoal:
        return "other"  # no object, or the carried one: nothing to find in the view
    view = obs_text.split(". ", 1)[-1] if obs_text.startswith("you carry") else obs_text
    return "target in view" if m.group(0) in view else "target not in view"


def error_states(make_env: Callable[[], TextEnv], n_tasks: int, seed: int, history_len: int, noise: float,
                 max_steps: int, driver=None, temperature: float = 1.0, layout: str = DEFAULT_LAYOUT) -> list[dict]:
    """States of `n_tasks` episodes, each with the expert's action, the optimal actions and
    the category. Who acts: the noisy expert (a random valid action with prob `noise`, as
    the warm-start's demonstrations), or, given a `driver` policy, that student sampling at
    `temperature` (greedy at 0), as phase 0's rollouts: the states a teacher labels. Tasks
    and draws come from (seed, 'student_errors', i)."""
    if n_tasks < 1:
        raise InputError(f"student_errors: n_tasks {n_tasks} < 1")
    env, probe = make_env(), make_env()  # probe: steps_to_go after each action, env untouched
    rows = []
    for i in range(n_tasks):
        rng = np.random.default_rng(derive_seed(seed, "student_errors_noise", i))
        obs, hist = env.reset(derive_seed(seed, "student_errors", i)), []
        for _ in range(max_steps):
            info = env.expert_info() if hasattr(env, "expert_info") else {"action": env.expert_action(),
                                                                           "subgoal": None}
            togo = env.steps_to_go()
            probe.set_state(env.get_state())
            after = steps_to_go_after(probe, list(obs.valid_actions))
            optimal = [a for a, d in after.items() if togo is not None and d < togo]
            rows.append({"mission": obs.mission, "obs": obs.text, "hist": hist[-history_len:] if history_len else [],
                         "valid": list(obs.valid_actions), "expert": info["action"], "optimal": optimal,
                         "category": category(info.get("subgoal"), obs.text)})
            valid = list(obs.valid_actions)
            if driver is not None:
                sc = driver.score([build_prompt(obs.mission, obs.text, rows[-1]["hist"], "", layout)], [valid])[0]
                act = valid[pick_index(sc, temperature, rng.random())]
            else:
                act = info["action"]
                if rng.random() < noise:
                    act = valid[int(rng.integers(len(valid)))]
            obs, _, done, _ = env.step(act)
            hist.append(act)
            if done:
                break
    return rows


def error_breakdown(policy, rows: list[dict], layout: str = DEFAULT_LAYOUT) -> dict:
    """Share of states, agreement with the expert and optimal-action rate of the greedy
    student, overall and per category; `expert_optimal` is the expert's own rate."""
    scores = policy.score([build_prompt(r["mission"], r["obs"], r["hist"], "", layout) for r in rows],
                          [r["valid"] for r in rows])
    groups: dict[str, list[tuple[bool, bool, bool]]] = defaultdict(list)
    for sc, r in zip(scores, rows):
        pick = r["valid"][int(np.argmax(sc))]
        hit = (pick == r["expert"], pick in r["optimal"], r["expert"] in r["optimal"])
        groups["overall"].append(hit)
        groups[r["category"]].append(hit)

    def rates(hits: list) -> dict:
        a = np.array(hits, float)
        return {"n": len(hits), "share": len(hits) / len(rows), "agreement": float(a[:, 0].mean()),
                "optimal": float(a[:, 1].mean()), "expert_optimal": float(a[:, 2].mean())}

    return {k: rates(v) for k, v in groups.items()}

"""Mining (phase 0): student rollouts, failure-snapshot mining, expert trajectories and
snapshots, and the state-restore check. The snapshot record itself (state codec, schema
check, reading) is teachable.snapshot."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from .envs import TextEnv
from .io import InputError, derive_seed, hash_fraction
from .action_dist import entropy, softmax
from .prompts import DEFAULT_LAYOUT, build_prompt
from .engine import EpisodeSpec, run_episodes
from .snapshot import decode_state, encode_state

if TYPE_CHECKING:  # torch comes with the policy a caller passes in: mining and the restore
    from .policy import Policy  # check stay torch-free


def task_seeds(master: int, stage: str, n: int) -> list[int]:
    return [derive_seed(master, stage, i) for i in range(n)]


MINE_POLICIES = ("sampled", "greedy")  # phase0.mine_policy
FAILURE_STEPS = ("least_confident", "first_divergence", "last")  # phase0.failure_step


def student_rollouts(policy: Policy, make_env: Callable[[], TextEnv], n_tasks: int, seed: int,
                     temperature: float, history_len: int, max_steps: int, progress=False,
                     ids: range | None = None, layout: str = DEFAULT_LAYOUT, mine_policy: str = "sampled",
                     ) -> list[dict]:
    """Student episodes on tasks derived from (seed, 'phase0_tasks', i), for the task
    indices `ids` (a shard; default all n_tasks): task i is the same whatever the shard.
    `mine_policy` (phase0.mine_policy): sampled = at `temperature` from the stream (seed,
    'phase0_sample', i); greedy = the argmax action every step (the evaluation policy, so
    the failed episodes are the ones phase 3 sees fail). `layout`: the student's prompt
    layout (student.prompt_layout)."""
    if mine_policy not in MINE_POLICIES:
        raise InputError(f"phase0.mine_policy: unknown policy '{mine_policy}' ({', '.join(MINE_POLICIES)})")
    greedy = mine_policy == "greedy"
    ids = range(n_tasks) if ids is None else ids
    specs = [
        EpisodeSpec(f"traj{i:05d}", seed=derive_seed(seed, "phase0_tasks", i), max_steps=max_steps,
                    sample_seed=None if greedy else derive_seed(seed, "phase0_sample", i))
        for i in ids
    ]
    res = run_episodes(policy, make_env, specs, 0.0 if greedy else temperature, history_len, record_steps=True,
                       progress=progress, layout=layout)
    out = []
    for spec, r in zip(specs, res):
        out.append({
            "trajectory_id": r.episode_id, "task_seed": spec.seed, "family": r.family, "mission": r.mission,
            "mine_policy": mine_policy,
            "success": r.success, "steps": r.steps, "loop_step": r.loop_step, "repeat_rate": r.repeat_rate,
            "actions": r.actions,
            "probs": [rec.probs for rec in r.records],
            "valid_actions": [rec.valid_actions for rec in r.records],
            "entropy": [rec.entropy for rec in r.records],
        })
    return out


def failure_step(traj: dict, rule: str = "least_confident", expert_actions: list | None = None) -> tuple[int, str]:
    """The failure step of a failed episode and why (phase0.failure_step):
    least_confident: the first loop detection, else the lowest-confidence step, else the
    last step (U-dependent: the least-confident step has a high U by construction);
    first_divergence: the first step whose student action differs from the expert's at the
    student's own state (`expert_actions`, one per step; None where the expert has none),
    else the last step; last: the last step."""
    if rule not in FAILURE_STEPS:
        raise InputError(f"phase0.failure_step: unknown rule '{rule}' ({', '.join(FAILURE_STEPS)})")
    if rule == "first_divergence":
        if expert_actions is None:
            raise ValueError("failure_step first_divergence needs the expert's action at every step")
        for t, (a, e) in enumerate(zip(traj["actions"], expert_actions)):
            if e is not None and a != e:
                return t, "first_divergence"
        return traj["steps"] - 1, "last_step"
    if rule == "last":
        return traj["steps"] - 1, "last_step"
    if traj["loop_step"] is not None:
        return traj["loop_step"], "loop"
    conf = [max(p) for p in traj["probs"] if p]
    if conf and len(set(conf)) > 1:
        return int(np.argmin(conf)), "low_confidence"
    return traj["steps"] - 1, "last_step"


def expert_actions_along(env: TextEnv, traj: dict) -> list[str | None]:
    """The expert's action at each state of a recorded episode (replayed from its task
    seed; the env must be built with its expert)."""
    env.reset(traj["task_seed"])
    out = []
    for a in traj["actions"]:
        out.append(env.expert_action())
        env.step(a)
    return out


def replay(env: TextEnv, task_seed: int, actions: list[str]):
    obs = env.reset(task_seed)
    for a in actions:
        obs, *_ = env.step(a)
    return obs


def _snapshot_record(env: TextEnv, obs, sid: str, traj_id: str, task_seed: int, idx: int, history: list[str],
                     history_len: int, source: str, dist: dict | None, extra: dict) -> dict:
    info = env.expert_info() if hasattr(env, "expert_info") else {"action": env.expert_action(), "subgoal": None}
    return {
        "snapshot_id": sid, "trajectory_id": traj_id, "source": source, "task_seed": task_seed,
        "family": env.family, "step": idx, **extra,
        "mission": obs.mission, "obs_text": obs.text, "valid_actions": list(obs.valid_actions),
        "history": history[-history_len:] if history_len else [],
        "last_action": history[-1] if history else None,
        "action_dist": dist, "expert_action": info["action"], "expert_subgoal": info.get("subgoal"),
        "state": encode_state(env.get_state()),
    }


def mine_failures(trajs: list[dict], make_env: Callable[[], TextEnv], offsets: list[int], history_len: int,
                  rule: str = "least_confident") -> list[dict]:
    """Snapshots k steps before each failed episode's failure step (k from `offsets`; the
    step from `rule`, phase0.failure_step). Each snapshot records the student's greedy
    action there (argmax of its recorded distribution) and whether it is the expert's."""
    if rule not in FAILURE_STEPS:
        raise InputError(f"phase0.failure_step: unknown rule '{rule}' ({', '.join(FAILURE_STEPS)})")
    env = make_env()
    snaps, seen = [], set()
    for tr in trajs:
        if tr["success"]:
            continue
        f, reason = failure_step(tr, rule, expert_actions_along(env, tr) if rule == "first_divergence" else None)
        for k in offsets:
            idx = f - k
            if idx < 0:
                continue
            sid = f"{tr['trajectory_id']}_step{idx:04d}_k{k}"
            if sid in seen:
                raise RuntimeError(f"duplicate snapshot id {sid}")
            seen.add(sid)
            obs = replay(env, tr["task_seed"], tr["actions"][:idx])
            if list(obs.valid_actions) != tr["valid_actions"][idx]:
                raise RuntimeError(f"{sid}: replay diverged from the recorded episode")
            dist = dict(zip(tr["valid_actions"][idx], tr["probs"][idx]))
            rec = _snapshot_record(
                env, obs, sid, tr["trajectory_id"], tr["task_seed"], idx, tr["actions"][:idx], history_len,
                "failure", dist, {"k": k, "failure_step": f, "failure_reason": reason, "failure_rule": rule,
                                  "mine_policy": tr.get("mine_policy", "sampled"),
                                  "student_action": tr["actions"][idx]})
            add_greedy_fields(rec)
            snaps.append(rec)
    return snaps


def add_greedy_fields(snap: dict) -> dict:
    """`base_greedy_action` (argmax of the snapshot's action_dist, the student's greedy
    action; ties to the first valid action) and `base_greedy_is_expert`; None without a
    distribution."""
    dist = snap.get("action_dist")
    if not dist:
        snap["base_greedy_action"] = snap["base_greedy_is_expert"] = None
        return snap
    va = snap["valid_actions"]
    g = va[int(np.argmax([dist.get(a, 0.0) for a in va]))]
    snap["base_greedy_action"] = g
    snap["base_greedy_is_expert"] = None if snap.get("expert_action") is None else g == snap["expert_action"]
    return snap


def expert_trajectories(make_env, n_tasks: int, seed: int, max_steps: int) -> list[dict]:
    specs = [EpisodeSpec(f"expert{i:05d}", seed=s, mode="expert", max_steps=max_steps)
             for i, s in enumerate(task_seeds(seed, "phase0_expert_tasks", n_tasks))]
    res = run_episodes(None, make_env, specs)
    return [{"trajectory_id": r.episode_id, "task_seed": sp.seed, "family": r.family, "mission": r.mission,
             "success": r.success, "steps": r.steps, "actions": r.actions} for sp, r in zip(specs, res)]


def sample_expert_snapshots(trajs: list[dict], make_env, policy: Policy, sample_rate: float, seed: int,
                            history_len: int, layout: str = DEFAULT_LAYOUT) -> list[dict]:
    """States along expert trajectories kept with prob `sample_rate` (hash of id and seed),
    with the student's action distribution at each (prompts in `layout`)."""
    env = make_env()
    snaps = []
    for tr in trajs:
        for idx in range(tr["steps"]):
            sid = f"{tr['trajectory_id']}_step{idx:04d}_k0"
            if hash_fraction(sid, salt=f"expert{seed}") >= sample_rate:
                continue
            obs = replay(env, tr["task_seed"], tr["actions"][:idx])
            snaps.append(_snapshot_record(env, obs, sid, tr["trajectory_id"], tr["task_seed"], idx,
                                          tr["actions"][:idx], history_len, "expert", None,
                                          {"k": 0, "failure_step": None, "failure_reason": None}))
    if snaps and policy is not None:
        prompts = [build_prompt(s["mission"], s["obs_text"], s["history"], "", layout) for s in snaps]
        for s, lp in zip(snaps, policy.score(prompts, [s["valid_actions"] for s in snaps])):
            p = softmax(lp)
            s["action_dist"] = dict(zip(s["valid_actions"], map(float, p)))
            s["student_action"] = s["valid_actions"][int(np.argmax(p))]
            s["entropy"] = entropy(p)
            add_greedy_fields(s)
    return snaps


def restore_check(snaps: list[dict], make_env, n: int, seed: int, n_actions: int = 8) -> dict:
    """Restore random snapshots into fresh envs: the observation must equal the recorded
    one, and two restores must agree step by step under the same random actions."""
    rng = np.random.default_rng(derive_seed(seed, "restore_check"))
    picks = rng.choice(len(snaps), size=min(n, len(snaps)), replace=False) if snaps else []
    failures = []
    for i in picks:
        s = snaps[int(i)]
        st = decode_state(s["state"])
        e1, e2 = make_env(), make_env()
        o1, o2 = e1.set_state(st), e2.set_state(st)
        problems = []
        if (o1.text, o1.mission, list(o1.valid_actions)) != (s["obs_text"], s["mission"], s["valid_actions"]):
            problems.append("observation differs from the recorded one")
        if e1.expert_action() != s["expert_action"]:
            problems.append("expert action differs")
        for t in range(n_actions):
            if problems:
                break
            a = o1.valid_actions[int(rng.integers(len(o1.valid_actions)))]
            (o1, r1, d1, _), (o2, r2, d2, _) = e1.step(a), e2.step(a)
            if (o1.text, o1.valid_actions, r1, d1, e1.state_key()) != (o2.text, o2.valid_actions, r2, d2, e2.state_key()):
                problems.append(f"futures diverge at step {t}")
            if d1:
                break
        if problems:
            failures.append({"snapshot_id": s["snapshot_id"], "problems": problems})
    return {"n_checked": len(picks), "n_failed": len(failures), "failures": failures, "passed": not failures}

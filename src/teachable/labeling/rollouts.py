"""Leverage and the contextual patch test, computed together: every rollout of every
snapshot and condition of a shard runs as one large batch of the rollout engine."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..io import derive_seed
from ..phase0 import decode_state
from ..prompts import CONDITIONS, ROUTES, patch_text
from ..rollout import EpisodeSpec, run_episodes

LEVERAGE = ("policy", "force", "expert")


def patches_for(snap: dict) -> dict[str, str]:
    """Patch text of each CPT condition from the snapshot's teacher advice."""
    t = snap["teacher"]
    wrong = snap.get("student_greedy_action", "")
    return {c: patch_text(c, action=t["suggested_action"], diagnosis=t["diagnosis"], wrong_action=wrong)
            for c in CONDITIONS}


def rollout_specs(snaps: list[dict], n: int, horizon: int, seed: int, cpt: bool = True) -> list[EpisodeSpec]:
    """Specs for p_policy (= CPT base), p_force, p_expert and the CPT patch conditions.

    The expert is deterministic, so p_expert needs one rollout; the others use n sampled
    rollouts with seeds from (seed, 'label', snapshot id, condition, j)."""
    specs = []
    for s in snaps:
        state = decode_state(s["state"])
        patches = patches_for(s) if cpt else {}
        conds = [("policy", "policy", ""), ("force", "force", ""), ("expert", "expert", "")]
        if cpt:
            conds += [(c, "policy", patches[c]) for c in CONDITIONS if c != "base"]
        for name, mode, patch in conds:
            for j in range(1 if mode == "expert" else n):
                specs.append(EpisodeSpec(
                    episode_id=f"{s['snapshot_id']}|{name}|{j}", state=state, mode=mode, patch=patch,
                    history=list(s["history"]), max_steps=horizon,
                    sample_seed=derive_seed(seed, "label", f"{s['snapshot_id']}|{name}|{j}")))
    return specs


def success_rates(results) -> dict[str, dict[str, tuple[float, int]]]:
    acc: dict = defaultdict(lambda: defaultdict(list))
    for r in results:
        sid, cond, _ = r.episode_id.split("|")
        acc[sid][cond].append(r.success)
    return {sid: {c: (float(np.mean(v)), len(v)) for c, v in d.items()} for sid, d in acc.items()}


def apply_rates(snap: dict, rates: dict[str, tuple[float, int]], cpt: bool = True) -> dict:
    p = {c: v[0] for c, v in rates.items()}
    snap.update({
        "p_policy": p["policy"], "p_force": p["force"], "p_expert": p["expert"],
        "n_policy": rates["policy"][1], "n_force": rates["force"][1], "n_expert": rates["expert"][1],
        "L_local": p["force"] - p["policy"], "L_upper": p["expert"] - p["policy"],
    })
    if cpt:
        p["base"] = p["policy"]  # the CPT base condition is the unpatched policy rollout
        for c in CONDITIONS:
            snap[f"p_{c}"] = p[c]
        snap["n_cpt"] = rates["placebo"][1]
        for m in ROUTES:
            snap[f"gain_net_{m}"] = p[m] - p["placebo"]
            snap[f"gain_raw_{m}"] = p[m] - p["base"]
        # route = argmax; ties broken by the fixed order of ROUTES (demo, hint, contrast)
        snap["route_net"] = max(ROUTES, key=lambda m: (snap[f"gain_net_{m}"], -ROUTES.index(m)))
        snap["route_raw"] = max(ROUTES, key=lambda m: (snap[f"gain_raw_{m}"], -ROUTES.index(m)))
        snap["ELP_net"] = snap[f"gain_net_{snap['route_net']}"]
        snap["ELP_raw"] = snap[f"gain_raw_{snap['route_raw']}"]
    return snap


def label_rollouts(policy, make_env, snaps: list[dict], n: int, horizon: int, seed: int, temperature: float,
                   history_len: int, cpt: bool = True, progress=False) -> list[dict]:
    specs = rollout_specs(snaps, n, horizon, seed, cpt)
    res = run_episodes(policy, make_env, specs, temperature, history_len, progress=progress)
    rates = success_rates(res)
    return [apply_rates(s, rates[s["snapshot_id"]], cpt) for s in snaps]

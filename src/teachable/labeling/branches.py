"""Leverage and the contextual patch test, computed together: every rollout of every
snapshot and condition of a shard runs as one large batch of the rollout engine."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import numpy as np

from ..io import InputError, derive_seed
from ..snapshot import decode_state
from ..prompts import DEFAULT_LAYOUT, patch_text
from ..vocab import CONDITIONS, ROUTES
from ..engine import EpisodeSpec, run_episodes


def local_leverage(force: list, deviate: list, pi_star: float) -> float:
    """L_local = p_force - p_policy, Rao-Blackwellised over the policy's first action.

    The policy's first action is the expert's with probability pi* (the student's sampling
    probability of it), else a draw from the rest, so p_policy = pi* p_force + (1 - pi*)
    p_deviate and L_local = (1 - pi*) (p_force - p_deviate): the same quantity as the
    plug-in p_force - p_policy, with the first step's sampling noise replaced by its known
    probability. Force and deviate rollout j share stream j (common random numbers), and
    one of the two is policy rollout j itself (docs/labeling.md)."""
    f, d = np.asarray(force, dtype=float), np.asarray(deviate, dtype=float)
    return float((1.0 - pi_star) * (f.mean() - d.mean()))


def expert_probability(snap: dict, expert_action: str | None, temperature: float) -> float:
    """pi*: the sampling probability of the expert's first action under the base prompt
    at the rollout temperature (snapshot's pi from the uncertainty step); 0 when the
    expert's action is not a valid one."""
    if "pi" not in snap:
        raise InputError(f"snapshot {snap.get('snapshot_id')}: leverage needs pi (the uncertainty step) first")
    pi = snap["pi"]
    if expert_action not in pi:
        return 0.0
    if temperature <= 0:
        return float(max(pi, key=pi.get) == expert_action)
    w = {a: float(p) ** (1.0 / temperature) for a, p in pi.items()}
    return w[expert_action] / sum(w.values())


def patches_for(snap: dict) -> dict[str, str]:
    """Patch text of each CPT condition from the snapshot's teacher advice."""
    t = snap["teacher"]
    wrong = snap.get("student_greedy_action", "")
    return {c: patch_text(c, action=t["suggested_action"], diagnosis=t["diagnosis"], wrong_action=wrong,
                          situation=snap["obs_text"]) for c in CONDITIONS}


def crn_seed(seed: int, snapshot_id: str, j: int) -> int:
    """Sample stream of rollout j of a snapshot, shared by all its conditions."""
    return derive_seed(seed, "label", f"{snapshot_id}|{j}")


def rollout_specs(snaps: list[dict], n: int, horizon: int, seed: int, cpt: bool = True) -> list[EpisodeSpec]:
    """Specs for p_policy (= CPT base), p_force, p_expert and the CPT patch conditions.

    The expert is deterministic, so p_expert needs one rollout; the others use n sampled
    rollouts. Common random numbers: rollout j of every condition shares the sample stream
    seeded from (seed, 'label', snapshot id, j), not the condition (docs/labeling.md)."""
    specs = []
    for s in snaps:
        state = decode_state(s["state"])
        patches = patches_for(s) if cpt else {}
        conds = [("policy", "policy", ""), ("force", "force", ""), ("deviate", "deviate", ""), ("expert", "expert", "")]
        if cpt:
            conds += [(c, "policy", patches[c]) for c in CONDITIONS if c != "base"]
        for name, mode, patch in conds:
            for j in range(1 if mode == "expert" else n):
                specs.append(EpisodeSpec(
                    episode_id=f"{s['snapshot_id']}|{name}|{j}", state=state, mode=mode, patch=patch,
                    history=list(s["history"]), max_steps=horizon,
                    sample_seed=crn_seed(seed, s["snapshot_id"], j), track_to_go=True))
    return specs


def success_rates(results) -> dict[str, dict[str, list[bool]]]:
    """Per snapshot and condition, the outcomes ordered by rollout index j."""
    acc: dict = defaultdict(lambda: defaultdict(dict))
    for r in results:
        sid, cond, j = r.episode_id.split("|")
        acc[sid][cond][int(j)] = bool(r.success)
    return {sid: {c: [v[j] for j in sorted(v)] for c, v in d.items()} for sid, d in acc.items()}


def rollout_progress(r, at: str = "min") -> float | None:
    """Share of the snapshot's shortest plan that a rollout completed: 1 - to_go / to_go_start,
    with to_go the closest the rollout came to the goal (`at` = "min", the default: a graded
    success, 1 exactly on success, 0 where it never came nearer than it started) or where
    it ended (`at` = "end": negative where it ended farther away, floored at -1); None where
    the env cannot tell."""
    end = r.to_go_min if at == "min" else r.to_go_end
    if r.to_go_start is None or end is None:
        return None
    if r.to_go_start <= 0:
        return 1.0 if r.success else 0.0
    return max(-1.0, 1.0 - end / r.to_go_start)


def progress_outcomes(results, at: str = "min") -> dict[str, dict[str, list[float]] | None]:
    """Per snapshot and condition, rollout_progress ordered by rollout index j; None for a
    snapshot with any rollout the env could not measure."""
    acc: dict = defaultdict(lambda: defaultdict(dict))
    for r in results:
        sid, cond, j = r.episode_id.split("|")
        acc[sid][cond][int(j)] = rollout_progress(r, at)
    out: dict = {}
    for sid, d in acc.items():
        vals = {c: [v[j] for j in sorted(v)] for c, v in d.items()}
        out[sid] = None if any(x is None for v in vals.values() for x in v) else vals
    return out


def best_route(gains: dict[str, float]) -> str:
    """argmax over ROUTES; ties broken by the fixed order of ROUTES (demo, hint, contrast)."""
    return max(ROUTES, key=lambda m: (gains[m], -ROUTES.index(m)))


def elp_estimates(outcomes: dict[str, list[bool]]) -> dict:
    """Plug-in and cross-fitted ELP_net from per-rollout outcomes of placebo and each route.

    Plug-in: ELP_net = max_m (p_m - p_placebo), biased upwards when no patch helps (the max
    of noisy gains). Cross-fitted: split rollouts into halves A (even j) and B (odd j);
    pick the route on A and measure its gain on B, and the other way round; average. The
    route choice is independent of the half that measures it, so under a null (all
    conditions equal) its expectation is 0 (docs/labeling.md)."""
    arr = {c: np.asarray(v, dtype=float) for c, v in outcomes.items()}
    gain = {m: float(arr[m].mean() - arr["placebo"].mean()) for m in ROUTES}
    route = best_route(gain)
    out = {"route_net": route, "ELP_net": gain[route], "gain_net": gain}
    n = min(len(arr[c]) for c in ("placebo", *ROUTES))
    if n < 2:
        out.update(ELP_net_xfit=None, route_net_xfit=None)
        return out
    halves = [np.arange(0, n, 2), np.arange(1, n, 2)]
    half_gain = [{m: float(arr[m][h].mean() - arr["placebo"][h].mean()) for m in ROUTES} for h in halves]
    routes = [best_route(g) for g in half_gain]
    out["ELP_net_xfit"] = 0.5 * (half_gain[1][routes[0]] + half_gain[0][routes[1]])
    out["route_net_xfit"] = routes
    return out


def prefix_labels(outcomes: dict[str, list], k: int, pi_star: float | None = None) -> dict:
    """L_local, L_upper, ELP_net and ELP_net_xfit from the first k rollouts of each sampled
    condition (the expert's single rollout is kept). L_local is the Rao-Blackwellised
    estimate where deviate outcomes and pi* exist, else the plug-in."""
    o = {c: list(v) if c == "expert" else list(v)[:k] for c, v in outcomes.items()}
    p = {c: float(np.mean(v)) for c, v in o.items()}
    out = {"L_local_plugin": p["force"] - p["policy"], "L_upper": p["expert"] - p["policy"]}
    out["L_local"] = local_leverage(o["force"], o["deviate"], pi_star) \
        if "deviate" in o and pi_star is not None else out["L_local_plugin"]
    if "placebo" in o:
        elp = elp_estimates({c: o[c] for c in ("placebo", *ROUTES)})
        out.update(ELP_net=elp["ELP_net"], ELP_net_xfit=elp["ELP_net_xfit"])
    return out


def labels_at_n(snap: dict, k: int) -> dict:
    """prefix_labels of a labeled snapshot from its first k rollouts: the headline labels
    from its label_outcome, the other outcome's with their suffix (as apply_rates stores)."""
    pi = snap.get("pi_expert")
    succ = prefix_labels(snap["rollout_outcomes"], k, pi)
    prog = prefix_labels(snap["rollout_progress"], k, pi) if snap.get("rollout_progress") else None
    main, other, suffix = (prog, succ, "_success") if snap.get("label_outcome") == "progress" \
        else (succ, prog, "_progress")
    return {**main, **({f"{n}{suffix}": v for n, v in other.items()} if other else {})}


OUTCOMES = ("success", "progress")  # labeling.outcome: what the headline labels measure


def outcome_labels(outcomes: dict[str, list], pi_star: float, cpt: bool = True) -> dict:
    """Leverage and CPT labels from per-rollout outcomes (0/1 successes, or progress in
    [0, 1]) of every condition: L_local (Rao-Blackwellised), L_local_plugin, L_upper and,
    with the CPT, gain_net_m / gain_raw_m, ELP_net (plug-in) and ELP_net_xfit with their
    routes, ELP_raw / route_raw."""
    m = {c: float(np.mean(v)) for c, v in outcomes.items()}
    out = {"L_local": local_leverage(outcomes["force"], outcomes["deviate"], pi_star),
           "L_local_plugin": m["force"] - m["policy"], "L_upper": m["expert"] - m["policy"]}
    if cpt:
        m["base"] = m["policy"]  # the CPT base condition is the unpatched policy rollout
        for r in ROUTES:
            out[f"gain_net_{r}"] = m[r] - m["placebo"]
            out[f"gain_raw_{r}"] = m[r] - m["base"]
        elp = elp_estimates({c: outcomes[c] for c in ("placebo", *ROUTES)})
        out.update(route_net=elp["route_net"], ELP_net=elp["ELP_net"], ELP_net_xfit=elp["ELP_net_xfit"],
                   route_net_xfit=elp["route_net_xfit"])
        out["route_raw"] = best_route({r: out[f"gain_raw_{r}"] for r in ROUTES})
        out["ELP_raw"] = out[f"gain_raw_{out['route_raw']}"]
    return out


def apply_rates(snap: dict, outcomes: dict[str, list[bool]], pi_star: float, cpt: bool = True,
                progress: dict[str, list[float]] | None = None, outcome: str = "success") -> dict:
    """Store success rates p_c (and mean progress prog_c), the per-rollout outcomes, and the
    labels: the headline keys (L_local, L_upper, ELP_net, route_net, ...) from `outcome`,
    the same labels from the other outcome with the suffix `_progress` or `_success`."""
    if outcome not in OUTCOMES:
        raise InputError(f"labeling.outcome: unknown outcome '{outcome}' ({', '.join(OUTCOMES)})")
    if outcome == "progress" and progress is None:
        raise InputError(f"labeling.outcome: progress needs the env's steps_to_go, which snapshot "
                         f"'{snap.get('snapshot_id')}' has not (this env cannot tell): use outcome: success")
    p = {c: float(np.mean(v)) for c, v in outcomes.items()}
    snap.update({
        "p_policy": p["policy"], "p_force": p["force"], "p_deviate": p["deviate"], "p_expert": p["expert"],
        "n_policy": len(outcomes["policy"]), "n_force": len(outcomes["force"]), "n_expert": len(outcomes["expert"]),
        "pi_expert": pi_star, "label_outcome": outcome,
    })
    if cpt:
        p["base"] = p["policy"]
        for c in CONDITIONS:
            snap[f"p_{c}"] = p[c]
        snap["n_cpt"] = len(outcomes["placebo"])
    # per-rollout outcomes (index j): the labels at any smaller n are their prefixes (common
    # random numbers: stream j is the same whatever n is), used by the reliability report
    snap["rollout_outcomes"] = {c: [int(x) for x in v] for c, v in outcomes.items()}
    snap["rollout_progress"] = None if progress is None else {c: [round(float(x), 6) for x in v]
                                                              for c, v in progress.items()}
    if progress is not None:
        snap.update({f"prog_{c}": float(np.mean(v)) for c, v in progress.items()})
    succ = outcome_labels(outcomes, pi_star, cpt)
    prog = outcome_labels(snap["rollout_progress"], pi_star, cpt) if progress is not None else None
    main, other, suffix = (succ, prog, "_progress") if outcome == "success" else (prog, succ, "_success")
    snap.update(main)
    if other is not None:
        snap.update({f"{k}{suffix}": v for k, v in other.items()})
    return snap


def label_rollouts(policy, make_env, snaps: list[dict], n: int, horizon: int, seed: int, temperature: float,
                   history_len: int, cpt: bool = True, progress=False, outcome: str = "success",
                   layout: str = DEFAULT_LAYOUT) -> list[dict]:
    """Every rollout of `snaps`. Stream j's force rollout is policy rollout j where the
    policy's first action was the expert's, and its deviate rollout is policy rollout j
    where it was not (see _twins); only the other half runs, in a second batch. `layout`:
    the student's prompt layout (student.prompt_layout)."""
    specs = rollout_specs(snaps, n, horizon, seed, cpt)
    first = [s for s in specs if s.episode_id.split("|")[1] not in ("force", "deviate")]
    res = run_episodes(policy, make_env, first, temperature, history_len, progress=progress, layout=layout)
    twins = _twins(specs, res, {s["snapshot_id"]: list(s["valid_actions"]) for s in snaps})
    res += run_episodes(policy, make_env, [s for s in specs if s.episode_id.split("|")[1] in ("force", "deviate")
                                           and s.episode_id not in twins], temperature, history_len,
                        progress=f"{progress} (force, deviate)" if isinstance(progress, str) else progress,
                        layout=layout)
    by = {r.episode_id: r for r in res}
    full = res + [replace(by[t], episode_id=e) for e, t in twins.items()]
    rates, prog = success_rates(full), progress_outcomes(full)
    for s in snaps:
        exp = by[f"{s['snapshot_id']}|expert|0"]
        pi_star = expert_probability(s, exp.actions[0] if exp.actions else None, temperature)
        apply_rates(s, rates[s["snapshot_id"]], pi_star, cpt, prog[s["snapshot_id"]], outcome)
    return snaps


def _twins(specs: list[EpisodeSpec], res, valid: dict[str, list[str]]) -> dict[str, str]:
    """{force or deviate episode id: the policy episode it equals}. Policy rollout j took
    the expert's first action: force rollout j is the same episode (same state after step
    1, same history and patch, and, with common random numbers where the forced step
    consumes its draw, the same remaining stream). It did not: deviate rollout j is the
    same episode (engine.coupled_deviation draws the policy's own action then). Where
    the expert's action is not a deviation target (the only valid action, or not valid),
    deviate is policy as well."""
    by = {r.episode_id: r for r in res}
    twins = {}
    for s in specs:
        sid, cond, j = s.episode_id.split("|")
        if cond not in ("force", "deviate"):
            continue
        pol, exp = by.get(f"{sid}|policy|{j}"), by.get(f"{sid}|expert|0")
        if pol is None or exp is None or not pol.actions or not exp.actions:
            continue
        took_expert = pol.actions[0] == exp.actions[0]
        if cond == "force" and took_expert:
            twins[s.episode_id] = pol.episode_id
        elif cond == "deviate" and (not took_expert or len(valid[sid]) < 2 or exp.actions[0] not in valid[sid]):
            twins[s.episode_id] = pol.episode_id
    return twins

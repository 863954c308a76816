"""Phase 3 evaluation (DESIGN §7): greedy end-to-end success on held-out task seeds, success
on the held-out snapshot panel per quadrant, retention on the tasks BASE solves, and
stuckness; then the seed-aggregated tables with bootstrap CIs and paired comparisons."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from .envs import env_from_config
from .io import InputError, derive_seed, hash_fraction
from .labeling.quadrants import QUADRANTS
from .phase0 import decode_state
from .policy import Policy
from .rollout import EpisodeSpec, run_episodes
from .stats import bootstrap_ci, holm, paired_comparison

RUN_KEYS = ("run_id", "seed", "metrics")


def eval_tasks(cfg: dict) -> list[int]:
    return [derive_seed(cfg["seed"], "eval_tasks", i) for i in range(cfg["eval"]["n_tasks"])]


def panel(snaps: list[dict], n_per_quadrant: int, seed: int) -> list[dict]:
    """Held-out snapshots only, `n_per_quadrant` per quadrant, ranked by a seeded hash of
    the id (raising n keeps the earlier picks)."""
    out = []
    for q in QUADRANTS:
        pool = sorted((s for s in snaps if s["heldout"] and s["quadrant"] == q),
                      key=lambda s: hash_fraction(s["snapshot_id"], salt=f"panel{seed}"))
        out.extend(pool[:n_per_quadrant])
    return out


def evaluate_policy(policy: Policy, cfg: dict, snaps: list[dict], base_record: dict | None = None) -> dict:
    """Metrics and per-episode rows of one model (greedy)."""
    ev, st = cfg["eval"], cfg["student"]
    tasks = eval_tasks(cfg)
    pan = panel(snaps, ev["n_snapshots_per_quadrant"], cfg["seed"])
    specs = [EpisodeSpec(f"task|{s}", seed=s, max_steps=cfg["env"]["max_steps"]) for s in tasks]
    specs += [EpisodeSpec(f"panel|{s['snapshot_id']}", state=decode_state(s["state"]), history=list(s["history"]),
                          max_steps=ev["horizon"]) for s in pan]
    res = run_episodes(policy, partial(env_from_config, cfg["env"], expert=False, split="eval"), specs, temperature=0.0,
                       history_len=st["history"])
    quad = {s["snapshot_id"]: s["quadrant"] for s in pan}
    rows = []
    for r in res:
        kind, item = r.episode_id.split("|", 1)
        rows.append({"kind": kind, "item": item, "family": r.family, "quadrant": quad.get(item, ""),
                     "success": int(r.success), "steps": r.steps, "repeat_rate": r.repeat_rate,
                     "loop": int(r.loop_step is not None)})
    df = pd.DataFrame(rows)
    t, p = df[df.kind == "task"], df[df.kind == "panel"]
    m = {"task_success": float(t.success.mean()), "panel_success": float(p.success.mean()) if len(p) else None,
         "repeat_rate": float(t.repeat_rate.mean()), "loop_rate": float(t.loop.mean()),
         "mean_steps": float(t.steps.mean()), "n_tasks": len(t), "n_panel": len(p)}
    for q in QUADRANTS:
        pq = p[p.quadrant == q]
        m[f"panel_success_{q}"] = float(pq.success.mean()) if len(pq) else None
        m[f"n_panel_{q}"] = len(pq)
    if base_record is not None:
        solved = set(base_record["base_solved_tasks"])
        mine = t[t.item.isin({str(s) for s in solved})]
        m["n_base_solved"] = len(solved)
        m["retention"] = float(mine.success.mean()) if len(mine) else None
        m["retention_drop"] = 1.0 - m["retention"] if m["retention"] is not None else None
    return {"metrics": m, "episodes": rows,
            "base_solved_tasks": [int(r["item"]) for r in rows if r["kind"] == "task" and r["success"]]}


def evaluate_model(student_path: str, adapter: str | None, cfg: dict, snaps: list[dict], seed: int, device: str,
                   base_record: dict | None = None) -> dict:
    st = cfg["student"]
    policy = Policy.load(student_path, adapter, device, st["batch_size"], st.get("prompt_format", "auto"),
                         st.get("dtype", "auto"))
    return evaluate_policy(policy, cfg, snaps, base_record)


# ----------------------------------------------------------------- aggregation over seeds

def _ci(values, stats_cfg: dict, label: str):
    v = [x for x in values if x is not None and not np.isnan(x)]
    if not v:
        return None, None, None
    ci = bootstrap_ci(v, "mean", confidence=stats_cfg["confidence"], method=stats_cfg["ci_method"],
                      n_resamples=stats_cfg["n_resamples"], seed=stats_cfg["seed"], label=label)
    return float(np.mean(v)), ci.low, ci.high


def _paired(ctrl: list[float], cand: list[float], stats_cfg: dict):
    if len(cand) < 2:
        return dict(diff=float(np.mean(cand) - np.mean(ctrl)) if cand else None, lo=None, hi=None, p=None)
    pc = paired_comparison(ctrl, cand, confidence=stats_cfg["confidence"], method=stats_cfg["ci_method"],
                           n_resamples=stats_cfg["n_resamples"], seed=stats_cfg["seed"])
    return dict(diff=pc.mean_diff, lo=pc.ci.low, hi=pc.ci.high, p=pc.t_pvalue)


def run_meta(run_id: str) -> tuple[str, str]:
    for q in QUADRANTS:
        if run_id.startswith(q + "_"):
            return q, run_id[len(q) + 1:]
    return "", {"B1_uniform": "demo", "B2_all": "demo"}.get(run_id, "")


def tables(records: list[dict], stats_cfg: dict) -> dict[str, pd.DataFrame]:
    """The five phase-3 tables (docs/artifacts.md) from per-model records."""
    for r in records:
        missing = [k for k in RUN_KEYS if k not in r]
        if missing:
            raise InputError(f"evaluation record {r.get('run_id')}: missing key(s) {', '.join(missing)}")
    base = [r for r in records if r["run_id"] == "BASE"]
    if not base:
        raise InputError("phase 3: no BASE evaluation among the records")
    bm = base[0]["metrics"]
    runs: dict[str, dict[int, dict]] = {}
    for r in records:
        if r["run_id"] != "BASE":
            runs.setdefault(r["run_id"], {})[int(r["seed"])] = r["metrics"]
    b1 = runs.get("B1_uniform", {})

    overall, perq, ret, stuck = [], [], [], []
    base_row = {"run_id": "BASE", "quadrant": "", "format": "", "n_seeds": 1, "mean": bm["task_success"],
                "std": 0.0, "ci_low": bm["task_success"], "ci_high": bm["task_success"]}
    overall.append(base_row)
    for rid, by_seed in sorted(runs.items()):
        seeds = sorted(by_seed)
        ts = [by_seed[s]["task_success"] for s in seeds]
        mean, lo, hi = _ci(ts, stats_cfg, f"{rid} task_success")
        q, fmt = run_meta(rid)
        row = {"run_id": rid, "quadrant": q, "format": fmt, "n_seeds": len(ts), "mean": mean,
               "std": float(np.std(ts, ddof=1)) if len(ts) > 1 else 0.0, "ci_low": lo, "ci_high": hi}
        d = _paired([bm["task_success"]] * len(ts), ts, stats_cfg)  # BASE is deterministic
        row.update(delta_base=d["diff"], delta_base_ci_low=d["lo"], delta_base_ci_high=d["hi"], p_base=d["p"])
        shared = [s for s in seeds if s in b1]
        if rid != "B1_uniform" and shared:
            d = _paired([b1[s]["task_success"] for s in shared], [by_seed[s]["task_success"] for s in shared], stats_cfg)
            row.update(delta_b1=d["diff"], delta_b1_ci_low=d["lo"], delta_b1_ci_high=d["hi"], p_b1=d["p"])
        overall.append(row)
        for pq in QUADRANTS:
            vals = [by_seed[s].get(f"panel_success_{pq}") for s in seeds]
            vals = [v for v in vals if v is not None]
            if not vals:
                continue
            mean, lo, hi = _ci(vals, stats_cfg, f"{rid} {pq}")
            bq = bm.get(f"panel_success_{pq}")
            d = _paired([bq] * len(vals), vals, stats_cfg) if bq is not None else dict(diff=None, lo=None, hi=None)
            perq.append({"run_id": rid, "panel_quadrant": pq, "n_seeds": len(vals), "mean": mean,
                         "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0, "ci_low": lo, "ci_high": hi,
                         "delta_base": d["diff"], "delta_base_ci_low": d["lo"], "delta_base_ci_high": d["hi"]})
        rv = [by_seed[s].get("retention") for s in seeds]
        r_mean, r_lo, r_hi = _ci(rv, stats_cfg, f"{rid} retention")
        dv = [by_seed[s].get("retention_drop") for s in seeds]
        d_mean, d_lo, d_hi = _ci(dv, stats_cfg, f"{rid} retention_drop")
        ret.append({"run_id": rid, "n_seeds": len(seeds), "n_base_solved": by_seed[seeds[0]].get("n_base_solved"),
                    "retention": r_mean, "retention_ci_low": r_lo, "retention_ci_high": r_hi,
                    "retention_drop": d_mean, "drop_ci_low": d_lo, "drop_ci_high": d_hi})
    for rid, by_seed in [("BASE", {0: bm}), *sorted(runs.items())]:
        seeds = sorted(by_seed)
        row = {"run_id": rid, "n_seeds": len(seeds)}
        for k in ("repeat_rate", "loop_rate"):
            mean, lo, hi = _ci([by_seed[s][k] for s in seeds], stats_cfg, f"{rid} {k}")
            row.update({k: mean, f"{k}_ci_low": lo, f"{k}_ci_high": hi})
        row["mean_steps"] = float(np.mean([by_seed[s]["mean_steps"] for s in seeds]))
        stuck.append(row)

    ov = pd.DataFrame(overall)
    for col in ("delta_base", "delta_base_ci_low", "delta_base_ci_high", "p_base", "delta_b1", "delta_b1_ci_low",
                "delta_b1_ci_high", "p_b1"):
        if col not in ov:
            ov[col] = None
    for p_col in ("p_base", "p_b1"):  # Holm across the family of model-vs-baseline tests
        ov[f"{p_col}_holm"] = holm([None if pd.isna(x) else float(x) for x in ov[p_col]],
                                   stats_cfg["alpha"])["p_adjusted"]
    cols = ["run_id", "quadrant", "format", "n_seeds", "mean", "std", "ci_low", "ci_high", "delta_base",
            "delta_base_ci_low", "delta_base_ci_high", "p_base", "p_base_holm", "delta_b1", "delta_b1_ci_low",
            "delta_b1_ci_high", "p_b1", "p_b1_holm"]
    pq_df = pd.DataFrame(perq)

    trans = []
    for tq in QUADRANTS:
        for pq in QUADRANTS:
            deltas = []
            for rid, by_seed in runs.items():
                if run_meta(rid)[0] != tq or bm.get(f"panel_success_{pq}") is None:
                    continue
                deltas += [m[f"panel_success_{pq}"] - bm[f"panel_success_{pq}"] for m in by_seed.values()
                           if m.get(f"panel_success_{pq}") is not None]
            mean, lo, hi = _ci(deltas, stats_cfg, f"transfer {tq}->{pq}")
            trans.append({"train_quadrant": tq, "panel_quadrant": pq, "n": len(deltas), "delta_mean": mean,
                          "ci_low": lo, "ci_high": hi})
    return {"overall_task_results": ov[cols], "per_quadrant_results": pq_df, "transfer_matrix": pd.DataFrame(trans),
            "retention_results": pd.DataFrame(ret), "stuckness_results": pd.DataFrame(stuck)}

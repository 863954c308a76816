"""Phase 3 evaluation (docs/design.md §7): greedy end-to-end success on held-out task seeds, success
on the held-out snapshot panel per quadrant, retention on the tasks BASE solves, and
stuckness; then the seed-aggregated tables with bootstrap CIs and paired comparisons."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .io import InputError, derive_seed, hash_fraction
from .vocab import BASELINES, QUADRANTS
from .stats import hierarchical as hier

if TYPE_CHECKING:  # the model-running functions import torch lazily: gathers and tables stay torch-free
    from .policy import Policy
    from .engine import EpisodeSpec

RUN_KEYS = ("run_id", "seed", "metrics")


# Evaluation sets: phase 3 uses stage key "eval_tasks" and panel part 0; validation
# re-runs use FRESH_TASK_STAGE and panel part 1, disjoint from what picked the top-K.
EVAL_TASK_STAGE = "eval_tasks"
FRESH_TASK_STAGE = "validation_tasks"


def eval_tasks(cfg: dict, stage: str = EVAL_TASK_STAGE) -> list[int]:
    """The evaluation task seeds. An env with a finite pool of held-out tasks (SPLIT_ENVS:
    TextWorld's eval games, each deterministic) gets consecutive seeds from a derived start:
    TextWorldEnv.game_for_seed walks its pool round-robin, so n tasks are n distinct games
    while n <= families x n_eval_games (hashed seeds would land on the same game again, and
    greedy play on it repeats the same episode). Other envs: one derived seed per task."""
    from .envs import SPLIT_ENVS

    n = cfg["eval"]["n_tasks"]
    if cfg["env"]["name"] in SPLIT_ENVS:
        start = derive_seed(cfg["seed"], stage, 0)
        return [start + i for i in range(n)]
    return [derive_seed(cfg["seed"], stage, i) for i in range(n)]


def task_units(cfg: dict, seeds: list[int]) -> tuple[dict[int, str], str]:
    """({seed: unit}, ci_unit): the independent unit of each evaluation task - its game on
    TextWorld (games are deterministic: two tasks on one game are one observation under
    greedy play), else the task itself."""
    if cfg["env"]["name"] in ("textworld",):
        from .envs import env_from_config

        env = env_from_config(cfg["env"], expert=False, split="eval")  # reads the manifest only
        return {s: env.game_for_seed(s)[1] for s in seeds}, "games"
    return {s: str(s) for s in seeds}, "tasks"


def panel(snaps: list[dict], n_per_quadrant: int, seed: int, part: int = 0) -> list[dict]:
    """Held-out snapshots only, `n_per_quadrant` per quadrant, ranked by a seeded hash of
    the id (raising n keeps the earlier picks). Part k takes ranks [k*n, (k+1)*n): part 1
    is disjoint from part 0 (and may be smaller, or empty, where a quadrant runs out)."""
    out = []
    for q in QUADRANTS:
        pool = sorted((s for s in snaps if s["heldout"] and s["quadrant"] == q),
                      key=lambda s: hash_fraction(s["snapshot_id"], salt=f"panel{seed}"))
        out.extend(pool[part * n_per_quadrant:(part + 1) * n_per_quadrant])
    return out


def eval_specs(cfg: dict, snaps: list[dict], task_stage: str = EVAL_TASK_STAGE, panel_part: int = 0
               ) -> tuple[list[EpisodeSpec], dict[str, str]]:
    """Every episode of one model's evaluation, in a fixed order (tasks, then the panel),
    and the panel's quadrant by snapshot id. Blocks of this list are the evaluation shards.
    `task_stage`/`panel_part` select the task set and panel part (validation uses fresh ones)."""
    from .snapshot import decode_state
    from .engine import EpisodeSpec

    ev = cfg["eval"]
    pan = panel(snaps, ev["n_snapshots_per_quadrant"], cfg["seed"], panel_part)
    specs = [EpisodeSpec(f"task|{s}", seed=s, max_steps=cfg["env"]["max_steps"]) for s in eval_tasks(cfg, task_stage)]
    specs += [EpisodeSpec(f"panel|{s['snapshot_id']}", state=decode_state(s["state"]), history=list(s["history"]),
                          max_steps=ev["horizon"]) for s in pan]
    return specs, {s["snapshot_id"]: s["quadrant"] for s in pan}


def episode_rows(policy: Policy, cfg: dict, snaps: list[dict], shard: int = 0, shard_size: int | None = None,
                 task_stage: str = EVAL_TASK_STAGE, panel_part: int = 0) -> list[dict]:
    """Greedy per-episode rows of block `shard` (all episodes when shard_size is None)."""
    from .envs import env_from_config
    from .prompts import layout_of
    from .engine import run_episodes

    specs, quad = eval_specs(cfg, snaps, task_stage, panel_part)
    if shard_size is not None:
        specs = specs[shard * shard_size : (shard + 1) * shard_size]  # block `shard`
    res = run_episodes(policy, partial(env_from_config, cfg["env"], expert=False, split="eval"), specs, temperature=0.0,
                       history_len=cfg["student"]["history"], max_live=cfg["student"].get("max_live_episodes"),
                       layout=layout_of(cfg["student"]))
    units, ci_unit = task_units(cfg, [sp.seed for sp in specs if sp.seed is not None])
    rows = []
    for sp, r in zip(specs, res):
        kind, item = r.episode_id.split("|", 1)
        rows.append({"kind": kind, "item": item, "family": r.family, "quadrant": quad.get(item, ""),
                     "success": int(r.success), "steps": r.steps, "repeat_rate": r.repeat_rate,
                     "loop": int(r.loop_step is not None)})
        if kind == "task":  # the task's independent unit (its game on TextWorld)
            rows[-1].update(unit=units[sp.seed], ci_unit=ci_unit)
    return rows


SAMPLED_KIND = "task_sampled"  # rows of the sampled episodes of the evaluation tasks


def sampled_task_rows(policy: Policy, cfg: dict, snaps: list[dict], shard: int = 0, shard_size: int | None = None,
                      task_stage: str = EVAL_TASK_STAGE, panel_part: int = 0) -> list[dict]:
    """eval.sampled_per_task episodes of every evaluation task of block `shard`, acting by
    sampling at student.temperature (the temperature the labels are measured at) beside
    the greedy one: rows of kind `task_sampled` (item = the task, `sample` = k). Sample
    seeds come from (seed, 'eval_sampled', task, k): every model draws from the same
    streams (common random numbers, so paired differences are not sampling noise)."""
    from .envs import env_from_config
    from .prompts import layout_of
    from .engine import EpisodeSpec, run_episodes

    k = int(cfg["eval"].get("sampled_per_task", 0))
    temp = float(cfg["student"]["temperature"])
    specs, _ = eval_specs(cfg, snaps, task_stage, panel_part)
    if shard_size is not None:
        specs = specs[shard * shard_size : (shard + 1) * shard_size]  # block `shard`
    tasks = [sp for sp in specs if sp.seed is not None and sp.episode_id.startswith("task|")]
    if k <= 0 or not tasks or temp <= 0:
        return []
    samp = [EpisodeSpec(f"{sp.episode_id}|{j}", seed=sp.seed, max_steps=sp.max_steps,
                        sample_seed=derive_seed(cfg["seed"], "eval_sampled", f"{sp.seed}:{j}"))
            for sp in tasks for j in range(k)]
    res = run_episodes(policy, partial(env_from_config, cfg["env"], expert=False, split="eval"), samp,
                       temperature=temp, history_len=cfg["student"]["history"],
                       max_live=cfg["student"].get("max_live_episodes"), layout=layout_of(cfg["student"]))
    units, ci_unit = task_units(cfg, [sp.seed for sp in tasks])  # the task's independent unit, as its greedy row
    rows = []
    for sp, r in zip(samp, res):
        _, item, j = r.episode_id.split("|")
        rows.append({"kind": SAMPLED_KIND, "item": item, "sample": int(j), "family": r.family, "quadrant": "",
                     "success": int(r.success), "steps": r.steps, "repeat_rate": r.repeat_rate,
                     "loop": int(r.loop_step is not None), "unit": units[sp.seed], "ci_unit": ci_unit})
    return rows


def write_block(out: str, policy: Policy, cfg: dict, snaps: list[dict], shard: int, shard_size: int, *,
                run_id: str, seed: int, adapter: str | None, device: str) -> int:
    """Evaluate block `shard` of one model and write its rows (a phase-3 block file, read by
    evaluate_gather); the number of episodes. Used by evaluate_base.py (BASE) and by
    train_seed.py (rule train_seed) right after training each run."""
    from .io import write_json

    rows = episode_rows(policy, cfg, snaps, shard, shard_size) + sampled_task_rows(policy, cfg, snaps, shard, shard_size)
    write_json(out, {"run_id": run_id, "seed": seed, "adapter": adapter, "shard": shard, "device": device,
                     "rows": rows}, indent=None)
    return len(rows)


def metrics_from_rows(rows: list[dict], base_record: dict | None = None, task_stage: str = EVAL_TASK_STAGE,
                      panel_part: int = 0) -> dict:
    """A model's metrics, record fields and rows from its per-episode rows (all blocks)."""
    df = pd.DataFrame(rows)
    t, p = df[df.kind == "task"], df[df.kind == "panel"]
    m = {"task_success": float(t.success.mean()), "panel_success": float(p.success.mean()) if len(p) else None,
         "repeat_rate": float(t.repeat_rate.mean()), "loop_rate": float(t.loop.mean()),
         "mean_steps": float(t.steps.mean()), "n_tasks": len(t), "n_panel": len(p)}
    smp = df[df.kind == SAMPLED_KIND]  # eval.sampled_per_task episodes per task at student.temperature
    m["sampled_task_success"] = float(smp.success.mean()) if len(smp) else None
    m["n_sampled"] = len(smp)
    for q in QUADRANTS:
        pq = p[p.quadrant == q]
        m[f"panel_success_{q}"] = float(pq.success.mean()) if len(pq) else None
        m[f"n_panel_{q}"] = len(pq)
    if base_record is not None:
        solved = set(base_record["base_solved_tasks"])
        mine = t[t.item.astype(str).isin({str(s) for s in solved})]
        m["n_base_solved"] = len(solved)
        m["retention"] = float(mine.success.mean()) if len(mine) else None
        m["retention_drop"] = 1.0 - m["retention"] if m["retention"] is not None else None
    return {"metrics": m, "episodes": rows, "eval_set": {"task_stage": task_stage, "panel_part": panel_part,
                                                         **task_unit_counts(t)},
            "base_solved_tasks": [int(r["item"]) for r in rows if r["kind"] == "task" and r["success"]]}


def task_unit_counts(tasks: pd.DataFrame) -> dict:
    """ci_unit (games on TextWorld, else tasks), the number of distinct units among the task
    rows, and n_distinct_games (TextWorld; None elsewhere). Rows written before units were
    recorded count each task as its own unit."""
    if "unit" not in tasks.columns or tasks.unit.isna().all():
        return {"ci_unit": "tasks", "n_units": int(tasks.item.nunique()), "n_distinct_games": None}
    kinds = set(tasks.ci_unit.dropna())
    ci_unit = kinds.pop() if len(kinds) == 1 else ",".join(sorted(kinds))
    n = int(tasks.unit.nunique())
    return {"ci_unit": ci_unit, "n_units": n, "n_distinct_games": n if ci_unit == "games" else None}


def evaluate_policy(policy: Policy, cfg: dict, snaps: list[dict], base_record: dict | None = None,
                    task_stage: str = EVAL_TASK_STAGE, panel_part: int = 0) -> dict:
    """Metrics and per-episode rows of one model (greedy), all blocks in one process."""
    rows = episode_rows(policy, cfg, snaps, task_stage=task_stage, panel_part=panel_part) + \
        sampled_task_rows(policy, cfg, snaps, task_stage=task_stage, panel_part=panel_part)
    return metrics_from_rows(rows, base_record, task_stage, panel_part)


def evaluate_model(student_path: str, adapter: str | None, cfg: dict, snaps: list[dict], seed: int, device: str,
                   base_record: dict | None = None, task_stage: str = EVAL_TASK_STAGE, panel_part: int = 0) -> dict:
    from .policy import Policy

    st = cfg["student"]
    policy = Policy.load(student_path, adapter, device, st["batch_size"], st.get("prompt_format", "auto"),
                         st.get("dtype", "auto"))
    return evaluate_policy(policy, cfg, snaps, base_record, task_stage, panel_part)


# ------------------------------------------------- aggregation: seeds x tasks (two-level)
# Every CI below resamples training seeds and tasks (panel snapshots within their quadrant)
# together, paired by task and seed across the models compared (teachable.stats.hierarchical,
# docs/statistics.md). BASE is greedy and deterministic: one row that every seed shares.

EPISODE_KEYS = ("run_id", "seed", "kind", "item", "quadrant", "success", "repeat_rate", "loop")


def run_meta(run_id: str) -> tuple[str, str]:
    for q in QUADRANTS:
        if run_id.startswith(q + "_"):
            return q, run_id[len(q) + 1:]
    return "", "demo" if run_id in BASELINES else ""


class Models:
    """Per-model (seeds x items) matrices from phase-3 episodes.csv rows: `task` (end-to-end
    tasks) and `panel` (held-out snapshots) success, and task repeat_rate / loop."""

    def __init__(self, episodes: pd.DataFrame):
        missing = [k for k in EPISODE_KEYS if k not in episodes.columns]
        if missing:
            raise InputError(f"episodes: missing column(s) {', '.join(missing)}")
        ep = episodes.copy()
        ep["item"] = ep["item"].astype(str)
        ep["quadrant"] = ep["quadrant"].fillna("").astype(str)
        if "BASE" not in set(ep.run_id):
            raise InputError("phase 3: no BASE episodes")
        self.ep = ep
        t, p = ep[ep.kind == "task"], ep[ep.kind == "panel"]
        self.tasks = sorted(set(t[t.run_id == "BASE"].item), key=str)
        pb = p[p.run_id == "BASE"].drop_duplicates("item").sort_values("item")
        self.panel_items = list(pb.item)
        self.panel_quadrant = np.array(list(pb.quadrant))
        self.run_ids = sorted(set(ep.run_id) - {"BASE"})
        self._cache: dict = {}

    def seeds(self, rid: str) -> list[int]:
        return sorted(int(s) for s in set(self.ep[self.ep.run_id == rid].seed))

    def m(self, rid: str, kind: str = "task", value: str = "success") -> np.ndarray:
        key = (rid, kind, value)
        if key not in self._cache:
            rows = self.ep[(self.ep.run_id == rid) & (self.ep.kind == kind)]
            items = self.tasks if kind in ("task", SAMPLED_KIND) else self.panel_items
            if not items:
                raise InputError(f"phase 3: BASE has no {kind} episodes")
            self._cache[key] = hier.score_matrix(rows, value, items=items)[0]
        return self._cache[key]

    def base_solved(self) -> np.ndarray:
        return self.m("BASE")[0] > 0.5

    def quadrant_mask(self, q: str) -> np.ndarray:
        return self.panel_quadrant == q


def _ci_cols(ci: hier.TwoLevelCI, prefix: str = "ci") -> dict:
    """The two-level bootstrap CI and, below 10 seeds, the t-interval beside it (gates use the
    more conservative of the two: docs/statistics.md)."""
    return {f"{prefix}_low": ci.low, f"{prefix}_high": ci.high, f"{prefix}_t_low": ci.t_low,
            f"{prefix}_t_high": ci.t_high}


def _kw(stats_cfg: dict) -> dict:
    return dict(confidence=stats_cfg["confidence"], n_resamples=int(stats_cfg["n_resamples"]),
                seed=int(stats_cfg["seed"]), min_seeds=int(stats_cfg.get("min_seeds", 3)))


def _note(*cis: hier.TwoLevelCI) -> str:
    return "; ".join(sorted({c.note for c in cis if c.note}))


SAMPLED_COLS = ("sampled_per_task", "sampled_mean", "sampled_ci_low", "sampled_ci_high", "sampled_delta_base",
                "sampled_delta_base_ci_low", "sampled_delta_base_ci_high")


def _sampled_cols(M: Models, rid: str, ci: hier.TwoLevelCI | None, d: hier.TwoLevelCI | None = None) -> dict:
    """overall_task_results' sampled columns of one model: success when acting by sampling
    at student.temperature (eval.sampled_per_task episodes a task, averaged per task before
    the seeds x tasks CI), beside the greedy mean; delta vs BASE's sampled success."""
    if ci is None:
        return {}
    rows = M.ep[(M.ep.run_id == rid) & (M.ep.kind == SAMPLED_KIND)]
    per_task = int(rows.groupby(["seed", "item"]).size().max())
    out = {"sampled_per_task": per_task, "sampled_mean": ci.point, **_ci_cols(ci, "sampled_ci")}
    if d is not None:
        out.update(sampled_delta_base=d.point, **_ci_cols(d, "sampled_delta_base_ci"))
    return out


def tables(records: list[dict], stats_cfg: dict, episodes: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The five phase-3 tables (docs/artifacts.md) from per-episode rows; records give the
    run list and are checked against the episodes."""
    from .stats import holm  # statsmodels: only the tables job needs it, not the evaluation blocks

    for r in records:
        missing = [k for k in RUN_KEYS if k not in r]
        if missing:
            raise InputError(f"evaluation record {r.get('run_id')}: missing key(s) {', '.join(missing)}")
    if not any(r["run_id"] == "BASE" for r in records):
        raise InputError("phase 3: no BASE evaluation among the records")
    M = Models(episodes)
    have = {(r["run_id"], int(r["seed"])) for r in records}
    for rid in M.run_ids:
        for s in M.seeds(rid):
            if (rid, s) not in have:
                raise InputError(f"episodes of {rid} seed {s} have no evaluation record")
    kw = _kw(stats_cfg)
    unit = hier.CI_UNIT
    strata = M.panel_quadrant
    base_t = M.m("BASE")
    solved = M.base_solved()

    overall, perq, ret, stuck = [], [], [], []
    bci = hier.mean_ci(base_t, **{**kw, "min_seeds": 1})
    sampled = SAMPLED_KIND in set(M.ep.kind)  # greedy and sampled success side by side
    base_s = M.m("BASE", SAMPLED_KIND) if sampled else None
    sci = hier.mean_ci(base_s, **{**kw, "min_seeds": 1}) if sampled else None
    overall.append({"run_id": "BASE", "quadrant": "", "format": "", "n_seeds": 1, "n_tasks": base_t.shape[1],
                    "mean": bci.point, "std": 0.0, **_ci_cols(bci), **_sampled_cols(M, "BASE", sci),
                    "ci_unit": "tasks", "ci_note": bci.note})
    b1 = "B1_uniform" if "B1_uniform" in M.run_ids else None
    for rid in M.run_ids:
        x = M.m(rid)
        q, fmt = run_meta(rid)
        ci = hier.mean_ci(x, **kw)
        d = hier.paired_diff(base_t, x, **kw)
        row = {"run_id": rid, "quadrant": q, "format": fmt, "n_seeds": x.shape[0], "n_tasks": x.shape[1],
               "mean": ci.point, "std": float(np.std(x.mean(axis=1), ddof=1)) if x.shape[0] > 1 else 0.0,
               **_ci_cols(ci), "delta_base": d.point, **_ci_cols(d, "delta_base_ci"), "p_base": d.p_value}
        notes = [ci, d]
        if sampled:
            sx = M.m(rid, SAMPLED_KIND)
            sci, sd = hier.mean_ci(sx, **kw), hier.paired_diff(base_s, sx, **kw)
            row.update(_sampled_cols(M, rid, sci, sd))
            notes += [sci, sd]
        if b1 and rid != b1:
            if M.seeds(rid) != M.seeds(b1):
                raise InputError(f"{rid} has seeds {M.seeds(rid)}, B1_uniform {M.seeds(b1)}: paired by seed")
            d1 = hier.paired_diff(M.m(b1), x, **kw)
            row.update(delta_b1=d1.point, **_ci_cols(d1, "delta_b1_ci"), p_b1=d1.p_value)
            notes.append(d1)
        row.update(ci_unit=unit, ci_note=_note(*notes))
        overall.append(row)

        px, pbase = M.m(rid, "panel"), M.m("BASE", "panel")
        for pq in QUADRANTS:
            mask = M.quadrant_mask(pq)
            if not mask.any():
                continue
            ci = hier.two_level_ci(lambda r: hier.wmean(px, r, mask), px.shape[0], px.shape[1], strata=strata, **kw)
            d = hier.two_level_ci(lambda r: hier.wmean(px, r, mask) - hier.wmean(pbase, r, mask), px.shape[0],
                                  px.shape[1], strata=strata, **kw)
            perq.append({"run_id": rid, "panel_quadrant": pq, "n_seeds": px.shape[0], "n_items": int(mask.sum()),
                         "mean": ci.point, "std": float(np.std(px[:, mask].mean(axis=1), ddof=1))
                         if px.shape[0] > 1 else 0.0, **_ci_cols(ci), "delta_base": d.point,
                         **_ci_cols(d, "delta_base_ci"), "ci_unit": "seeds×panel items (within quadrant)",
                         "ci_note": _note(ci, d)})

        if solved.any():
            r_ci = hier.mean_ci(x, tasks=solved, **kw)
            d_ci = hier.mean_ci(1.0 - x, tasks=solved, **kw)  # BASE solves all of them: drop = 1 - retention
            ret.append({"run_id": rid, "n_seeds": x.shape[0], "n_base_solved": int(solved.sum()),
                        "retention": r_ci.point, "retention_ci_low": r_ci.low, "retention_ci_high": r_ci.high,
                        "retention_drop": d_ci.point, "drop_ci_low": d_ci.low, "drop_ci_high": d_ci.high,
                        "drop_ci_t_low": d_ci.t_low, "drop_ci_t_high": d_ci.t_high,
                        "ci_unit": unit, "ci_note": _note(r_ci, d_ci)})
        else:
            ret.append({"run_id": rid, "n_seeds": x.shape[0], "n_base_solved": 0, "ci_unit": unit,
                        "ci_note": "BASE solves no task: retention undefined"})

    for rid in ["BASE", *M.run_ids]:
        row = {"run_id": rid, "n_seeds": 1 if rid == "BASE" else len(M.seeds(rid))}
        notes = []
        for k, col in (("repeat_rate", "repeat_rate"), ("loop_rate", "loop")):
            x = M.m(rid, "task", col)
            ci = hier.mean_ci(x, **({**kw, "min_seeds": 1} if rid == "BASE" else kw))
            row.update({k: ci.point, f"{k}_ci_low": ci.low, f"{k}_ci_high": ci.high})
            notes.append(ci)
            if rid != "BASE":
                d = hier.paired_diff(M.m("BASE", "task", col), x, **kw)
                row.update({f"{k}_delta_base": d.point, f"{k}_delta_base_ci_low": d.low,
                            f"{k}_delta_base_ci_high": d.high})
                notes.append(d)
        row["mean_steps"] = float(M.m(rid, "task", "steps").mean()) if "steps" in M.ep else None
        row.update(ci_unit="tasks" if rid == "BASE" else unit, ci_note=_note(*notes))
        stuck.append(row)

    ov = pd.DataFrame(overall)
    for col in ("delta_base", "delta_base_ci_low", "delta_base_ci_high", "delta_base_ci_t_low", "delta_base_ci_t_high",
                "p_base", "delta_b1", "delta_b1_ci_low", "delta_b1_ci_high", "delta_b1_ci_t_low", "delta_b1_ci_t_high",
                "p_b1"):
        if col not in ov:
            ov[col] = None
    for p_col in ("p_base", "p_b1"):  # Holm across the family of model-vs-baseline tests
        ov[f"{p_col}_holm"] = holm([None if pd.isna(x) else float(x) for x in ov[p_col]],
                                   stats_cfg["alpha"])["p_adjusted"]
    cols = ["run_id", "quadrant", "format", "n_seeds", "n_tasks", "mean", "std", "ci_low", "ci_high", "ci_t_low",
            "ci_t_high", "delta_base", "delta_base_ci_low", "delta_base_ci_high", "delta_base_ci_t_low",
            "delta_base_ci_t_high", "p_base", "p_base_holm", "delta_b1", "delta_b1_ci_low", "delta_b1_ci_high",
            "delta_b1_ci_t_low", "delta_b1_ci_t_high", "p_b1", "p_b1_holm", "ci_unit", "ci_note"]
    for col in SAMPLED_COLS:  # greedy and sampled success side by side
        if col not in ov:
            ov[col] = None
    after = cols.index("ci_t_high" if "ci_t_high" in cols else "ci_high") + 1  # beside greedy's mean and CIs
    cols = cols[:after] + list(SAMPLED_COLS) + cols[after:]
    return {"overall_task_results": ov[cols], "per_quadrant_results": pd.DataFrame(perq),
            "transfer_matrix": pd.DataFrame(transfer_rows(M, kw)), "retention_results": pd.DataFrame(ret),
            "stuckness_results": _tail(pd.DataFrame(stuck), ["ci_unit", "ci_note"])}


def _tail(df: pd.DataFrame, last: list[str]) -> pd.DataFrame:
    return df[[c for c in df.columns if c not in last] + [c for c in last if c in df.columns]]


def quadrant_runs(M: Models, tq: str) -> list[str]:
    return [rid for rid in M.run_ids if run_meta(rid)[0] == tq]


def pooled_panel(M: Models, rids: list[str]) -> np.ndarray:
    """Per-seed mean over runs (e.g. the three formats of a quadrant) of panel success."""
    mats = [M.m(r, "panel") for r in rids]
    if len({m.shape for m in mats}) > 1:
        raise InputError(f"runs {rids} have different seeds or panel items: cannot pool them by seed")
    return np.mean(mats, axis=0)


def transfer_rows(M: Models, kw: dict) -> list[dict]:
    """4x4 transfer: runs trained on quadrant tq (formats pooled per seed) on the held-out
    panel items of quadrant pq, delta vs BASE."""
    out = []
    pbase = M.m("BASE", "panel")
    for tq in QUADRANTS:
        rids = quadrant_runs(M, tq)
        x = pooled_panel(M, rids) if rids else None
        for pq in QUADRANTS:
            mask = M.quadrant_mask(pq)
            if x is None or not mask.any():
                out.append({"train_quadrant": tq, "panel_quadrant": pq, "n": 0, "n_seeds": 0, "n_items": int(mask.sum()),
                            "delta_mean": None, "ci_low": None, "ci_high": None, "ci_unit": hier.CI_UNIT,
                            "ci_note": "no runs" if x is None else "no panel items"})
                continue
            d = hier.two_level_ci(lambda r: hier.wmean(x, r, mask) - hier.wmean(pbase, r, mask), x.shape[0],
                                  x.shape[1], strata=M.panel_quadrant, **kw)
            out.append({"train_quadrant": tq, "panel_quadrant": pq, "n": int(x.shape[0] * mask.sum()),
                        "n_seeds": x.shape[0], "n_items": int(mask.sum()), "n_runs": len(rids),
                        "delta_mean": d.point, "ci_low": d.low, "ci_high": d.high,
                        "ci_unit": "seeds×panel items (within quadrant)", "ci_note": d.note})
    return out

"""Job counts of the sharded stages (docs/cluster.md), known at DAG-build time from config
values alone: a stage's item count (or an upper bound on it) over its shard size.

Per-item randomness never depends on the shard (it derives from (seed, stage, item id)),
so the shard size and N change how work is spread, not what an item's result is."""

from __future__ import annotations

import math


def n_shards(n_items: int, shard_size: int) -> int:
    return max(1, math.ceil(n_items / shard_size))


def block(items: list, shard: int, shard_size: int) -> list:
    """Contiguous block `shard` of `items` (empty past the end)."""
    return items[shard * shard_size : (shard + 1) * shard_size]


def labeling_bound(cfg: dict) -> int:
    """Upper bound on the snapshots labeling sees: one failure snapshot per phase-0 task
    and offset, plus (when included) at most one expert snapshot per expert step; capped by
    labeling.max_snapshots. The real count is known only after phase 0 runs."""
    p0, lab = cfg["phase0"], cfg["labeling"]
    n = p0["n_tasks"] * len(p0["k_offsets"])
    if lab["include_expert"]:
        n += p0["expert_n_tasks"] * cfg["env"]["max_steps"]
    return min(n, lab["max_snapshots"]) if lab["max_snapshots"] is not None else n


def stage_shards(cfg: dict) -> dict[str, int]:
    """Job count of each sharded stage (evaluation: blocks per model)."""
    p1b, ev = cfg["phase1b"], cfg["eval"]
    return {
        "phase0": n_shards(cfg["phase0"]["n_tasks"], cfg["phase0"]["shard_size"]),
        "labeling": n_shards(labeling_bound(cfg), cfg["labeling"]["shard_size"]),
        "micro": n_shards(4 * p1b["n_per_quadrant"], p1b["shard_size"]),
        "eval": n_shards(ev["n_tasks"] + 4 * ev["n_snapshots_per_quadrant"], ev["shard_size"]),
    }


# ------------------------------------------------------------------------------ gathers

def merge_rollouts(parts: list[dict]) -> dict:
    """phase0/rollouts.json from its shards: trajectories sorted by id."""
    trajs = sorted((t for p in parts for t in p["trajectories"]), key=lambda t: t["trajectory_id"])
    ids = [t["trajectory_id"] for t in trajs]
    if len(set(ids)) != len(ids):
        raise ValueError("phase-0 rollout shards overlap (a trajectory id appears twice)")
    n_ok = sum(t["success"] for t in trajs)
    return {"seed": parts[0]["seed"], "n": len(trajs), "success_rate": n_ok / max(1, len(trajs)),
            "trajectories": trajs}


def merge_micro(parts: list[dict]) -> dict:
    """phase1b/micro_training_results.json from its shards: records in panel order (shard
    order), wall time summed over the jobs."""
    out = {k: v for k, v in parts[0].items() if k not in ("records", "shard", "shard_size")}
    records = [r for p in parts for r in p["records"]]
    wall = sum(p["wall_time_s"] for p in parts)
    devices = sorted({p["device"] for p in parts if p["records"]}) or [parts[0]["device"]]
    out.update(records=records, n_snapshots=len(records), wall_time_s=round(wall, 3),
               seconds_per_snapshot=round(wall / max(1, len(records)), 3), n_jobs=len(parts),
               device=devices[0] if len(devices) == 1 else ",".join(devices))
    return out

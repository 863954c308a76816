"""Label one shard of snapshots, and gather shards into the phase-1 artifacts."""

from __future__ import annotations

import numpy as np

from ..io import InputError
from ..prompts import DEFAULT_LAYOUT
from ..vocab import QUADRANTS
from .quadrants import add_depth, add_split, assign_quadrants, structural_features, thresholds
from .uncertainty import add_uncertainty

SNAPSHOT_KEYS = ("snapshot_id", "trajectory_id", "step", "state", "mission", "obs_text", "valid_actions",
                 "history", "expert_action")


def select_snapshots(failure: list[dict], expert: list[dict], include_expert: bool, max_snapshots: int | None,
                     ) -> list[dict]:
    snaps = sorted(failure + (expert if include_expert else []), key=lambda s: s["snapshot_id"])
    ids = [s["snapshot_id"] for s in snaps]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise InputError(f"duplicate snapshot id '{dup}' in the phase-0 snapshot files")
    if max_snapshots is not None and len(snaps) > max_snapshots:
        # a deterministic, id-ordered subsample spread over the whole list
        idx = np.linspace(0, len(snaps) - 1, max_snapshots).round().astype(int)
        snaps = [snaps[i] for i in sorted(set(idx))]
    return snaps


def shard_of(snaps: list[dict], shard: int, n_shards: int) -> list[dict]:
    return [s for i, s in enumerate(snaps) if i % n_shards == shard]


def ask_teacher(teacher, snaps: list[dict]) -> None:
    from ..workflow.logs import progress
    from ..teacher import TeacherRequest

    for s in progress(snaps, desc="teacher", unit="call"):
        adv = teacher.advise(TeacherRequest(
            snapshot_id=s["snapshot_id"], mission=s["mission"], obs_text=s["obs_text"],
            valid_actions=list(s["valid_actions"]), student_action=s["student_greedy_action"],
            expert_action=s.get("expert_action"), expert_subgoal=s.get("expert_subgoal")))
        # 'cached' depends on which shard asked first: kept in teacher_usage.json only, so
        # the labels themselves are identical however the shards were scheduled
        s["teacher"] = {k: v for k, v in adv.to_dict().items() if k != "cached"}
        # BASE's greedy action (the evaluation policy's) already the teacher's: nothing to
        # teach at this state under greedy play, whatever the labels at student.temperature say
        s["base_greedy_is_teacher"] = s["student_greedy_action"] == s["teacher"].get("suggested_action")


def label_shard(policy, make_env, teacher, snaps: list[dict], lab_cfg: dict, seed: int, temperature: float,
                history_len: int, progress=False, layout: str = DEFAULT_LAYOUT) -> tuple[list[dict], list[dict]]:
    """Returns (labeled, flagged): a snapshot whose teacher answer is flagged invalid gets
    no CPT (its patches would carry a wrong action) and is set aside, never relabeled.
    `layout`: the student's prompt layout (student.prompt_layout)."""
    from .branches import label_rollouts  # torch (the engine) only here: gathers stay torch-free

    add_uncertainty(policy, snaps, layout)
    ask_teacher(teacher, snaps)
    flagged = [s for s in snaps if not s["teacher"].get("valid", True)]
    snaps = [s for s in snaps if s["teacher"].get("valid", True)]
    label_rollouts(policy, make_env, snaps, lab_cfg["n_rollouts"], lab_cfg["horizon"], seed, temperature,
                   history_len, cpt=True, progress=progress, outcome=lab_cfg["outcome"], layout=layout)
    for s in snaps:
        s["features"] = structural_features(s)
    return snaps, flagged


def gather(shards: list[list[dict]], quad_cfg: dict, holdout_frac: float, seed: int) -> tuple[list[dict], dict, dict]:
    snaps = sorted((s for sh in shards for s in sh), key=lambda s: s["snapshot_id"])
    add_depth(snaps)
    add_split(snaps, holdout_frac, seed)
    th = thresholds(snaps, quad_cfg["method"], quad_cfg["quantile"], quad_cfg["U_threshold"], quad_cfg["L_threshold"])
    counts = assign_quadrants(snaps, th)
    th["counts"] = counts
    th["counts_heldout"] = {q: sum(s["quadrant"] == q and s["heldout"] for s in snaps) for q in QUADRANTS}
    qs = [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95]
    quantiles = {k: {str(q): float(np.quantile([s[k] for s in snaps], q)) for q in qs}
                 for k in ("U", "L_local", "L_upper", "ELP_net", "ELP_raw", "p_policy", "p_force", "p_expert")}
    return snaps, th, quantiles


def greedy_teacher_agreement(snaps: list[dict]) -> dict:
    """Share of labeled snapshots where BASE's greedy action is already the teacher's
    (`base_greedy_is_teacher`), overall, per quadrant and per snapshot source (failure,
    expert); None where no snapshot carries the field (labeled before it existed)."""
    def share(rs):
        v = [bool(r["base_greedy_is_teacher"]) for r in rs if r.get("base_greedy_is_teacher") is not None]
        return {"n": len(v), "share": sum(v) / len(v) if v else None}

    return {"overall": share(snaps), "per_quadrant": {q: share([s for s in snaps if s.get("quadrant") == q])
                                                      for q in QUADRANTS},
            "per_source": {src: share([s for s in snaps if s.get("source") == src]) for src in ("failure", "expert")}}

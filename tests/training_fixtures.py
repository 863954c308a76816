"""TEST-ONLY labeled snapshots for the training tests: real phase-0 rollouts and mining, real
uncertainty and leverage/CPT rollouts (labeling.branches), real split and quadrants; only the
teacher is a stand-in (the expert's action + a templated diagnosis, what the `bot` backend
returns) so these tests do not depend on teachable.teacher.

Also runnable by hand to make a labeled file for measurements:
    PYTHONPATH=src python tests/training_fixtures.py --cfg config/config.yaml \
        --student results/student/base --out /tmp/labeled.jsonl
"""

from __future__ import annotations

import argparse
from functools import partial

from teachable.envs import env_from_config
from teachable.io import write_jsonl
from teachable.labeling.pipeline import gather
from teachable.labeling.quadrants import structural_features
from teachable.labeling.branches import label_rollouts
from teachable.labeling.uncertainty import add_uncertainty
from teachable.mining import mine_failures, student_rollouts
from teachable.policy import Policy
from teachable.student import default_diagnosis


def stand_in_teacher(s: dict) -> dict:
    a = s["expert_action"]
    return {"suggested_action": a, "rationale": "expert oracle (test stand-in)",
            "diagnosis": default_diagnosis(s["mission"], s["obs_text"], a, s.get("expert_subgoal")),
            "error_type": "unknown", "confidence": 1.0, "valid": True, "flags": [], "backend": "test-stand-in",
            "model": None, "cached": False, "retries": 0}


def labeled_snapshots(cfg: dict, student: str, n_tasks: int | None = None, n_rollouts: int = 4,
                      horizon: int | None = None, holdout_frac: float = 0.3, max_snapshots: int | None = None,
                      progress=False) -> list[dict]:
    make_env = partial(env_from_config, cfg["env"])
    st = cfg["student"]
    policy = Policy.load(student, None, "cpu", st["batch_size"])
    trajs = student_rollouts(policy, make_env, n_tasks or cfg["phase0"]["n_tasks"], cfg["seed"], st["temperature"],
                             st["history"], cfg["env"]["max_steps"], progress=progress)
    snaps = mine_failures(trajs, make_env, cfg["phase0"]["k_offsets"], st["history"])
    if max_snapshots and len(snaps) > max_snapshots:
        snaps = snaps[:max_snapshots]
    add_uncertainty(policy, snaps)
    for s in snaps:
        s["teacher"] = stand_in_teacher(s)
    label_rollouts(policy, make_env, snaps, n_rollouts, horizon or cfg["env"]["max_steps"], cfg["seed"],
                   st["temperature"], st["history"], cpt=True, progress=progress)
    for s in snaps:
        s["features"] = structural_features(s)
    quad = {"method": "median", "quantile": 0.5, "U_threshold": None, "L_threshold": None}
    snaps, _, _ = gather([snaps], quad, holdout_frac, cfg["seed"])
    return snaps


if __name__ == "__main__":
    from teachable.config import load_config

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cfg", required=True)
    p.add_argument("--student", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--n-rollouts", type=int, default=4)
    p.add_argument("--horizon", type=int, default=20)
    p.add_argument("--max-snapshots", type=int, default=None)
    a = p.parse_args()
    c = load_config(a.cfg)
    rows = labeled_snapshots(c, a.student, n_rollouts=a.n_rollouts, horizon=a.horizon,
                             max_snapshots=a.max_snapshots, progress=True)
    write_jsonl(a.out, rows)
    print(f"{len(rows)} labeled snapshots -> {a.out}")

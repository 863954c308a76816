"""The validation report's CIs are two-level (seeds x tasks), paired with BASE on the fresh
tasks, and withheld with too few seeds (docs/training.md, "Validation on fresh tasks")."""

import numpy as np
import pandas as pd
import pytest

from teachable.io import InputError
from teachable.stats.hierarchical import CI_UNIT, TOO_FEW
from teachable.validation import report

VAL = {"metric": "task_success", "criteria": {"min_ratio": 0.5, "max_cv": 0.5, "ci_above_base": True}}
STATS = {"confidence": 0.95, "n_resamples": 2000, "seed": 0, "min_seeds": 3}


def _rows(run_id, seeds, success):
    """Episode rows of one model: success[s][t] on task t (plus a 2-item panel)."""
    out = []
    for s, row in zip(seeds, success):
        for t, v in enumerate(row):
            out.append({"run_id": run_id, "seed": s, "kind": "task", "item": str(t), "quadrant": "",
                        "success": float(v), "repeat_rate": 0.0, "loop": 0.0})
        for i in range(2):
            out.append({"run_id": run_id, "seed": s, "kind": "panel", "item": f"p{i}", "quadrant": "Q1_highU_highL",
                        "success": 0.0, "repeat_rate": 0.0, "loop": 0.0})
    return out


def _study(seeds, n_tasks, base_p, run_p, rng):
    base = (rng.random(n_tasks) < base_p).astype(float)
    # every seed solves the SAME tasks: zero spread over seeds, all uncertainty is in the tasks
    run = np.tile((rng.random(n_tasks) < run_p).astype(float), (len(seeds), 1))
    eps = pd.DataFrame(_rows("BASE", [0], [base]) + _rows("Q1_demo", seeds, run))
    recs = [{"run_id": "Q1_demo", "seed": s, "metrics": {"task_success": float(run[i].mean())}}
            for i, s in enumerate(seeds)]
    return eps, recs, float(base.mean()), float(run.mean())


def test_fresh_cis_resample_tasks_and_pair_with_base():
    rng = np.random.default_rng(0)
    eps, recs, b, m = _study([1000, 1001, 1002], 64, 0.3, 0.6, rng)
    oeps, _, ob, om = _study([0, 1, 2], 64, 0.3, 0.7, rng)
    sel = [{"run_id": "Q1_demo", "original_mean": om, "original_n_seeds": 3}]
    rep = report(sel, recs, VAL, STATS, b, ob, episodes=eps, original_episodes=oeps)
    r = rep["configs"][0]
    assert rep["ci_unit"] == r["ci_unit"] == CI_UNIT
    # the seeds agree exactly, so a CI over seeds only would have zero width; over tasks it does not
    assert r["std"] == 0.0 and r["ci_high"] - r["ci_low"] > 0.1
    assert r["ci_low"] < m < r["ci_high"]
    assert r["fresh_delta_ci_low"] < r["fresh_delta_base"] < r["fresh_delta_ci_high"]
    assert r["fresh_delta_ci_low"] > 0 and r["beats_base"] is True and r["p_base"] < 0.05
    assert r["original_delta_ci_low"] < r["original_delta_base"] < r["original_delta_ci_high"]
    # the shrinkage combines two independent bootstraps: wider than either delta's CI
    assert r["shrinkage_ci_low"] < r["shrinkage"] < r["shrinkage_ci_high"]
    assert r["shrinkage_ci_high"] - r["shrinkage_ci_low"] > r["fresh_delta_ci_high"] - r["fresh_delta_ci_low"]
    assert r["passed"] is True and r["ci_note"] == ""


def test_fresh_delta_ci_fails_a_null_and_too_few_seeds_withholds_it():
    rng = np.random.default_rng(1)
    eps, recs, b, _ = _study([1000, 1001, 1002], 64, 0.4, 0.4, rng)  # no effect
    sel = [{"run_id": "Q1_demo", "original_mean": 0.4, "original_n_seeds": 3}]
    r = report(sel, recs, VAL, STATS, b, None, episodes=eps)["configs"][0]
    assert r["fresh_delta_ci_low"] < 0.05 and r["beats_base"] is False and r["passed"] is False
    assert r["shrinkage_ci_low"] is None
    eps2, recs2, b2, _ = _study([1000, 1001], 64, 0.3, 0.6, rng)
    r = report(sel, recs2, VAL, STATS, b2, None, episodes=eps2)["configs"][0]
    assert r["ci_low"] is None and r["fresh_delta_ci_low"] is None
    assert TOO_FEW in r["ci_note"] and r["beats_base"] is None and r["passed"] is None


def test_report_needs_the_episodes_of_every_selected_run():
    rng = np.random.default_rng(2)
    eps, recs, b, _ = _study([1000, 1001, 1002], 8, 0.3, 0.6, rng)
    sel = [{"run_id": "Q1_demo", "original_mean": 0.5, "original_n_seeds": 3}]
    with pytest.raises(InputError, match="per-episode rows are required"):
        report(sel, recs, VAL, STATS, b, None)
    with pytest.raises(InputError, match="no fresh episodes for Q1_demo"):
        report(sel, recs, VAL, STATS, b, None, episodes=eps[eps.run_id == "BASE"])

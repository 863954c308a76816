"""Phase 3 reports greedy and sampled success side by side (eval.sampled_per_task episodes a
task at student.temperature, the temperature the labels are measured at)."""

import numpy as np
import pandas as pd
import pytest

from teachable.evaluation import SAMPLED_COLS, SAMPLED_KIND, evaluate_model, metrics_from_rows, tables
from teachable.vocab import QUADRANTS

from conftest import MOCK_CONFIG

STATS = {"confidence": 0.95, "n_resamples": 300, "seed": 0, "min_seeds": 3, "alpha": 0.05}


def test_sampled_episodes_of_every_task_with_shared_sample_streams(mock_student):
    from teachable.config import load_config

    cfg = load_config(MOCK_CONFIG, {"eval": {"n_tasks": 6, "sampled_per_task": 3}})
    rec = evaluate_model(mock_student, None, cfg, [], 0, "cpu")
    tasks = [e for e in rec["episodes"] if e["kind"] == "task"]
    smp = [e for e in rec["episodes"] if e["kind"] == SAMPLED_KIND]
    assert len(tasks) == 6 and len(smp) == 18
    assert {(e["item"], e["sample"]) for e in smp} == {(t["item"], j) for t in tasks for j in range(3)}
    unit = {t["item"]: (t["unit"], t["ci_unit"]) for t in tasks}  # a sample carries its task's unit
    assert all((e["unit"], e["ci_unit"]) == unit[e["item"]] for e in smp)
    m = rec["metrics"]
    assert m["sampled_task_success"] == pytest.approx(np.mean([e["success"] for e in smp])) and m["n_sampled"] == 18
    assert m["task_success"] == pytest.approx(np.mean([e["success"] for e in tasks]))  # greedy as before
    assert rec["base_solved_tasks"] == [int(t["item"]) for t in tasks if t["success"]]
    again = evaluate_model(mock_student, None, cfg, [], 0, "cpu")  # the same streams: the same episodes
    assert [e for e in again["episodes"] if e["kind"] == SAMPLED_KIND] == smp
    off = load_config(MOCK_CONFIG, {"eval": {"n_tasks": 6, "sampled_per_task": 0}})
    greedy = evaluate_model(mock_student, None, off, [], 0, "cpu")
    assert greedy["metrics"]["sampled_task_success"] is None
    assert [e for e in greedy["episodes"] if e["kind"] == "task"] == tasks  # sampling leaves greedy alone


def _episodes(rng, n_seeds=3, n_tasks=20, k=4, p_greedy=0.4, p_sampled=0.3):
    rows = []
    for rid, seeds, shift in (("BASE", [0], 0.0), ("B2_all", range(n_seeds), 0.2)):
        for s in seeds:
            for t in range(n_tasks):
                rows.append({"run_id": rid, "seed": s, "kind": "task", "item": str(t), "quadrant": "",
                             "success": int(rng.random() < p_greedy + shift), "repeat_rate": 0.0, "loop": 0, "steps": 5})
                rows += [{"run_id": rid, "seed": s, "kind": SAMPLED_KIND, "item": str(t), "quadrant": "", "sample": j,
                          "success": int(rng.random() < p_sampled + shift), "repeat_rate": 0.0, "loop": 0, "steps": 5}
                         for j in range(k)]
            rows += [{"run_id": rid, "seed": s, "kind": "panel", "item": f"p{q}", "quadrant": q, "success": 1,
                      "repeat_rate": 0.0, "loop": 0, "steps": 5} for q in QUADRANTS]
    return pd.DataFrame(rows)


def test_overall_table_has_sampled_success_beside_greedy():
    ep = _episodes(np.random.default_rng(0))
    recs = [{"run_id": r, "seed": int(s), "metrics": {}} for r, s in ep[["run_id", "seed"]].drop_duplicates().values]
    ov = tables(recs, STATS, ep)["overall_task_results"].set_index("run_id")
    cols = list(ov.reset_index().columns)
    at = cols.index("ci_t_high" if "ci_t_high" in cols else "ci_high") + 1
    assert cols[at : at + len(SAMPLED_COLS)] == list(SAMPLED_COLS)
    smp = ep[ep.kind == SAMPLED_KIND]
    for rid in ("BASE", "B2_all"):
        want = smp[smp.run_id == rid].groupby(["seed", "item"]).success.mean().mean()
        assert ov.loc[rid, "sampled_mean"] == pytest.approx(want) and ov.loc[rid, "sampled_per_task"] == 4
        assert ov.loc[rid, "sampled_ci_low"] <= want <= ov.loc[rid, "sampled_ci_high"]
    assert ov.loc["B2_all", "sampled_delta_base"] == pytest.approx(
        ov.loc["B2_all", "sampled_mean"] - ov.loc["BASE", "sampled_mean"])
    assert ov.loc["B2_all", "mean"] != ov.loc["B2_all", "sampled_mean"]  # greedy unchanged beside it
    # greedy-only episodes (eval.sampled_per_task 0, or files from before): the columns are empty
    g = ep[ep.kind != SAMPLED_KIND]
    ov0 = tables(recs, STATS, g)["overall_task_results"]
    assert list(ov0.columns) == cols and ov0[list(SAMPLED_COLS)].isna().all().all()


def test_metrics_without_sampled_rows_say_none():
    m = metrics_from_rows([{"kind": "task", "item": "1", "success": 1, "steps": 3, "repeat_rate": 0.0, "loop": 0,
                            "quadrant": ""}])["metrics"]
    assert m["sampled_task_success"] is None and m["n_sampled"] == 0

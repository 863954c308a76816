"""Figures, tables and gates on small fabricated inputs in the exact formats of
docs/artifacts.md (TEST-ONLY data: the pipeline's figures read real artifacts)."""

import json
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from teachable.figures import FIGURES, make_figure, make_tables
from teachable.gates import collect_gates
from teachable.io import InputError
from teachable.vocab import FORMATS, QUADRANTS

ROOT = Path(__file__).resolve().parents[1]


def nonwhite_fraction(png) -> float:
    img = mpimg.imread(png)[..., :3]
    return float((img.min(axis=-1) < 0.95).mean())


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """TEST-ONLY fabricated artifacts (formats of docs/artifacts.md)."""
    d = tmp_path_factory.mktemp("results")
    rng = np.random.default_rng(0)
    (d / "phase1").mkdir()
    (d / "phase1b").mkdir()
    (d / "phase3").mkdir()
    (d / "phase4").mkdir()
    (d / "phase5" / "selection").mkdir(parents=True)
    snaps = []
    for i in range(40):
        u, l = float(rng.uniform(0, 1.6)), float(rng.choice([0, 0.25, 0.5, 0.75]))
        q = QUADRANTS[0] if u > 0.8 and l > 0.25 else QUADRANTS[1] if u > 0.8 else QUADRANTS[3] if l > 0.25 else QUADRANTS[2]
        gains = rng.choice([0, 0.25, 0.5], size=3)
        elp = float(gains.max() - 0.1)
        snaps.append({"snapshot_id": f"t{i}_step0001_k1", "U": u, "L_local": l, "quadrant": q,
                      "p_base": 0.25, "p_placebo": 0.25 + float(rng.choice([0, 0.05, -0.05])),
                      "ELP_net": elp, "ELP_net_xfit": elp - 0.05,
                      "route_net": FORMATS[int(gains.argmax())] if elp > 0 else None})
    with open(d / "phase1/labeled_snapshots.jsonl", "w") as f:
        f.writelines(json.dumps(s) + "\n" for s in snaps)
    (d / "phase1/quadrant_thresholds_auto.json").write_text(json.dumps(
        {"method": "median", "U_threshold": 0.8, "L_threshold": 0.25}))
    (d / "phase1/labeling_metadata.json").write_text(json.dumps({"gates": [
        {"name": "quadrant_balance", "value": 5, "threshold": 3, "passed": True, "counts": {}}]}))
    recs = [{"snapshot_id": s["snapshot_id"], "quadrant": s["quadrant"], "route": "demo", "ELP_net": s["ELP_net"],
             "ELP_net_xfit": s["ELP_net_xfit"], "utility": float(rng.choice([-0.25, 0, 0.25, 0.5])), "success_before": 0.25, "success_after": 0.5}
            for s in snaps[:20]]
    (d / "phase1b/micro_training_results.json").write_text(json.dumps({"records": recs}))
    (d / "phase1b/cpt_correlation.json").write_text(json.dumps({
        "overall": {"pearson": {"r": 0.3}, "spearman": {"r": 0.35, "ci": {"low": 0.05, "high": 0.6}}},
        "per_quadrant": {}, "gate": {"name": "cpt_spearman", "value": 0.35, "ci": [0.05, 0.6],
                                     "threshold": 0.3, "passed": True}}))
    runs = ["BASE", "B1_uniform", "B2_all"] + [f"{q}_{f}" for q in QUADRANTS for f in FORMATS]
    rows, ret, stuck = [], [], []
    for r in runs:
        q, f = (r.rsplit("_", 1) if r.startswith("Q") else ("", "demo" if r.startswith("B") else ""))
        m = float(rng.uniform(0.3, 0.6))
        db = 0.0 if r == "BASE" else m - 0.4
        rows.append({"run_id": r, "quadrant": q, "format": f, "n_seeds": 3, "mean": m, "std": 0.05,
                     "ci_low": m - 0.05, "ci_high": m + 0.05, "delta_base": db, "delta_base_ci_low": db - 0.05,
                     "delta_base_ci_high": db + 0.05, "p_base": 0.2, "p_base_holm": 0.5, "delta_b1": 0.0,
                     "delta_b1_ci_low": -0.05, "delta_b1_ci_high": 0.05, "p_b1": 0.5, "p_b1_holm": 1.0})
        dr = 0.0 if r == "BASE" else float(rng.uniform(-0.05, 0.08))
        ret.append({"run_id": r, "n_seeds": 3, "n_base_solved": 10, "retention": 1 - dr, "retention_ci_low": 0.8,
                    "retention_ci_high": 1.0, "retention_drop": dr, "drop_ci_low": dr - 0.03, "drop_ci_high": dr + 0.03})
        rr, lr = float(rng.uniform(0.1, 0.4)), float(rng.uniform(0, 0.3))
        stuck.append({"run_id": r, "n_seeds": 3, "repeat_rate": rr, "repeat_rate_ci_low": rr - 0.02,
                      "repeat_rate_ci_high": rr + 0.02, "loop_rate": lr, "loop_rate_ci_low": max(0, lr - 0.02),
                      "loop_rate_ci_high": lr + 0.02, "mean_steps": 12.0})
    pd.DataFrame(rows).to_csv(d / "phase3/overall_task_results.csv", index=False)
    pd.DataFrame(ret).to_csv(d / "phase3/retention_results.csv", index=False)
    pd.DataFrame(stuck).to_csv(d / "phase3/stuckness_results.csv", index=False)
    pd.DataFrame([{"train_quadrant": a, "panel_quadrant": b, "n": 9, "delta_mean": 0.2 if a == b else 0.05,
                   "ci_low": 0.0, "ci_high": 0.3} for a in QUADRANTS for b in QUADRANTS]).to_csv(
        d / "phase3/transfer_matrix.csv", index=False)
    met = {m: {"P@5": p, "NDCG@5": p, "P@10": p - 0.1, "NDCG@10": p, "spearman": 0.1}
           for m, p in (("model", 0.7), ("entropy", 0.5), ("random", 0.4))}
    (d / "phase4/training_result.json").write_text(json.dumps({"k_values": [5, 10], "n_heldout": 12, "metrics": met,
        "gates": [{"name": "predictor_beats_entropy_NDCG@5", "value": 0.2, "threshold": 0.0, "passed": True,
                   "ci": {"point": 0.2, "low": -0.1, "high": 0.4}}]}))
    (d / "phase5/selection/selection_summary.json").write_text(json.dumps({"gates": [
        {"name": "selection_oracle_ge_random_task_success", "value": -0.01, "threshold": 0.0, "passed": False,
         "ci": {"low": -0.1, "high": 0.08}}]}))
    pd.DataFrame([{"method": m, "method_used": m, "metric": k, "n_seeds": 3, "mean": v, "ci_low": v - 0.05,
                   "ci_high": v + 0.05} for k in ("task_success", "panel_success")
                  for m, v in (("random", 0.4), ("entropy", 0.42), ("predictor", 0.45), ("oracle", 0.5))]).to_csv(
        d / "phase5/selection/selection_comparison.csv", index=False)
    return d


def inputs(d: Path) -> dict:
    return {"snapshots": d / "phase1/labeled_snapshots.jsonl", "thresholds": d / "phase1/quadrant_thresholds_auto.json",
            "micro_results": d / "phase1b/micro_training_results.json",
            "cpt_correlation": d / "phase1b/cpt_correlation.json", "overall": d / "phase3/overall_task_results.csv",
            "transfer": d / "phase3/transfer_matrix.csv", "retention": d / "phase3/retention_results.csv",
            "stuck": d / "phase3/stuckness_results.csv", "training_result": d / "phase4/training_result.json",
            "comparison": d / "phase5/selection/selection_comparison.csv"}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_writes_nonblank_png_and_pdf(artifacts, tmp_path, name):
    paths = make_figure(name, inputs(artifacts), tmp_path / f"{name}.png")
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert nonwhite_fraction(paths[0]) > 0.02
    assert paths[1].read_bytes().startswith(b"%PDF")
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_missing_input_names_the_file(tmp_path):
    with pytest.raises(InputError, match="overall_task_results.csv: file not found"):
        make_figure("supervision_heatmap", {"overall": str(tmp_path / "overall_task_results.csv")}, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_missing_column_names_the_file(artifacts, tmp_path):
    bad = tmp_path / "transfer_matrix.csv"
    pd.read_csv(artifacts / "phase3/transfer_matrix.csv").drop(columns=["delta_mean"]).to_csv(bad, index=False)
    with pytest.raises(InputError, match="transfer_matrix.csv: missing column.*delta_mean"):
        make_figure("transfer_heatmap", {"transfer": str(bad)}, tmp_path / "t.png")


def test_tables_csv_and_markdown(artifacts, tmp_path):
    src = artifacts / "phase3/retention_results.csv"
    out = make_tables([str(src)], tmp_path)
    assert {p.name for p in out} == {"retention_results.csv", "retention_results.md"}
    assert (tmp_path / "retention_results.csv").read_text() == src.read_text()
    md = (tmp_path / "retention_results.md").read_text().splitlines()
    assert md[0].startswith("| run_id") and "retention_drop" in md[0]
    assert set(md[1]) <= set("|-: ")
    assert len(md) == 2 + len(pd.read_csv(src))
    assert "| BASE " in md[2]


def test_gates_all_inputs(artifacts):
    """Gates from the fabricated artifacts (phase-3 gates from episodes: tests/test_gates.py)."""
    p = inputs(artifacts)
    gates = collect_gates({"labeling_metadata": artifacts / "phase1/labeling_metadata.json",
                           "cpt_correlation": p["cpt_correlation"], "micro_results": p["micro_results"],
                           "snapshots": p["snapshots"], "retention": p["retention"],
                           "training_result": p["training_result"],
                           "selection_summary": artifacts / "phase5/selection/selection_summary.json"},
                          {"min_per_quadrant": 3, "cpt_spearman_min": 0.3, "retention_fixed_drop": True}, seed=0,
                          stats_cfg={"n_resamples": 500})
    by = {g["name"]: g for g in gates}
    assert set(by) >= {"quadrant_balance", "quadrant_share", "cpt_spearman", "placebo_sanity", "elp_heterogeneity",
                       "utility_q1_gt_q2", "supervision_differentiation", "transfer_diagonal", "retention_drop",
                       "predictor_beats_entropy_NDCG@5", "selection_oracle_ge_random_task_success"}
    for g in gates:
        assert set(g) >= {"name", "value", "ci", "threshold", "passed", "source"}
    assert by["transfer_diagonal"]["passed"] is None and "episodes" in by["transfer_diagonal"]["note"]
    pl = by["placebo_sanity"]
    assert abs(pl["value"]) <= 0.05 and pl["passed"] is True and pl["threshold"] == 0.1
    assert pl["ci"][0] <= pl["value"] <= pl["ci"][1]
    ret = pd.read_csv(p["retention"])
    assert by["retention_drop"]["value"] == pytest.approx(ret[ret.run_id != "BASE"].retention_drop.max())
    assert by["retention_drop"]["passed"] is (bool(ret[ret.run_id != "BASE"].drop_ci_high.max() <= 0.1))
    assert by["selection_oracle_ge_random_task_success"]["passed"] is False
    assert by["selection_oracle_ge_random_task_success"]["ci"] == [-0.1, 0.08]
    # an upstream gate that passed on its point estimate fails when its CI reaches the threshold
    assert by["predictor_beats_entropy_NDCG@5"]["passed"] is False
    assert by["predictor_beats_entropy_NDCG@5"]["passed_upstream"] is True
    json.dumps(gates, allow_nan=False)


def test_gates_missing_inputs_are_null_not_invented(artifacts, tmp_path):
    gates = collect_gates({"micro_results": str(artifacts / "phase1b/micro_training_results.json"),
                           "episodes": str(tmp_path / "nope.csv")},
                          {"retention_drop_max": 0.05, "retention_fixed_drop": True})
    by = {g["name"]: g for g in gates}
    assert by["utility_q1_gt_q2"]["value"] is not None
    for name in ("quadrant_balance", "placebo_sanity", "supervision_differentiation", "transfer_diagonal",
                 "retention_drop", "predictor_targets", "selection_order", "cpt_spearman", "route_accuracy"):
        assert by[name]["passed"] is None and by[name]["value"] is None and "missing" in by[name]["note"]
    assert by["retention_drop"]["threshold"] == 0.05
    assert "nope.csv" in by["supervision_differentiation"]["note"]


def test_collect_gates_cli_strict_exits_nonzero(artifacts, tmp_path):
    out = tmp_path / "gates.json"
    cfg = json.dumps({"seed": 0, "gates": {"strict": True, "min_per_quadrant": 3}})
    p = subprocess.run([sys.executable, str(ROOT / "scripts/gates.py"), "--cfg", cfg,
                        "--selection-summary", str(artifacts / "phase5/selection/selection_summary.json"),
                        "--out", str(out)], capture_output=True, text=True,
                       env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert p.returncode == 1, p.stderr
    assert "selection_oracle_ge_random_task_success" in p.stderr
    assert json.loads(out.read_text())[-1]["passed"] is False

"""The whole DAG (`rule all`) on the mock config, for real, in a temp copy of the workflow:
every artifact of docs/design.md §2 exists, the phase-3 tables have the columns of docs/artifacts.md
and CIs that enclose their means, a dry run afterwards has nothing to do, a change to the
figure code re-runs only figures and tables, and `snakemake --report` builds the report."""

import json
import re
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import ran_workflow, snakemake

pytestmark = pytest.mark.slow
CFG = "tests/data/config_mock.yaml"

DESIGN_ARTIFACTS = [
    "student/base/config.json",
    "phase0/rollouts.json", "phase0/failure_snapshots.json", "phase0/expert_trajectories",
    "phase0/snapshots_expert.json", "phase0/state_restore_check.json",
    "phase1/labeled_snapshots.jsonl", "phase1/labeled_snapshots.json", "phase1/quadrant_thresholds_auto.json",
    "phase1/labeling_metadata.json", "phase1/teacher_usage.json", "phase1/quantiles.json",
    "phase1/threshold_plots/hist_U.png", "phase1/threshold_plots/hist_L.png",
    "phase1/threshold_plots/scatter_U_L.png",
    "phase1b/micro_training_results.json", "phase1b/cpt_correlation.json",
    "phase2/training_summary.json",
    "phase3/episodes.csv", "phase3/overall_task_results.csv", "phase3/per_quadrant_results.csv",
    "phase3/transfer_matrix.csv", "phase3/retention_results.csv", "phase3/stuckness_results.csv",
    "phase4/predictor/model.pt", "phase4/training_result.json", "phase4/feature_schema.json",
    "phase5/selection/selection_summary.json", "phase5/selection/selection_comparison.csv",
    "gates.json", "registry.sqlite",
]
TABLE_COLUMNS = {  # two-level CIs: ci_unit names the unit, ci_note says "too few seeds" when a CI is withheld
    "overall_task_results": "run_id quadrant format n_seeds n_tasks mean std ci_low ci_high ci_t_low ci_t_high "
                            "sampled_per_task sampled_mean sampled_ci_low sampled_ci_high sampled_delta_base "
                            "sampled_delta_base_ci_low sampled_delta_base_ci_high delta_base delta_base_ci_low "
                            "delta_base_ci_high delta_base_ci_t_low delta_base_ci_t_high p_base p_base_holm delta_b1 "
                            "delta_b1_ci_low delta_b1_ci_high delta_b1_ci_t_low delta_b1_ci_t_high p_b1 p_b1_holm "
                            "ci_unit ci_note",
    "per_quadrant_results": "run_id panel_quadrant n_seeds n_items mean std ci_low ci_high ci_t_low ci_t_high delta_base "
                            "delta_base_ci_low delta_base_ci_high delta_base_ci_t_low delta_base_ci_t_high ci_unit ci_note",
    "transfer_matrix": "train_quadrant panel_quadrant n n_seeds n_items n_runs delta_mean ci_low ci_high ci_unit ci_note",
    "retention_results": "run_id n_seeds n_base_solved retention retention_ci_low retention_ci_high retention_drop "
                         "drop_ci_low drop_ci_high drop_ci_t_low drop_ci_t_high ci_unit ci_note",
    "stuckness_results": "run_id n_seeds repeat_rate repeat_rate_ci_low repeat_rate_ci_high loop_rate "
                         "loop_rate_ci_low loop_rate_ci_high mean_steps repeat_rate_delta_base "
                         "repeat_rate_delta_base_ci_low repeat_rate_delta_base_ci_high loop_rate_delta_base "
                         "loop_rate_delta_base_ci_low loop_rate_delta_base_ci_high ci_unit ci_note",
}
# (estimate, low, high) column triples whose CI must enclose the estimate
CI_TRIPLES = {
    "overall_task_results": [("mean", "ci_low", "ci_high"), ("delta_base", "delta_base_ci_low", "delta_base_ci_high"),
                             ("sampled_mean", "sampled_ci_low", "sampled_ci_high"),
                             ("sampled_delta_base", "sampled_delta_base_ci_low", "sampled_delta_base_ci_high"),
                             ("delta_b1", "delta_b1_ci_low", "delta_b1_ci_high")],
    "per_quadrant_results": [("mean", "ci_low", "ci_high"), ("delta_base", "delta_base_ci_low", "delta_base_ci_high")],
    "transfer_matrix": [("delta_mean", "ci_low", "ci_high")],
    "retention_results": [("retention", "retention_ci_low", "retention_ci_high"),
                          ("retention_drop", "drop_ci_low", "drop_ci_high")],
    "stuckness_results": [("repeat_rate", "repeat_rate_ci_low", "repeat_rate_ci_high"),
                          ("loop_rate", "loop_rate_ci_low", "loop_rate_ci_high")],
}


def stale_rules(dry_run_output: str) -> set[str]:
    """Rule names of the 'Job stats' table of a dry run."""
    lines = dry_run_output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.split()[:2] == ["job", "count"]), None)
    if start is None:
        return set()
    rules = set()
    for line in lines[start + 2:]:
        if not line.strip() or line.split()[0] == "total":
            break
        rules.add(line.split()[0])
    return rules


@pytest.fixture(scope="module")
def wf(tmp_path_factory):
    return ran_workflow(tmp_path_factory, "full", CFG)


def test_every_design_artifact_exists(wf):
    missing = [a for a in DESIGN_ARTIFACTS if not (wf / "results" / a).exists()]
    assert not missing, missing
    summary = json.loads((wf / "results/phase2/training_summary.json").read_text())
    text = json.dumps(summary)
    for run_id in ("Q1_highU_highL_demo", "Q4_lowU_highL_contrast", "B1_uniform", "B2_all"):
        for seed in (0, 1):
            assert (wf / f"results/phase2/{run_id}/seed{seed}/run.json").exists()
            assert f"{run_id}/seed{seed}" in text
    for fig in ("landscape", "transfer_heatmap", "selection", "predictor"):
        assert (wf / f"results/figures/{fig}.png").stat().st_size > 0
    gates = json.loads((wf / "results/gates.json").read_text())
    assert gates
    with sqlite3.connect(wf / "results/registry.sqlite") as db:  # the registry rule indexed every run
        keys = {k for (k,) in db.execute("SELECT key FROM runs WHERE stage = 'phase2'")}
    assert {"Q1_highU_highL_demo/seed0", "B2_all/seed1"} <= keys and len(keys) == 28


@pytest.mark.parametrize("name", sorted(TABLE_COLUMNS))
def test_phase3_table_columns_and_cis_enclose_the_mean(wf, name):
    df = pd.read_csv(wf / f"results/phase3/{name}.csv")
    assert list(df.columns) == TABLE_COLUMNS[name].split()
    assert len(df) > 0
    checked = 0
    for est, lo, hi in CI_TRIPLES[name]:
        rows = df[[est, lo, hi]].dropna()
        checked += len(rows)
        eps = 1e-9
        assert np.all(rows[lo] <= rows[est] + eps) and np.all(rows[est] <= rows[hi] + eps), rows
    # 2 seeds < stats.min_seeds: trained runs print "too few seeds" instead of a CI
    trained = df[df.get("run_id", pd.Series(["x"] * len(df))) != "BASE"]
    withheld = trained[trained[CI_TRIPLES[name][0][1]].isna()]
    assert withheld.ci_note.astype(str).str.contains("too few seeds|BASE solves no task").all(), withheld
    assert checked > 0 or len(withheld) == len(trained)
    if name == "transfer_matrix":
        assert len(df) == 16
    if name == "overall_task_results":
        assert len(df) == 15 and set(df.run_id) >= {"BASE", "B1_uniform", "B2_all"}
        assert (df[df.run_id != "BASE"].n_seeds == 2).all()


def test_nothing_to_do_then_figure_code_change_reruns_only_figures_and_tables(wf):
    dry = snakemake(wf, "--configfile", CFG, "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr
    # an edit of the figure code (Snakemake >= 9.18 compares checksums: a bare touch is not a change)
    with open(wf / "src/teachable/figures.py", "a") as f:
        f.write("\n# an edit\n")
    dry = snakemake(wf, "--configfile", CFG, "-n")
    rules = stale_rules(dry.stdout + dry.stderr)
    assert rules, dry.stdout[-2000:]
    assert all(r in ("figure", "tables", "all") for r in rules), rules
    assert "figure" in rules and "tables" in rules


def test_controls_stage_and_the_teachability_gate_first(wf):
    """rule controls: per training seed the positive and null controls, evaluated on phase 3's
    tasks; controls.json/.csv with two-level CIs; the gate student_is_teachable first in
    gates.json with its sentence; the report page teachable.html says it."""
    rep = json.loads((wf / "results/controls/controls.json").read_text())
    assert rep["runs"] == ["positive", "null_replay"] and rep["seeds"] == [0, 1]
    base = pd.read_csv(wf / "results/phase3/runs/BASE/seed0.episodes.csv", dtype={"item": str})
    assert rep["outcomes"]["tasks"] == sorted(set(base[base.kind == "task"].item))
    table = pd.read_csv(wf / "results/controls/controls.csv").set_index("run_id")
    assert table.loc["positive", "n_examples"] > 0
    assert table.loc["null_replay", "steps"] == table.loc["positive", "steps"]  # null sized like the positive one
    gates = json.loads((wf / "results/gates.json").read_text())
    assert gates[0]["name"] == "student_is_teachable" and gates[0]["sentence"]
    # 2 seeds < stats.min_seeds: not evaluated, and the sentence says so
    assert gates[0]["passed"] is None and "too few seeds" in gates[0]["sentence"]
    from html import unescape

    assert gates[0]["sentence"] in unescape((wf / "results/controls/teachable.html").read_text())


def test_report_builds(wf):
    snakemake(wf, "--configfile", CFG, "--report", "report.html")
    html = (wf / "report.html").read_text()
    assert "landscape.png" in html and "gates.json" in html and "teachable.html" in html


def test_validation_reruns_add_only_new_seed_jobs(wf):
    snakemake(wf, "validate", "--configfile", CFG, "--cores", "2")
    report = json.loads((wf / "results/validation/report.json").read_text())
    assert report["seeds"] == [1000] and len(report["configs"]) == 1
    # the re-runs are evaluated on fresh tasks and panel, disjoint from phase 3's (shrinkage reported)
    row = report["configs"][0]
    assert row["shrinkage"] == pytest.approx(row["fresh_delta_base"] - row["original_delta_base"])
    fresh = json.loads((wf / f"results/validation/{row['run_id']}/seed1000/eval.json").read_text())
    orig = json.loads((wf / "results/phase3/runs/BASE/seed0.json").read_text())
    base_fresh = json.loads((wf / "results/validation/BASE/eval.json").read_text())
    assert fresh["eval_set"] == base_fresh["eval_set"]
    assert {k: fresh["eval_set"][k] for k in ("task_stage", "panel_part", "ci_unit")} == {
        "task_stage": "validation_tasks", "panel_part": 1, "ci_unit": "tasks"}
    assert not set(base_fresh["base_solved_tasks"]) & set(orig["base_solved_tasks"])
    assert (wf / "results/validation/report.md").exists() and (wf / "results/validation/report.png").exists()
    dry = snakemake(wf, "validate", "--configfile", CFG, "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr
    # phase 2 (2 seeds): only the new seed's jobs and the report; the checkpoint is not re-run
    dry = snakemake(wf, "validate", "--configfile", CFG, "-n", "--config", "validation={'phase': 2}")
    out = dry.stdout + dry.stderr
    assert stale_rules(out) == {"validation_train", "validation_evaluate", "validate"}, out[-3000:]  # not BASE
    wildcards = [line.strip() for line in out.splitlines() if line.strip().startswith("wildcards:")]
    assert wildcards and all("seed=1001" in w for w in wildcards), wildcards


def test_n_rollouts_change_reruns_labeling_not_phase0(wf):
    dry = snakemake(wf, "--configfile", CFG, "-n", "--config", "labeling={'n_rollouts': 4}")  # the mock config has 3
    rules = stale_rules(dry.stdout + dry.stderr)
    assert {"label_shard", "label_gather", "label_reliability"} <= rules, rules
    assert not rules & {"build_student", "mining_rollouts", "mining_snapshots", "mining_expert", "mining_restore_check"}


def test_lora_rank_change_reruns_phase2_and_downstream_only(wf):
    dry = snakemake(wf, "--configfile", CFG, "-n", "--config", "training={'lora_rank': 4}")
    rules = stale_rules(dry.stdout + dry.stderr)
    # train_seed writes the runs' evaluation blocks
    assert "train_seed" in rules and "evaluate_gather" in rules and "evaluation_tables" in rules
    upstream = {"build_student", "mining_rollouts", "mining_snapshots", "mining_expert", "mining_restore_check",
                "label_shard", "label_gather", "micro_training", "cpt_correlation", "train_predictor",
                "evaluate_base"}
    assert not rules & upstream, rules & upstream


def _dry_command(wf, target: str) -> str:
    """The shell command Snakemake would run for `target`'s own job (-n -p --force)."""
    res = snakemake(wf, "-n", "-p", "--force", target, "--configfile", CFG)
    lines = (res.stdout + res.stderr).splitlines()
    return next(line.split("Shell command: ", 1)[1] for line in lines if "Shell command: " in line)


def test_training_job_blocks_equal_evaluate_base_on_the_adapter(wf, tmp_path):
    """train_seed evaluates each run's adapter in its own process; scripts/evaluate_base.py
    (evaluate_base's recipe) on the saved adapter writes the same block."""
    import subprocess
    import sys

    block = "results/phase3/blocks/B2_all/seed0/block0.json"
    fused = json.loads((wf / block).read_text())
    cmd = _dry_command(wf, "results/phase3/blocks/BASE/seed0/block0.json")
    assert "--run-id BASE --seed 0" in cmd
    out = tmp_path / "block0.json"
    cmd = cmd.replace("--run-id BASE --seed 0",
                      "--run-id B2_all --seed 0 --adapter results/phase2/B2_all/seed0/adapter")
    cmd = re.sub(r"--out \S+", f"--out {out}", cmd)
    cmd = re.sub(r"> \S+ 2>&1", f"> {tmp_path / 'eval.log'} 2>&1", cmd)
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHONPATH": str(wf / "src"), "HOME": str(wf)}
    res = subprocess.run(["bash", "-c", cmd], cwd=wf, capture_output=True, text=True, env=env)
    assert res.returncode == 0, (tmp_path / "eval.log").read_text()[-3000:]
    separate = json.loads(out.read_text())
    assert separate["rows"] == fused["rows"] and len(fused["rows"]) > 0


def test_a_run_alone_equals_the_same_run_in_its_seeds_job(wf):
    """train_seed trains the 14 runs of a seed one after another in one process; a run
    trained alone (validation_train: the same script and config, one run a job) gets the
    same adapter, byte for byte, and the same metrics."""
    run = wf / "results/phase2/B2_all/seed0"
    alone = wf / "results/validation/B2_all/seed0"
    res = snakemake(wf, str(alone.relative_to(wf) / "run.json"), "--configfile", CFG, "--cores", "2")
    assert "rule validation_train:" in res.stdout + res.stderr

    def metrics(d):
        return [{k: v for k, v in json.loads(line).items() if k != "wall_time_s"}
                for line in (d / "metrics.jsonl").read_text().splitlines()]

    assert (alone / "adapter/adapter_model.safetensors").read_bytes() == \
        (run / "adapter/adapter_model.safetensors").read_bytes()
    assert metrics(alone) == metrics(run) and metrics(run)


def test_recipe_sweep_runs_the_controls_and_summarises_with_two_level_cis(wf, tmp_path):
    """scripts/recipe_sweep.py on a finished pipeline: the floor (null_replay), the positive
    controls (expert_demos, dagger_demos, dagger_shortest) and a phase-2 run, three seeds each, then --summary."""
    import subprocess
    import sys

    from conftest import ROOT
    from teachable.config import load_config
    from teachable.training.controls import expert_examples

    out = tmp_path / "sweep.jsonl"
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "scripts/recipe_sweep.py", "--config", CFG, "--results", str(wf / "results"),
           "--work", str(tmp_path / "work"), "--out", str(out), "--seeds", "0", "1", "2", "--expert-tasks", "2",
           "--device", "cpu",
           "--runs", "null_replay", "expert_demos", "dagger_demos", "dagger_shortest", "B2_all",
           "--variants", '[{"name": "short", "training": {"budget_value": 2, "probe_every": 0}}]']
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((r["run_id"], r["seed"]) for r in rows) == sorted(
        (run, s) for run in ("null_replay", "expert_demos", "dagger_demos", "dagger_shortest", "B2_all") for s in (0, 1, 2))
    n_expert = len(expert_examples(load_config(ROOT / CFG), 2))
    for r in rows:
        assert r["steps"] == 2 and len(r["tasks"]) == 8 and r["device"] == "cpu"
        if r["run_id"] == "expert_demos":
            assert r["n_examples"] == n_expert
        if r["run_id"] == "null_replay":
            assert r["n_examples"] == r["n_replay"] > 0
        if r["run_id"].startswith("dagger_"):  # the student's own states on 2 tasks: at least a step each
            assert r["n_examples"] >= 2
    table = subprocess.run([sys.executable, "scripts/recipe_sweep.py", "--summary", "--out", str(out)], cwd=ROOT,
                           env=env, check=True, capture_output=True, text=True).stdout.splitlines()
    body = {cells[1]: cells for cells in (line.split(" | ") for line in table if line.startswith("| short |"))}
    assert set(body) == {"null_replay", "expert_demos", "dagger_demos", "dagger_shortest", "B2_all"}, table
    for run, cells in body.items():  # 3 seeds: CIs vs BASE, vs the null (not for the null itself), of the drop
        delta, vs_null, drop = cells[5], cells[6], cells[7]
        assert "[" in delta and "[" in drop and ("n/a" if run == "null_replay" else "[") in vs_null, table

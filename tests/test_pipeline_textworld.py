"""A real Snakemake run on a tiny TextWorld config: games rule, subword bootstrap student,
phase 0 (restore check), labeling with the bot teacher speaking TextWorld, base evaluation."""

import json

import pandas as pd
import pytest

from conftest import ran_workflow, snakemake

pytestmark = pytest.mark.slow
CFG = "tests/data/config_textworld_tiny.yaml"
TARGETS = ["results/phase0/state_restore_check.json", "results/phase1/labeled_snapshots.jsonl",
           "results/phase3/runs/BASE/seed0.json"]


@pytest.fixture(scope="module")
def wf(tmp_path_factory):
    return ran_workflow(tmp_path_factory, "twwf", CFG, *TARGETS)


def test_textworld_dag_artifacts(wf):
    man = json.loads((wf / "results/textworld/games/manifest.json").read_text())
    assert sorted(man["pools"]) == ["coin5", "treasure1"] and man["textworld_version"]
    rep = json.loads((wf / "results/student/base/bootstrap_report.json").read_text())
    assert rep["vocab_size"] <= 600 + 10
    assert rep["prompt_layout"] == "observation_first"  # the config's student.prompt_layout, as built
    chk = json.loads((wf / "results/phase0/state_restore_check.json").read_text())
    assert chk["passed"] and chk["n_checked"] > 0
    from teachable.teacher.bot_textworld import leaked_commands

    rows = [json.loads(x) for x in (wf / "results/phase1/labeled_snapshots.jsonl").read_text().splitlines()]
    assert rows and all(r["family"] in ("coin5", "treasure1") for r in rows)
    for r in rows:
        assert r["expert_subgoal"].startswith("textworld:")
        assert not leaked_commands(r["teacher"]["diagnosis"], r["valid_actions"])
    base = json.loads((wf / "results/phase3/runs/BASE/seed0.json").read_text())
    assert "task_success" in base["metrics"]
    # 4 eval tasks on 4 distinct eval games (2 families x 2): the unit count is honest
    assert base["eval_set"]["ci_unit"] == "games" and base["eval_set"]["n_distinct_games"] == 4
    assert base["eval_set"]["n_units"] == base["metrics"]["n_tasks"] == 4
    eps = pd.read_csv(wf / "results/phase3/runs/BASE/seed0.episodes.csv")
    assert eps[eps.kind == "task"].unit.nunique() == 4 and set(eps[eps.kind == "task"].ci_unit) == {"games"}
    dry = snakemake(wf, *TARGETS, "--configfile", CFG, "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr

"""The rule files as a newcomer reads them (docs/design.md §1): named by topic, re-runs
that replicate a recipe via `use rule`, inputs taken from the producing rule, cheap rules
local, stage helpers in teachable.workflow.dag (unit-tested here)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Loads the workflow with Snakemake's API (no DAG, no jobs) and prints each rule's recipe.
_DUMP = r"""
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings, StorageSettings
with SnakemakeApi(OutputSettings()) as api:
    wf = api.workflow(resource_settings=ResourceSettings(), storage_settings=StorageSettings(),
                      config_settings=ConfigSettings(configfiles=[Path(a) for a in sys.argv[1:]]),
                      snakefile=Path("Snakefile"), workdir=Path("."))
    w = wf._workflow
    print(json.dumps({r.name: {"shell": r.shellcmd, "local": r.name in w._localrules,
                               "params": {k: v for k, v in r.params.items() if isinstance(v, str)},
                               "input": [str(f) for f in r.input], "output": [str(f) for f in r.output],
                               "gpu": str(r.resources.get("gpu"))}
                      for r in w.rules}))
"""


def _dump(*configfiles) -> dict:
    r = subprocess.run([sys.executable, "-c", _DUMP, *configfiles], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    rules = json.loads(r.stdout.strip().splitlines()[-1])
    for rule in rules.values():  # '{seed,\\d+}' -> '{seed}': patterns as the rule files write them
        rule["output"] = [re.sub(r"\{(\w+),[^{}]*\}", r"{\1}", f) for f in rule["output"]]
    return rules


@pytest.fixture(scope="module")
def rules():
    return _dump("tests/data/config_mock.yaml")


def test_one_job_per_seed_trains_every_run_and_writes_its_blocks(rules):
    """train_seed / selection_seed: one job per training seed writes every run's (arm's)
    files, the runs' phase-3 blocks (the arms' evaluation), with GPU routing; the config
    carries eval (an eval change re-runs training) and no seed list."""
    runs = [f for f in rules["train_seed"]["output"] if f.endswith("run.json")]
    assert len(runs) == 14 and "results/phase2/B2_all/seed{seed}/run.json" in runs
    assert "results/phase3/blocks/B2_all/seed{seed}/block0.json" in rules["train_seed"]["output"]
    assert "{params.runs}" in rules["train_seed"]["shell"]  # dag.seed_job_args: --eval-blocks
    for batch in ("train_seed", "selection_seed"):
        cfg = json.loads(rules[batch]["params"]["cfg"])
        assert "eval" in cfg and "job" not in cfg["training"], batch
        assert rules[batch]["gpu"] == rules["evaluate_base"]["gpu"] and not rules[batch]["local"], batch
    assert "seeds" not in json.loads(rules["train_seed"]["params"]["cfg"])["training"]
    arms = rules["selection_seed"]["output"]
    assert "results/phase5/selection/random/seed{seed}/eval.json" in arms
    assert "results/phase5/selection/random/seed{seed}/run.json" in arms


def test_validation_train_is_train_seeds_recipe_without_blocks(rules):
    """validation_train runs train_seed's script and config for one run; no phase-3 blocks."""
    assert rules["validation_train"]["params"]["cfg"] == rules["train_seed"]["params"]["cfg"]
    assert "scripts/train_seed.py" in rules["validation_train"]["shell"]
    assert "--stage validation" in rules["validation_train"]["shell"]
    assert "eval-blocks" not in rules["validation_train"]["shell"]
    assert not any("phase3" in f for f in rules["validation_train"]["output"])
    assert rules["validation_train"]["gpu"] == rules["train_seed"]["gpu"]


@pytest.mark.parametrize("copy, recipe", [("validation_base", "validation_evaluate"),
                                          ("selection_pick_per_seed", "selection_pick")])
def test_reruns_use_the_recipe_they_replicate(rules, copy, recipe):
    """`use rule`: the same command line and the same config params, only paths differ."""
    assert rules[copy]["shell"] == rules[recipe]["shell"]
    assert rules[copy]["gpu"] == rules[recipe]["gpu"]
    for key in ("cfg",):
        assert rules[copy]["params"][key] == rules[recipe]["params"][key]


def test_validation_evaluates_with_phase3_config(rules):
    assert rules["validation_evaluate"]["params"]["cfg"] == rules["evaluate_base"]["params"]["cfg"]


def test_controls_seed_carries_the_recipe_and_its_section_but_not_the_seed_list(rules, tmp_path):
    """controls_seed (rules/controls.smk) reads train_seed's recipe plus eval, controls,
    bootstrap.demo_noise and stats; adding a training seed leaves the other seeds' jobs
    alone, a controls.* change makes them stale."""
    cfg = json.loads(rules["controls_seed"]["params"]["cfg"])
    run = json.loads(rules["train_seed"]["params"]["cfg"])
    assert cfg["training"] == run["training"] and cfg["student"] == run["student"] and cfg["env"] == run["env"]
    assert set(cfg["controls"]) >= {"runs", "dagger_tasks", "demo_tasks", "null_examples"}
    assert "seeds" not in cfg["training"] and "demo_noise" in cfg["bootstrap"] and "n_resamples" in cfg["stats"]
    over = tmp_path / "seeds.yaml"
    over.write_text("training: {seeds: [0, 1, 2]}\n")
    assert _dump("tests/data/config_mock.yaml", str(over))["controls_seed"]["params"]["cfg"] == \
        rules["controls_seed"]["params"]["cfg"]
    over.write_text("controls: {dagger_tasks: 3}\n")
    assert _dump("tests/data/config_mock.yaml", str(over))["controls_seed"]["params"]["cfg"] != \
        rules["controls_seed"]["params"]["cfg"]


def test_labeled_snapshots_path_is_typed_once():
    """Consumers take rules.label_gather.output.jsonl; only the producer spells the path."""
    text = "".join(p.read_text() for p in (ROOT / "rules").glob("*.smk"))
    assert text.count("labeled_snapshots.jsonl") == 1, "retyped instead of rules.label_gather.output.jsonl"
    assert "rules.label_gather.output.jsonl" in text


def test_cheap_rules_are_local_and_declared_next_to_the_rule(rules):
    snakefile = (ROOT / "Snakefile").read_text()
    assert "localrules:" not in snakefile
    for name in ("label_gather", "mining_gather", "micro_gather", "evaluate_gather", "cpt_correlation",
                 "training_summary", "evaluation_tables", "selection_pick", "selection_summary", "validation_select",
                 "validate", "tables", "gates", "registry", "figure", "all", "controls"):
        assert rules[name]["local"], name
    for name in ("train_seed", "selection_seed", "evaluate_base", "label_shard", "validation_train",
                 "validation_evaluate", "controls_seed"):
        assert not rules[name]["local"], name


def test_rule_files_named_by_topic_hold_no_functions():
    files = {p.name for p in (ROOT / "rules").glob("*.smk")}
    assert not any(re.match(r"phase\d", f) for f in files), files
    assert {"mining.smk", "labeling.smk", "training.smk", "evaluation.smk", "selection.smk"} <= files
    readme = (ROOT / "README.md").read_text()
    for f in files:
        assert f"rules/{f}" in readme, f"README's rule table lacks rules/{f}"
        if f != "common.smk":  # snakemake --lint: functions live in common.smk or the library
            assert not re.search(r"^def ", (ROOT / "rules" / f).read_text(), re.M), f
    assert (ROOT / "report" / "workflow.rst").is_file()
    assert 'report: "report/workflow.rst"' in (ROOT / "Snakefile").read_text()



# a script that more than one rule runs is named after the main one (docs/workflow.md)
SHARED_SCRIPTS = {"validation_train": "train_seed", "validation_base": "validation_evaluate",
                  "controls_seed": "controls", "selection_pick_per_seed": "selection_pick"}
CLI_TOOLS = {"check_report.py", "coverage_simulation.py", "recipe_sweep.py", "student_errors.py"}


def test_every_script_is_named_after_its_rule(rules):
    """scripts/<rule>.py (issue 32): topic names, no phase numbers; every other script is a
    CLI tool no rule runs."""
    used = set()
    for name, rule in rules.items():
        scripts = re.findall(r"scripts/(\w+)\.py", rule["shell"] or "")
        if name == "all":
            assert not scripts
            continue
        assert scripts == [SHARED_SCRIPTS.get(name, name)], (name, scripts)
        used.add(f"{scripts[0]}.py")
    present = {p.name for p in (ROOT / "scripts").glob("*.py")}
    assert present - used == CLI_TOOLS and used <= present
    assert not [p for p in present if re.match(r"phase\d", p)]

# --- teachable.workflow.dag stage helpers ------------------------------------------------------------


class _Named(dict):
    """Stands in for Snakemake's wildcards / input objects (attribute access, get, keys)."""

    __getattr__ = dict.__getitem__


def test_model_args_base_and_runs():
    from teachable.workflow import dag

    assert dag.model_args(_Named(shard="3"), _Named(student="s", labeled="l")) == "--run-id BASE --seed 0"
    assert dag.model_args(_Named(run_id="Q1_demo", seed="2"), _Named(adapter="a", base="b.json")) == \
        "--run-id Q1_demo --seed 2 --adapter a --base b.json"


def test_eval_gather_inputs_and_picks_path():
    from teachable.workflow import dag

    block = "r/phase3/blocks/{run_id}/seed{seed}/block{shard}.json"
    base = dag.eval_gather_inputs(_Named(run_id="BASE", seed="0"), block, 2, "BASE.json")
    assert base == {"blocks": ["r/phase3/blocks/BASE/seed0/block0.json", "r/phase3/blocks/BASE/seed0/block1.json"]}
    assert dag.eval_gather_inputs(_Named(run_id="B2_all", seed="1"), block, 1, "BASE.json")["base"] == "BASE.json"
    assert dag.picks_path("sel", "random", 3) == "sel/random/seed3/picks.json"
    assert dag.picks_path("sel", "entropy", 3) == "sel/entropy/picks.json"


def test_dag_selected_records(tmp_path):
    from teachable.workflow import dag

    sel = tmp_path / "selected.json"
    sel.write_text(json.dumps({"selected": [{"run_id": "Q1_demo"}, {"run_id": "B1_uniform"}]}))
    assert dag.selected_records(str(sel), "v", [7, 8]) == [
        "v/Q1_demo/seed7/eval.json", "v/Q1_demo/seed8/eval.json",
        "v/B1_uniform/seed7/eval.json", "v/B1_uniform/seed8/eval.json"]


def test_prompt_layout_makes_every_student_job_stale(rules, tmp_path):
    """student.prompt_layout is part of the student: every job that builds, loads or prompts
    the student carries it in its config params (the whole `student` section), so changing it
    re-runs them (and, through their outputs, everything downstream)."""
    over = tmp_path / "layout.yaml"
    over.write_text("student: {base_model: bootstrap, temperature: 1.0, history: 2, prompt_layout: observation_first}\n")
    other = _dump("tests/data/config_mock.yaml", str(over))
    changed = {r for r in rules if rules[r]["params"].get("cfg") != other[r]["params"].get("cfg")}
    student_jobs = {"build_student", "mining_rollouts", "mining_expert", "mining_snapshots", "label_shard",
                    "label_reliability", "micro_training", "replay_set", "train_seed", "validation_train",
                    "evaluate_base", "validation_evaluate", "validation_base", "selection_seed", "controls_seed"}
    assert student_jobs <= changed, student_jobs - changed
    assert all('"prompt_layout": "observation_first"' in other[r]["params"]["cfg"] for r in student_jobs)

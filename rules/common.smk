import json
import os
import sys

# This workflow's own src/ and schema, even where another copy of `teachable` is installed.
sys.path.insert(0, os.path.join(workflow.basedir, "src"))

from teachable.config import load_schema, validate_config
from teachable.workflow.sharding import stage_shards
from teachable.workflow import dag
from teachable.workflow.dag import validation_seeds
from teachable.envs import job_section

# Fill defaults and stop on any unknown or mistyped key, naming it.
validate_config(
    config,
    load_schema(os.path.join(workflow.basedir, "config", "schema.yaml")),
    source="config",
)

# Job counts of the sharded stages, from config values alone (docs/cluster.md).
STAGE_SHARDS = stage_shards(config)


wildcard_constraints:
    shard=r"\d+",


# Jobs run `python` from the active environment (the venv, or a --use-conda env) and
# import `teachable` from src/, installed or not.
shell.prefix(
    f"set -euo pipefail; export PYTHONPATH={workflow.basedir}/src${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
)

R = "results"
CONDA_ENV = "../envs/teachable.yaml"
MODEL_GPU = 1  # model rules ask for one GPU; the slurm profile routes them to GPU nodes
BOOTSTRAP = config["student"]["base_model"] == "bootstrap"


# what a job's config carries of a section: env without other envs' options
# (teachable.envs.job_section)
SECTION_VIEWS = {"env": job_section}

# Names more than one rule file uses live here (each rule file uses only these and its own).
TRAIN_SEEDS = config["training"]["seeds"]
# phase 3: one model's evaluation block (a run's from train_seed, BASE's from evaluate_base)
P3B = f"{R}/phase3/blocks"
EVAL_BLOCK = f"{P3B}/{{run_id}}/seed{{seed}}/block{{shard}}.json"
EVAL_BLOCKS = list(range(STAGE_SHARDS["eval"]))
BASE_RECORD = f"{R}/phase3/runs/BASE/seed0.json"  # evaluate_gather's BASE output
# the per-model tables of phase 3 (rules/evaluation.smk writes, rules/analysis.smk renders)
PHASE3_TABLES = [
    "overall_task_results",
    "per_quadrant_results",
    "transfer_matrix",
    "retention_results",
    "stuckness_results",
]


def cfg_json(*sections):
    """The config a script reads, as JSON for --cfg: carried in params so that a change to
    any of it makes the job stale. A section ('env') or one key of it ('gates.strict').
    """
    out = {"seed": config["seed"]}
    for s in sections:
        if "." in s:
            sec, key = s.split(".", 1)
            out.setdefault(sec, {})[key] = config[sec][key]
        else:
            out[s] = SECTION_VIEWS.get(s, lambda sec: sec)(config[s])
    return json.dumps(out, sort_keys=True)


TEXTWORLD = config["env"]["name"] == "textworld"
TW_GAMES = config["env"]["textworld"]["games_dir"]


def env_games():
    """The generated games every env-using job needs (TextWorld only)."""
    return TW_GAMES if TEXTWORLD else []


def student_dir():
    """The built student; with a hub student, the env's games stand in as the input
    that orders env-using jobs after their generation (no --student argument then)."""
    return f"{R}/student/base" if BOOTSTRAP else env_games()


def student_arg(wildcards, input):
    return f"--student {input.student}" if BOOTSTRAP else ""


# Every stage file appends the artifacts of `rule all`; stage helpers live next to their rules.
ALL_TARGETS = []


def student_checks_inputs():
    """The bootstrap student's learning curve and build report (the gates' student checks)."""
    if not BOOTSTRAP:
        return []
    return [f"{R}/student/learnability.json", f"{R}/student/base"]


def student_checks_args():
    if not BOOTSTRAP:
        return ""
    return (
        f"--learnability {R}/student/learnability.json"
        f" --student-report {R}/student/base/bootstrap_report.json"
    )

import json
import os
import sys

# This workflow's own src/ and schema, even where another copy of `teachable` is installed.
sys.path.insert(0, os.path.join(workflow.basedir, "src"))

from teachable.config import load_schema, validate_config
from teachable.sharding import stage_shards
from teachable.dag import RUN_IDS, validation_seeds

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
            out[s] = config[s]
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


ALL_TARGETS = []


# phase 2
def train_cfg_json():
    """Config read by train_run, without training.seeds: adding a seed must not make the
    existing (run_id, seed) jobs stale (the seed is a wildcard)."""
    tr = {k: v for k, v in config["training"].items() if k != "seeds"}
    sections = {s: config[s] for s in ("seed", "env", "student")}
    # live W&B logging makes the job do more; off (default), jobs are unchanged
    if config["tracking"]["wandb_live"]:
        sections["tracking"] = config["tracking"]
    return json.dumps({**sections, "training": tr}, sort_keys=True)


# phase 3: evaluation blocks of one model, gathered into its record
EVAL_BLOCKS = list(range(STAGE_SHARDS["eval"]))
P3B = f"{R}/phase3/blocks"


def eval_gather_inputs(wildcards):
    blocks = [
        f"{P3B}/{wildcards.run_id}/seed{wildcards.seed}/block{b}.json"
        for b in EVAL_BLOCKS
    ]
    if wildcards.run_id == "BASE":
        return {"blocks": blocks}
    return {"blocks": blocks, "base": f"{R}/phase3/runs/BASE/seed0.json"}


def eval_gather_base_arg(wildcards, input):
    return f"--base {input.base}" if "base" in input.keys() else ""


# phase 5
PER_SEED_PICKS = ("random",)  # mirrors teachable.selection.pick.PER_SEED_METHODS


def picks_path(method, seed):
    """picks.json of a selection arm: per training seed for methods redrawn per seed."""
    sel = f"{R}/phase5/selection"
    if method in PER_SEED_PICKS:
        return f"{sel}/{method}/seed{seed}/picks.json"
    return f"{sel}/{method}/picks.json"


P4 = f"{R}/phase4/predictor"


def selection_predictor_inputs(wildcards):
    """Only the predictor arm needs the phase-4 model (and its out-of-fold scores)."""
    if wildcards.method != "predictor":
        return {}
    return {"model": f"{P4}/model.pt", "oof": f"{P4}/train_oof_predictions.json"}


def selection_predictor_args(wildcards, input):
    if wildcards.method != "predictor":
        return ""
    return f"--predictor {input.model} --oof {input.oof}"


# validation: fresh seeds of the current phase (from the config, not the checkpoint, so a
# new phase only adds jobs)
VALIDATION_SEEDS = validation_seeds(config["validation"])


def validation_records(wildcards):
    """eval.json of every selected configuration x fresh seed (after the checkpoint)."""
    path = checkpoints.validation_select.get().output[0]
    with open(path) as f:
        sel = json.load(f)
    return [
        f"{R}/validation/{s['run_id']}/seed{seed}/eval.json"
        for s in sel["selected"]
        for seed in VALIDATION_SEEDS
    ]


def validation_episodes(wildcards):
    """eval.episodes.csv next to each of validation_records (same order): two-level CIs."""
    return [p[: -len(".json")] + ".episodes.csv" for p in validation_records(wildcards)]


# analysis: the `figure` rule's inputs, from the library's name -> inputs table
import shlex

from teachable.figures import FIGURE_CATEGORIES, FIGURE_INPUTS, FIGURE_NAMES


def figure_inputs(wildcards):
    """The artifacts of one figure, keyed by the figure function's argument names."""
    return {k: f"{R}/{v}" for k, v in FIGURE_INPUTS[wildcards.name].items()}


def figure_input_args(wildcards, input):
    return " ".join(
        f"--input {k}={shlex.quote(input[k])}" for k in FIGURE_INPUTS[wildcards.name]
    )

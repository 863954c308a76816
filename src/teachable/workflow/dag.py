"""What the Snakefile needs while it builds the DAG, importable without torch, pandas or
scipy: importing teachable.training (torch) at planning time cost seconds per `snakemake -n`
(docs/cluster.md, "Planning speed"). The study's names (run ids, selection methods, figure
names) are teachable.vocab's: the Snakefile and rule files import them from there.
tests/test_scale.py checks validation_seeds against teachable.validation."""

from __future__ import annotations

import json
import os
import shlex

from ..envs import job_section
from ..io import InputError
from ..vocab import PER_SEED_METHODS


def validation_seeds(val_cfg: dict) -> list[int]:
    """Fresh seeds of the current validation phase (same rule as teachable.validation)."""
    phases, phase = val_cfg["phases"], val_cfg["phase"]
    if not 1 <= phase <= len(phases):
        raise InputError(f"validation.phase: {phase} is not in 1..{len(phases)} (validation.phases = {phases})")
    return [val_cfg["seed_start"] + i for i in range(phases[phase - 1])]


# Figures: name -> input argument -> artifact path under the results directory
# (docs/artifacts.md). rules/analysis.smk builds its one `figure` rule from this table; the
# functions are teachable.figures.FIGURES (tests/test_house.py checks the two agree).
FIGURE_INPUTS: dict[str, dict[str, str]] = {
    "landscape": {"snapshots": "phase1/labeled_snapshots.jsonl",
                  "thresholds": "phase1/quadrant_thresholds_auto.json"},
    "elp_by_quadrant": {"snapshots": "phase1/labeled_snapshots.jsonl"},
    "route_mix": {"snapshots": "phase1/labeled_snapshots.jsonl"},
    "cpt_validation": {"micro_results": "phase1b/micro_training_results.json",
                       "cpt_correlation": "phase1b/cpt_correlation.json"},
    "supervision_heatmap": {"overall": "phase3/overall_task_results.csv"},
    "transfer_heatmap": {"transfer": "phase3/transfer_matrix.csv"},
    "frontier": {"overall": "phase3/overall_task_results.csv",
                 "retention": "phase3/retention_results.csv"},
    "stuckness": {"stuck": "phase3/stuckness_results.csv"},
    "predictor": {"training_result": "phase4/training_result.json"},
    "selection": {"comparison": "phase5/selection/selection_comparison.csv"},
}
# name -> category in the Snakemake report
FIGURE_CATEGORIES: dict[str, str] = {
    "landscape": "Phase 1 labels",
    "elp_by_quadrant": "Phase 1 labels",
    "route_mix": "Phase 1 labels",
    "cpt_validation": "Phase 1B CPT validation",
    "supervision_heatmap": "Phase 3 evaluation",
    "transfer_heatmap": "Phase 3 evaluation",
    "frontier": "Phase 3 evaluation",
    "stuckness": "Phase 3 evaluation",
    "predictor": "Phase 4 predictor",
    "selection": "Phase 5 selection",
}


# --- stage helpers of the rule files (rules/<stage>.smk calls them; a rule file holds no
# `def`, so `snakemake --lint` stays clean). Arguments are Snakemake's wildcards / input
# objects or plain values; nothing here reads the workflow's globals.

def train_config_json(config: dict) -> str:
    """Config read by train_seed (rules/training.smk) and validation_train, without
    training.seeds: adding a seed must not make the existing seeds' jobs stale (the seed is
    a wildcard). With eval: train_seed evaluates each run it trains."""
    tr = {k: v for k, v in config["training"].items() if k != "seeds"}
    sections = {"seed": config["seed"], "env": job_section(config["env"]), "student": config["student"]}
    # live W&B logging makes the job do more; off (default), jobs are unchanged
    if config["tracking"]["wandb_live"]:
        sections["tracking"] = config["tracking"]
    sections["eval"] = config["eval"]
    return json.dumps({**sections, "training": tr}, sort_keys=True)


def controls_config_json(config: dict) -> str:
    """Config read by a controls_seed job (rules/controls.smk): train_seed's (the phase-2
    recipe, without training.seeds, so adding a seed leaves the other seeds' jobs alone), and
    eval, controls, bootstrap.demo_noise (the teacher demos' noise) and stats."""
    cfg = json.loads(train_config_json(config))
    cfg.update(eval=config["eval"], controls=config["controls"], stats=config["stats"],
               bootstrap={"demo_noise": config["bootstrap"]["demo_noise"]})
    return json.dumps(cfg, sort_keys=True)


def _words(paths) -> str:
    return " ".join(shlex.quote(str(x)) for x in paths)


def _batch_args(id_flag: str, runs) -> str:
    """`--run-id A B ... --out-dir dA dB ...` (or --method) of a per-seed batch job, read off
    its run.json outputs ({results}/.../{id}/seed{seed}/run.json), in the outputs' order."""
    dirs = [os.path.dirname(r) for r in runs]
    return f"{id_flag} {_words(os.path.basename(os.path.dirname(d)) for d in dirs)} --out-dir {_words(dirs)}"


def seed_job_args(shard_size: int):
    """train_seed's params function: every run id of the job, its output directory and its
    evaluation blocks, in the order of the rule's outputs (scripts/train_seed.py takes several
    runs of one seed)."""

    def args(wildcards, output) -> str:
        return (f"{_batch_args('--run-id', output.runs)}"
                f" --eval-blocks {_words(output.blocks)} --eval-shard-size {shard_size}")

    return args


def arm_seed_args(wildcards, input, output) -> str:
    """selection_seed's arguments: every arm of the seed, its picks, output directory and
    evaluation outputs, in one order."""
    return (f"{_batch_args('--method', output.runs)} --picks {_words(input.picks)}"
            f" --base {shlex.quote(str(input.base))} --eval-out {_words(output.records)}"
            f" --eval-episodes {_words(output.episodes)}")


def model_args(wildcards, input) -> str:
    """Arguments naming the model an evaluation job loads (rules/evaluation.smk,
    rules/validation.smk): a run's adapter, or BASE (seed 0, no adapter) where the rule has
    no run_id wildcard; with a `base` input, BASE's record (for retention)."""
    args = f"--run-id {wildcards.get('run_id', 'BASE')} --seed {wildcards.get('seed', '0')}"
    if "adapter" in input.keys():
        args += f" --adapter {input.adapter}"
    if "base" in input.keys():
        args += f" --base {input.base}"
    return args


def eval_gather_inputs(wildcards, block: str, n_blocks: int, base_record: str) -> dict:
    """A model's evaluation blocks (`block`: the pattern of train_seed's and evaluate_base's
    outputs) and, for a trained run, BASE's record (retention is measured against it)."""
    blocks = [block.format(run_id=wildcards.run_id, seed=wildcards.seed, shard=b) for b in range(n_blocks)]
    return {"blocks": blocks} if wildcards.run_id == "BASE" else {"blocks": blocks, "base": base_record}


def picks_path(selection_dir: str, method: str, seed) -> str:
    """picks.json of a selection arm (rules/selection.smk): one per training seed for the
    methods redrawn per seed (teachable.vocab.PER_SEED_METHODS)."""
    if method in PER_SEED_METHODS:
        return f"{selection_dir}/{method}/seed{seed}/picks.json"
    return f"{selection_dir}/{method}/picks.json"


def selected_records(selected_json: str, validation_dir: str, seeds: list[int]) -> list[str]:
    """eval.json of every configuration validation_select chose x fresh seed."""
    with open(selected_json) as f:
        sel = json.load(f)
    return [f"{validation_dir}/{s['run_id']}/seed{seed}/eval.json" for s in sel["selected"] for seed in seeds]


def episodes_of(records: list[str]) -> list[str]:
    """The eval.episodes.csv next to each eval.json (same order): the validation report's
    two-level CIs resample those episodes."""
    return [p[: -len(".json")] + ".episodes.csv" for p in records]


def figure_inputs(name: str, results: str, table: dict[str, dict[str, str]]) -> dict[str, str]:
    """The artifacts of one figure (rules/analysis.smk), keyed by its function's arguments."""
    return {k: f"{results}/{v}" for k, v in table[name].items()}


def figure_input_args(name: str, input, table: dict[str, dict[str, str]]) -> str:
    return " ".join(f"--input {k}={shlex.quote(input[k])}" for k in table[name])

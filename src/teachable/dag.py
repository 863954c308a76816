"""What the Snakefile needs while it builds the DAG, importable without torch, pandas or
scipy: importing teachable.training (torch) at planning time cost seconds per `snakemake -n`
(docs/cluster.md, "Planning speed"). tests/test_scale.py checks these agree with the
modules that own them (teachable.training.runs, teachable.validation)."""

from __future__ import annotations

from .io import InputError
from .labeling.quadrants import QUADRANTS
from .prompts import ROUTES

RUN_IDS = tuple(f"{q}_{f}" for q in QUADRANTS for f in ROUTES) + ("B1_uniform", "B2_all")


def validation_seeds(val_cfg: dict) -> list[int]:
    """Fresh seeds of the current validation phase (same rule as teachable.validation)."""
    phases, phase = val_cfg["phases"], val_cfg["phase"]
    if not 1 <= phase <= len(phases):
        raise InputError(f"validation.phase: {phase} is not in 1..{len(phases)} (validation.phases = {phases})")
    return [val_cfg["seed_start"] + i for i in range(phases[phase - 1])]

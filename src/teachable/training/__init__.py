"""Training: supervision formats, LoRA SFT (`train_adapter`), the phase-2 run matrix and
phase-1B micro-training. See docs/training.md."""

from .formats import SFTExample, example_for, examples_for, teacher_valid
from .runs import RunData, parse_run_id, run_data
from .sft import env_probe, make_probe, train_adapter

__all__ = ["SFTExample", "example_for", "examples_for", "teacher_valid", "RunData",
           "parse_run_id", "run_data", "train_adapter", "make_probe", "env_probe"]

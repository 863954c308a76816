"""Phase 5: data selection by random, entropy, predictor and oracle, trained and evaluated
with the same recipe across seeds (docs/selection.md)."""

from __future__ import annotations

from ..io import InputError
from .pick import METHODS, SCORE_SOURCES, SelectionError, check_picks, pick, selection_pool, teacher_valid
from .summary import collect, order_gates, run_id_of, summarize

# Mirrors the `selection` section of config/schema.yaml (a test keeps the two in sync).
DEFAULTS = {
    "methods": ["random", "entropy", "predictor", "oracle"],
    "budget": 24,
    "format": "demo",
    "predictor_scores": "oof",
    "metrics": ["task_success", "panel_success"],
    "baseline": "random",
    "gate_pairs": [["oracle", "predictor"], ["predictor", "random"], ["predictor", "entropy"]],
    "gate_metrics": ["task_success", "panel_success"],
    "gate_margin": 0.0,
    "bootstrap_resamples": 9999,
}
FORMATS = ("demo", "hint", "contrast", "route")


def selection_config(cfg: dict) -> dict:
    scfg = {**DEFAULTS, **(cfg.get("selection") or {})}
    unknown = sorted(set(scfg) - set(DEFAULTS))
    if unknown:
        raise InputError(f"config: unknown key(s) selection.{', selection.'.join(unknown)}")
    bad = [m for m in scfg["methods"] if m not in METHODS]
    if bad or not scfg["methods"]:
        raise InputError(f"config: selection.methods {scfg['methods']} (known: {', '.join(METHODS)})")
    if scfg["format"] not in FORMATS:
        raise InputError(f"config: selection.format '{scfg['format']}' (known: {', '.join(FORMATS)})")
    if scfg["baseline"] not in scfg["methods"]:
        raise InputError(f"config: selection.baseline '{scfg['baseline']}' is not in selection.methods")
    return scfg


__all__ = ["METHODS", "SCORE_SOURCES", "SelectionError", "check_picks", "pick", "selection_pool", "teacher_valid",
           "collect", "order_gates", "run_id_of", "summarize", "DEFAULTS", "FORMATS", "selection_config"]

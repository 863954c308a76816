"""Phase 5: data selection by random, entropy, predictor and oracle, trained and evaluated
with the same recipe across seeds (docs/selection.md)."""

from __future__ import annotations

from ..io import InputError
from ..vocab import SELECTION_FORMATS, SELECTION_METHODS
from .pick import SCORE_SOURCES, SelectionError, check_picks, pick, selection_pool, teacher_valid
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


def selection_config(cfg: dict) -> dict:
    scfg = {**DEFAULTS, **(cfg.get("selection") or {})}
    unknown = sorted(set(scfg) - set(DEFAULTS))
    if unknown:
        raise InputError(f"config: unknown key(s) selection.{', selection.'.join(unknown)}")
    bad = [m for m in scfg["methods"] if m not in SELECTION_METHODS]
    if bad or not scfg["methods"]:
        raise InputError(f"config: selection.methods {scfg['methods']} (known: {', '.join(SELECTION_METHODS)})")
    if scfg["format"] not in SELECTION_FORMATS:
        raise InputError(f"config: selection.format '{scfg['format']}' (known: {', '.join(SELECTION_FORMATS)})")
    if scfg["baseline"] not in scfg["methods"]:
        raise InputError(f"config: selection.baseline '{scfg['baseline']}' is not in selection.methods")
    return scfg


__all__ = ["SCORE_SOURCES", "SelectionError", "check_picks", "pick", "selection_pool", "teacher_valid",
           "collect", "order_gates", "run_id_of", "summarize", "DEFAULTS", "selection_config"]

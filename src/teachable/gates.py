"""Every decision gate of the method in one list -> results/gates.json (docs/figures.md).

Each gate is {name, value, ci ([low, high] or null), threshold, passed, source, ...}. Gates
computed upstream (quadrant balance, CPT Spearman, predictor, selection order) are copied
from their artifacts; the others are computed here from the phase-1 and phase-3 files. A
gate whose input file is missing is recorded with value/passed null and a note; nothing is
invented."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .figures import FORMATS, read_csv
from .io import InputError, read_json, read_records
from .labeling.quadrants import QUADRANTS
from .stats import bootstrap_ci

DEFAULTS = {"placebo_max_abs": 0.1, "supervision_min_spread": 0.0, "retention_drop_max": 0.1,
            "transfer_min_diag_gap": 0.0}
SOURCES = ("labeling_metadata", "label_reliability", "cpt_correlation", "snapshots", "overall", "transfer", "retention",
           "training_result", "selection_summary")


def _num(x):
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return int(x)
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _ci(ci) -> list | None:
    """[low, high] from a CI dict, a pair, or None."""
    if ci is None:
        return None
    if isinstance(ci, dict):
        lo, hi = ci.get("low"), ci.get("high")
    else:
        lo, hi = ci
    lo, hi = _num(lo), _num(hi)
    return None if lo is None and hi is None else [lo, hi]


def _gate(name, value, ci, threshold, passed, source, **extra) -> dict:
    return {"name": name, "value": _num(value), "ci": _ci(ci), "threshold": threshold,
            "passed": None if passed is None else bool(passed), "source": str(source), **extra}


def _missing(name, threshold, source, why) -> dict:
    return _gate(name, None, None, threshold, None, source, note=why)


def _copy(g: dict, source) -> dict:
    extra = {k: v for k, v in g.items() if k not in ("name", "value", "ci", "threshold", "passed")}
    return _gate(g.get("name", "?"), g.get("value"), g.get("ci"), g.get("threshold"), g.get("passed"), source, **extra)


# ---------------------------------------------------------------- one function per gate


def quadrant_balance(path) -> list[dict]:
    meta = read_json(path)
    gates = meta.get("gates") if isinstance(meta, dict) else None
    if not isinstance(gates, list):
        raise InputError(f"{path}: no 'gates' list")
    return [_copy(g, path) for g in gates]


def cpt_spearman(path) -> list[dict]:
    rep = read_json(path)
    if not isinstance(rep, dict) or not isinstance(rep.get("gate"), dict):
        raise InputError(f"{path}: no 'gate' object")
    return [_copy(rep["gate"], path)]


def label_reliability(path) -> list[dict]:
    """Test-retest Spearman of the labels (phase1/label_reliability.json, docs/labeling.md)."""
    rep = read_json(path)
    if not isinstance(rep, dict) or not isinstance(rep.get("gate"), dict):
        raise InputError(f"{path}: no 'gate' object")
    return [_copy(rep["gate"], path)]


def placebo_sanity(path, threshold: float, seed: int = 0, n_resamples: int = 9999) -> list[dict]:
    """|mean(p_placebo - p_base)| over labeled snapshots <= threshold: the placebo patch
    (same length, no content) must not move success by itself. CI: percentile bootstrap
    of |mean| over snapshots."""
    snaps = read_records(path, required=("p_placebo", "p_base"))
    d = np.array([s["p_placebo"] - s["p_base"] for s in snaps], dtype=float)
    if d.size == 0:
        return [_missing("placebo_sanity", threshold, path, "no labeled snapshots")]
    ci = bootstrap_ci(d, lambda x, axis=-1: np.abs(np.mean(x, axis=axis)), method="percentile",
                      n_resamples=n_resamples, seed=seed)
    value = abs(float(d.mean()))
    return [_gate("placebo_sanity", value, ci.to_dict(), threshold, value <= threshold, path, n=int(d.size),
                  mean_signed=float(d.mean()), rule="|mean(p_placebo - p_base)| <= threshold (point estimate)")]


def supervision_spread(path, threshold: float) -> list[dict]:
    """max - min over formats of the mean delta_base of the 12 quadrant x format runs."""
    df = read_csv(path, ("run_id", "quadrant", "format", "delta_base"))
    runs = df[df["run_id"].isin([f"{q}_{f}" for q in QUADRANTS for f in FORMATS])]
    means = {f: _num(runs[runs["format"] == f]["delta_base"].astype(float).mean()) for f in FORMATS}
    have = {f: m for f, m in means.items() if m is not None}
    if len(have) < 2:
        return [_missing("supervision_differentiation", threshold, path,
                         f"fewer than 2 formats with quadrant runs (found {sorted(have)})")]
    spread = max(have.values()) - min(have.values())
    return [_gate("supervision_differentiation", spread, None, threshold, spread > threshold, path,
                  per_format_mean_delta_base=means, n_runs=int(len(runs)),
                  rule="max - min over formats of mean delta_base > threshold")]


def transfer_diagonal(path, threshold: float) -> list[dict]:
    """mean diagonal - mean off-diagonal of the 4x4 transfer matrix > threshold."""
    df = read_csv(path, ("train_quadrant", "panel_quadrant", "delta_mean"))
    df = df[df["train_quadrant"].isin(QUADRANTS) & df["panel_quadrant"].isin(QUADRANTS)]
    diag = df[df["train_quadrant"] == df["panel_quadrant"]]["delta_mean"].astype(float)
    off = df[df["train_quadrant"] != df["panel_quadrant"]]["delta_mean"].astype(float)
    if diag.empty or off.empty:
        return [_missing("transfer_diagonal", threshold, path, "needs diagonal and off-diagonal cells")]
    gap = float(diag.mean() - off.mean())
    return [_gate("transfer_diagonal", gap, None, threshold, gap > threshold, path,
                  diagonal_mean=float(diag.mean()), off_diagonal_mean=float(off.mean()),
                  rule="mean(diagonal) - mean(off-diagonal) of delta vs BASE > threshold")]


def retention_drop(path, threshold: float) -> list[dict]:
    """The worst run's retention drop (on tasks BASE solves) <= threshold."""
    df = read_csv(path, ("run_id", "retention_drop", "drop_ci_low", "drop_ci_high"))
    df = df[df["run_id"] != "BASE"]
    df = df[df["retention_drop"].astype(float).notna()]
    if df.empty:
        return [_missing("retention_drop", threshold, path, "no trained run with a retention_drop")]
    worst = df.loc[df["retention_drop"].astype(float).idxmax()]
    value = float(worst["retention_drop"])
    return [_gate("retention_drop", value, [worst["drop_ci_low"], worst["drop_ci_high"]], threshold,
                  value <= threshold, path, run_id=str(worst["run_id"]),
                  rule="max over runs of retention_drop <= threshold (CI of that run)")]


def listed_gates(path) -> list[dict]:
    """Gates recorded upstream as a 'gates' list (phase 4, phase 5)."""
    data = read_json(path)
    gates = data.get("gates") if isinstance(data, dict) else None
    if not isinstance(gates, list):
        raise InputError(f"{path}: no 'gates' list")
    return [_copy(g, path) for g in gates]


def collect_gates(paths: dict[str, str | None], gcfg: dict, seed: int = 0) -> list[dict]:
    """Every gate. `paths` maps SOURCES names to files (None or absent = not produced)."""
    t = {k: float(gcfg.get(k, v)) for k, v in DEFAULTS.items()}
    plan = [
        ("labeling_metadata", "quadrant_balance", gcfg.get("min_per_quadrant"), quadrant_balance),
        ("label_reliability", "label_reliability", None, label_reliability),
        ("cpt_correlation", "cpt_spearman", gcfg.get("cpt_spearman_min"), cpt_spearman),
        ("snapshots", "placebo_sanity", t["placebo_max_abs"],
         lambda p: placebo_sanity(p, t["placebo_max_abs"], seed)),
        ("overall", "supervision_differentiation", t["supervision_min_spread"],
         lambda p: supervision_spread(p, t["supervision_min_spread"])),
        ("transfer", "transfer_diagonal", t["transfer_min_diag_gap"],
         lambda p: transfer_diagonal(p, t["transfer_min_diag_gap"])),
        ("retention", "retention_drop", t["retention_drop_max"],
         lambda p: retention_drop(p, t["retention_drop_max"])),
        ("training_result", "predictor_targets", None, listed_gates),
        ("selection_summary", "selection_order", None, listed_gates),
    ]
    out = []
    for key, name, threshold, fn in plan:
        p = paths.get(key)
        if not p or not Path(p).exists():
            out.append(_missing(name, threshold, p or key, f"input missing: {p or key + ' not given'}"))
            continue
        out.extend(fn(p))
    return out


def summary_line(gates: list[dict]) -> str:
    n = {v: sum(g["passed"] is v for g in gates) for v in (True, False, None)}
    return f"{len(gates)} gates: {n[True]} passed, {n[False]} failed, {n[None]} not evaluated"

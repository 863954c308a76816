"""Per-seed values of a metric for named runs: a final scalar metric (`value`), or a
learning-curve summary (`auc`, `final`, `slope`) over one window shared by every run."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..io import InputError
from ..stats.curves import Curve, common_window, extract_curve, summarize_curves
from .query import Registry

SUMMARIES = ("value", "auc", "final", "slope")


@dataclass
class SeedValues:
    metric: str
    summary: str
    window: tuple[float, float] | None
    last_k: int | None
    values: dict[str, dict[int, float]]          # name -> seed -> value
    skipped: dict[str, list[str]] = field(default_factory=dict)  # name -> runs not done


def seed_values(reg: Registry, names: list[str], metric: str, summary: str | None = None,
                window: tuple[float, float] | None = None, last_k: int = 1) -> SeedValues:
    """Only runs with status done count; the others are listed in `skipped`.

    summary None: a learning-curve AUC when every run logs `metric` in metrics.jsonl,
    else the final scalar metric."""
    groups = reg.resolve(list(dict.fromkeys(names)))
    done = {n: [r for r in rows if r["status"] == "done"] for n, rows in groups.items()}
    skipped = {n: [r["key"] for r in rows if r["status"] != "done"] for n, rows in groups.items()}
    empty = [n for n, rows in done.items() if not rows]
    if empty:
        raise InputError(f"no finished (status done) runs for: {', '.join(empty)}")
    all_runs = [r for rows in done.values() for r in rows]
    if summary is None:
        lacking = [r["key"] for r in all_runs
                   if not any(metric in row for row in reg.step_rows(r["pk"]))]
        if lacking and len(lacking) < len(all_runs):
            raise InputError(f"'{metric}' is logged in metrics.jsonl of some runs but not of: "
                             f"{', '.join(lacking)} (pass --summary value for final metrics)")
        summary = "value" if lacking else "auc"
    if summary not in SUMMARIES:
        raise InputError(f"unknown summary '{summary}' ({', '.join(SUMMARIES)})")
    out: dict[str, dict[int, float]] = {}
    if summary == "value":
        missing = []
        for n, rows in done.items():
            out[n] = {}
            for r in rows:
                v = reg.metrics(r["pk"]).get(metric)
                if v is None:
                    missing.append(r["key"])
                else:
                    out[n][r["seed"]] = v
        if missing:
            known = ", ".join(reg.metric_names()) or "none"
            raise InputError(f"metric '{metric}' missing (or NaN) for run(s): {', '.join(missing)} "
                             f"(final metrics in the registry: {known})")
        return SeedValues(metric, summary, None, None, out, skipped)
    all_runs = list({r["pk"]: r for r in all_runs}.values())
    stages_of: dict[str, set] = {}
    for r in all_runs:
        stages_of.setdefault(r["key"], set()).add(r["stage"])
    label = {r["pk"]: r["key"] if len(stages_of[r["key"]]) == 1 else f"{r['stage']}:{r['key']}"
             for r in all_runs}
    curves: dict[int, Curve] = {}
    for r in all_runs:
        rows = reg.step_rows(r["pk"])
        if not rows:
            raise InputError(f"{r['key']}: no metrics.jsonl indexed; for final metrics use --summary value")
        curves[r["pk"]] = extract_curve(rows, metric, run=label[r["pk"]])
    win = tuple(map(float, window)) if window else common_window(curves.values())
    sums = summarize_curves(curves.values(), summary, win, last_k)
    for n, rows in done.items():
        out[n] = {r["seed"]: sums[label[r["pk"]]].value for r in rows}
    return SeedValues(metric, summary, win, last_k if summary == "final" else None, out, skipped)

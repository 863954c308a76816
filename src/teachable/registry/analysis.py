"""Questions asked of the registry (`teachable runs list|show|leaderboard|compare|
significance|export|stats|reproduce`): each function takes an open Registry and returns plain
data; the CLI in commands/runs.py only parses arguments and prints."""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np

from ..io import InputError
from ..stats import bootstrap_ci, paired_comparison, unpaired_comparison
from .query import Registry
from .reproduce import reproduce_plan
from .values import seed_values

VARIES = "<varies>"
ABSENT = "<absent>"
SHOW_FIELDS = ("key", "stage", "status", "run_json", "eval_json", "metrics_jsonl", "wall_time_s",
               "n_examples", "n_tokens", "adapter_path", "git_commit", "git_dirty", "host",
               "device", "started_at", "finished_at")


def unique_runs(groups: dict[str, list[dict]]) -> list[dict]:
    """Runs of several names in order, each once."""
    out: dict[int, dict] = {}
    for runs in groups.values():
        for r in runs:
            out.setdefault(r["pk"], r)
    return list(out.values())


def resolve_unique(reg: Registry, names: list[str]) -> list[dict]:
    return unique_runs(reg.resolve(names))


def list_runs(reg: Registry, stage=None, status=None, metrics: list[str] = ()) -> list[dict]:
    """One row per run; git_commit/git_dirty raw, plus the requested metric columns."""
    rows = []
    for r in reg.runs(stage, status):
        row = {"run": r["key"], "stage": r["stage"], "status": r["status"],
               "wall_time_s": r["wall_time_s"], "n_examples": r["n_examples"],
               "n_tokens": r["n_tokens"], "git_commit": r["git_commit"],
               "git_dirty": None if r["git_dirty"] is None else bool(r["git_dirty"]),
               "started_at": r["started_at"]}
        if metrics:
            m = reg.metrics(r["pk"])
            row.update({k: m.get(k) for k in metrics})
        rows.append(row)
    return rows


def show_runs(reg: Registry, names: list[str]) -> list[dict]:
    """Full records, each with its learning-curve names under 'curves'."""
    return [{**reg.record(r), "curves": reg.step_metric_names(r["pk"])} for r in resolve_unique(reg, names)]


def _ci(values, confidence, method, n_resamples, seed) -> dict:
    ci = bootstrap_ci(values, "mean", confidence=confidence, method=method,
                      n_resamples=n_resamples, seed=seed)
    return {"ci_low": ci.low, "ci_high": ci.high, "ci_note": ci.note}


def leaderboard(reg: Registry, metric: str, stage=None, top=None, lower_is_better=False,
                confidence=0.95, method="BCa", n_resamples=9999, seed=0) -> list[dict]:
    """run_ids of finished runs ranked by the mean over seeds, with a bootstrap CI of it."""
    groups = defaultdict(list)
    for r in reg.runs(stage, "done"):
        v = reg.metrics(r["pk"]).get(metric)
        if v is not None:
            groups[(r["stage"], r["run_id"])].append((r["seed"], v))
    if not groups:
        known = ", ".join(reg.metric_names()) or "none"
        raise InputError(f"no finished run has metric '{metric}' (metrics: {known})")
    rows = []
    for (st, run_id), sv in groups.items():
        vals = np.array([v for _, v in sv])
        rows.append({"run_id": run_id, "stage": st, "n": len(vals), "mean": float(vals.mean()),
                     "std": float(vals.std(ddof=1)) if len(vals) > 1 else None,
                     **_ci(vals, confidence, method, n_resamples, seed),
                     "seeds": sorted(s for s, _ in sv)})
    rows.sort(key=lambda r: r["mean"], reverse=not lower_is_better)
    for i, r in enumerate(rows, 1):
        r["rank"] = i
    return rows[:top] if top else rows


def compare(reg: Registry, names: list[str], all_params=False) -> dict:
    """Config differences (VARIES where a name's seeds disagree, ABSENT where a key is
    missing) and per-metric mean/sd/n over seeds, per name."""
    groups = reg.resolve(names)
    params, metrics = {}, {}
    for name, runs in groups.items():
        per = [reg.params(r["pk"]) for r in runs]
        keys = set().union(*per)
        params[name] = {k: (per[0].get(k, None) if all(p.get(k, VARIES) == per[0].get(k, VARIES)
                                                       for p in per) else VARIES) for k in keys}
        ms = [reg.metrics(r["pk"]) for r in runs]
        metrics[name] = {m: [x[m] for x in ms if x.get(m) is not None] for m in set().union(*ms)}
    names = list(groups)
    all_keys = sorted(set().union(*params.values()))
    diff = {k: {n: params[n].get(k, ABSENT) for n in names} for k in all_keys}
    if not all_params:
        diff = {k: v for k, v in diff.items()
                if len({json.dumps(x, sort_keys=True) for x in v.values()}) > 1}
    msum = {}
    for m in sorted(set().union(*metrics.values())):
        msum[m] = {}
        for n in names:
            vals = metrics[n].get(m, [])
            msum[m][n] = {"mean": float(np.mean(vals)) if vals else None,
                          "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else None,
                          "n": len(vals), "values": vals}
    return {"runs": {n: [r["key"] for r in groups[n]] for n in names},
            "config_diff": diff, "metrics": msum}


def significance(reg: Registry, a: str, b: str, metric: str, paired=False, summary=None,
                 window=None, last_k=1, **test) -> dict:
    """Candidate b minus control a on a metric, paired on shared seeds or Welch."""
    sv = seed_values(reg, [a, b], metric, summary, tuple(window) if window else None, last_k)
    va, vb = sv.values[a], sv.values[b]
    info = {"control": a, "candidate": b, "metric": metric, "summary": sv.summary,
            "window": sv.window, "paired": paired}
    if paired:
        seeds = sorted(set(va) & set(vb))
        if not seeds:
            raise InputError(f"{a} and {b} share no seeds ({sorted(va)} vs {sorted(vb)}); drop --paired")
        info["seeds"] = seeds
        info["unshared_seeds"] = {"control": sorted(set(va) - set(seeds)),
                                  "candidate": sorted(set(vb) - set(seeds))}
        res = paired_comparison([va[s] for s in seeds], [vb[s] for s in seeds], seeds=seeds, **test)
    else:
        res = unpaired_comparison(list(va.values()), list(vb.values()), **test)
    return {**info, "skipped_not_done": sv.skipped, "result": res.to_dict()}


def export_records(reg: Registry, names: list[str]) -> dict:
    recs = [reg.record(r) for r in resolve_unique(reg, names)]
    return {"registry": str(reg.db), "results_dir": str(reg.results_dir), "runs": recs}


def summary(reg: Registry) -> dict:
    """What the registry holds: counts by stage/status, seeds per run_id, metrics, rows."""
    runs = reg.runs()
    per_id = defaultdict(set)
    for r in runs:
        per_id[(r["stage"], r["run_id"])].add(r["seed"])
    present, total = reg.checkpoint_counts()
    return {
        "db": str(reg.db), "results_dir": str(reg.results_dir),
        "runs": len(runs), "run_ids": len(per_id),
        "by_stage": reg.grouped("stage"), "by_status": reg.grouped("status"),
        "seeds_per_run_id": {f"{s}:{i}": sorted(v) for (s, i), v in sorted(per_id.items())},
        "git_commits": reg.grouped("git_commit"),
        "dirty_runs": sum(1 for r in runs if r["git_dirty"]),
        "wall_time_s_total": float(sum(r["wall_time_s"] or 0 for r in runs)),
        "n_tokens_total": int(sum(r["n_tokens"] or 0 for r in runs)),
        "metrics": reg.metric_names(), "step_metrics": reg.step_names(),
        "checkpoints": {"present": present, "missing": total - present},
        "rows": {t: reg.count(t) for t in ("runs", "params", "metrics", "step_metrics", "checkpoints")},
    }


def reproduce(reg: Registry, names: list[str], overrides_file=None, **kw) -> list[dict]:
    runs = resolve_unique(reg, names)
    if overrides_file and len(runs) > 1:
        raise InputError(f"--overrides-file needs one run; {' '.join(names)} names {len(runs)}")
    return [reproduce_plan(reg, r, overrides_file=overrides_file, **kw) for r in runs]

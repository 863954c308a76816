"""Questions asked of the registry (`teachable runs list|show|leaderboard|compare|
significance|export|stats|reproduce`): each function takes an open Registry and returns plain
data; the CLI in commands/runs.py only parses arguments and prints.

Every interval follows the rules of the tables and gates (docs/statistics.md): no interval
below `min_seeds` seeds (stats.min_seeds, default 3: "too few seeds"); below 10 seeds a
t-interval beside the bootstrap, and the interval shown is the more conservative of the two;
for task_success / panel_success of phase-2/3 runs, when results/phase3/episodes.csv is there,
the unit is seeds×tasks (two-level bootstrap, as phase3/overall_task_results.csv), else seeds
(per-seed metrics average fixed tasks: a narrower unit, said in `ci_unit`)."""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np

from ..io import InputError
from ..stats import bootstrap_ci, paired_comparison, unpaired_comparison
from ..stats import hierarchical as hier
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


MIN_SEEDS = 3  # stats.min_seeds's default (config/schema.yaml)
UNIT_SEEDS = "seeds (per-seed metric over fixed tasks)"
EPISODE_METRICS = {"task_success": "task", "panel_success": "panel"}


def _too_few(n: int, min_seeds: int) -> dict:
    return {"ci_low": None, "ci_high": None, "bootstrap_ci_low": None, "bootstrap_ci_high": None,
            "t_ci_low": None, "t_ci_high": None, "interval_used": "none",
            "ci_note": f"{hier.TOO_FEW} ({n} < {min_seeds}): no CI"}


def _union(boot: tuple, t: tuple) -> tuple:
    if t[0] is None or boot[0] is None or not np.isfinite(boot[0]):
        return boot, "bootstrap"
    lo, hi = min(boot[0], t[0]), max(boot[1], t[1])
    return (lo, hi), "t" if (t[1] - t[0]) > (boot[1] - boot[0]) else "bootstrap"


def _ci(values, confidence, method, n_resamples, seed, min_seeds=MIN_SEEDS) -> dict:
    """Mean over seeds: nothing below min_seeds; below 10 seeds the more conservative of the
    bootstrap and the Student t interval."""
    vals = np.asarray(values, float)
    if vals.size < min_seeds:
        return {**_too_few(int(vals.size), min_seeds), "ci_unit": UNIT_SEEDS}
    ci = bootstrap_ci(vals, "mean", confidence=confidence, method=method, n_resamples=n_resamples, seed=seed)
    t = (None, None)
    if vals.size < hier.T_BELOW:
        t = hier.t_interval(float(vals.mean()), vals, 0.0, confidence)
    (lo, hi), used = _union((ci.low, ci.high), t)
    return {"ci_low": lo, "ci_high": hi, "bootstrap_ci_low": ci.low, "bootstrap_ci_high": ci.high,
            "t_ci_low": t[0], "t_ci_high": t[1], "interval_used": used, "ci_unit": UNIT_SEEDS, "ci_note": ci.note}


def _episode_models(reg: Registry):
    """phase3/episodes.csv of the registry's results dir as evaluation.Models, or None."""
    path = reg.results_dir / "phase3" / "episodes.csv"
    if not path.exists():
        return None
    import pandas as pd

    from ..evaluation import Models

    return Models(pd.read_csv(path, dtype={"item": str}))


def _episode_matrix(M, run_id: str, metric: str, seeds: list[int]) -> np.ndarray | None:
    """The run's (seeds x items) matrix when the episodes hold exactly these seeds."""
    kind = EPISODE_METRICS.get(metric)
    if M is None or kind is None or (run_id != "BASE" and run_id not in M.run_ids):
        return None
    if run_id != "BASE" and M.seeds(run_id) != sorted(seeds):
        return None
    return M.m(run_id, kind)


def _two_level(ci: hier.TwoLevelCI) -> dict:
    return {"ci_low": ci.gate_low, "ci_high": ci.gate_high, "bootstrap_ci_low": ci.low, "bootstrap_ci_high": ci.high,
            "t_ci_low": ci.t_low, "t_ci_high": ci.t_high, "interval_used": ci.interval_used,
            "ci_unit": ci.ci_unit, "ci_note": ci.note}


def leaderboard(reg: Registry, metric: str, stage=None, top=None, lower_is_better=False,
                confidence=0.95, method="BCa", n_resamples=9999, seed=0, min_seeds=MIN_SEEDS) -> list[dict]:
    """run_ids of finished runs ranked by the mean over seeds, with the interval the tables
    and gates would show (module docstring)."""
    groups = defaultdict(list)
    for r in reg.runs(stage, "done"):
        v = reg.metrics(r["pk"]).get(metric)
        if v is not None:
            groups[(r["stage"], r["run_id"])].append((r["seed"], v))
    if not groups:
        known = ", ".join(reg.metric_names()) or "none"
        raise InputError(f"no finished run has metric '{metric}' (metrics: {known})")
    rows = []
    M = _episode_models(reg) if metric in EPISODE_METRICS else None
    for (st, run_id), sv in groups.items():
        vals = np.array([v for _, v in sv])
        seeds = sorted(s for s, _ in sv)
        mat = _episode_matrix(M, run_id, metric, seeds) if st in ("phase2", "eval", "base") else None
        if mat is not None:
            ms = 1 if run_id == "BASE" else min_seeds
            interval = _two_level(hier.mean_ci(mat, confidence=confidence, n_resamples=min(n_resamples, 4000),
                                               seed=seed, min_seeds=ms))
        else:
            interval = _ci(vals, confidence, method, n_resamples, seed, min_seeds)
        rows.append({"run_id": run_id, "stage": st, "n": len(vals), "mean": float(vals.mean()),
                     "std": float(vals.std(ddof=1)) if len(vals) > 1 else None,
                     **interval, "seeds": seeds})
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
                 window=None, last_k=1, min_seeds=MIN_SEEDS, **test) -> dict:
    """Candidate b minus control a on a metric, paired on shared seeds or Welch; below
    min_seeds seeds (per arm) no interval and no p-value; below 10 the interval is the more
    conservative of the bootstrap and the t interval."""
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
        n = len(seeds)
        res = paired_comparison([va[s] for s in seeds], [vb[s] for s in seeds], seeds=seeds, **test)
    else:
        n = min(len(va), len(vb))
        res = unpaired_comparison(list(va.values()), list(vb.values()), **test)
    out = res.to_dict()
    conf = out["ci"].get("confidence", 0.95) if isinstance(out.get("ci"), dict) else 0.95
    if n < min_seeds:
        out["ci"] = {**(out.get("ci") or {}), "low": None, "high": None}
        for k in list(out):
            if k.endswith("pvalue") or k in ("welch_ci_low", "welch_ci_high"):
                out[k] = None
        out["notes"] = [f"{hier.TOO_FEW} ({n} < {min_seeds}): no CI and no p-value (stats.min_seeds)"] + \
            list(out.get("notes") or [])
        interval = {**_too_few(n, min_seeds), "ci_unit": UNIT_SEEDS}
    else:
        boot = (out["ci"].get("low"), out["ci"].get("high"))
        t = (None, None)
        if n < hier.T_BELOW:
            if paired and out.get("sd_diff") is not None:
                from scipy.stats import t as tdist

                half = float(tdist.ppf((1 + conf) / 2, n - 1) * out["sd_diff"] / np.sqrt(n))
                t = (out["mean_diff"] - half, out["mean_diff"] + half)
            elif not paired:
                t = (out.get("welch_ci_low"), out.get("welch_ci_high"))
        (lo, hi), used = _union(boot, t) if t[0] is not None else (boot, "bootstrap")
        interval = {"ci_low": lo, "ci_high": hi, "bootstrap_ci_low": boot[0], "bootstrap_ci_high": boot[1],
                    "t_ci_low": t[0], "t_ci_high": t[1], "interval_used": used, "ci_unit": UNIT_SEEDS}
        M = _episode_models(reg) if metric in EPISODE_METRICS and summary in (None, "value") else None
        ma = _episode_matrix(M, a, metric, sorted(va)) if M is not None else None
        mb = _episode_matrix(M, b, metric, sorted(vb)) if M is not None else None
        if ma is not None and mb is not None and ma.shape[0] in (1, mb.shape[0]):
            d = hier.paired_diff(ma, mb, confidence=conf, n_resamples=2000, seed=int(test.get("seed", 0)),
                                 min_seeds=min_seeds)
            interval = _two_level(d) | {"p_two_level": d.p_value}
    return {**info, "skipped_not_done": sv.skipped, "interval": interval, "result": out}


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

"""Phase 5 evaluation of one arm (method x seed), exactly as phase 3 evaluates a training
run (held-out tasks, held-out snapshot panel, retention, stuckness), via
`teachable.evaluation`; the record says which method was actually used."""

from __future__ import annotations

from ..io import InputError
from .summary import run_id_of


def check_run(run: dict, method: str, seed: int, source: str = "run.json") -> None:
    if run.get("status") != "done":
        raise InputError(f"{source}: training status {run.get('status')!r}, not 'done'")
    if run.get("stage") != "selection" or run.get("run_id") != run_id_of(method) or int(run.get("seed", -1)) != seed:
        raise InputError(f"{source}: run {run.get('run_id')!r} seed {run.get('seed')} stage {run.get('stage')!r} "
                         f"is not selection arm '{method}' seed {seed}")
    if run.get("method_used") != method:
        raise InputError(f"{source}: arm '{method}' was trained as {run.get('method_used')!r}; an arm may never "
                         "become another")


def eval_record(method: str, seed: int, run: dict, metrics: dict, extra: dict | None = None) -> dict:
    """eval.json: the phase-3 per-run format plus the method and the method actually used."""
    return {"run_id": run_id_of(method), "seed": int(seed), "stage": "selection", "method": method,
            "method_used": run["method_used"], "n_examples": run.get("n_examples"),
            "train_snapshot_ids": run.get("train_snapshot_ids"), "metrics": metrics, **(extra or {})}


EVAL_KEYS = ("snapshot_id", "mission", "obs_text", "valid_actions", "history", "quadrant", "heldout", "state")


def evaluate_arm(cfg: dict, student_path: str, snaps: list[dict], adapter: str, run_path: str, base_path: str,
                 method: str, seed: int, out: str, episodes: str | None, device: str) -> dict:
    """Evaluate one trained arm like a phase-3 run and write eval.json (and its per-episode
    rows, for the two-level CIs); `snaps` read with EVAL_KEYS. Used by selection_seed.py
    (rule selection_seed) right after training each arm."""
    from ..evaluation import evaluate_model
    from ..io import atomic_path, read_json, write_json

    run = read_json(run_path)
    check_run(run, method, seed, run_path)
    res = evaluate_model(student_path, adapter, cfg, snaps, seed, device, read_json(base_path))
    if episodes:
        import pandas as pd

        rows = [{"run_id": run_id_of(method), "seed": seed, **r} for r in res["episodes"]]
        with atomic_path(episodes, suffix=".csv") as tmp:
            pd.DataFrame(rows).to_csv(tmp, index=False)
    write_json(out, eval_record(method, seed, run, res["metrics"]))
    return res["metrics"]

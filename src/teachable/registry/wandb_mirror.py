"""Optional Weights & Biases mirror of the registry (`tracking.wandb`).

The registry (SQLite, derived from files) stays the source of truth; this copies each run
into one W&B run: name `{run_id}/seed{seed}`, group `run_id`, job type the stage, the run's
config, its learning curve (metrics.jsonl, by step) and its final metrics as the summary.
`mode: offline` (default) writes W&B's local run files under `dir` and needs no account or
network (`wandb sync DIR/wandb/offline-run-*` uploads them later); `online` needs a W&B
login. `WANDB_MODE` in the environment wins over the configured mode. The package is never
required: without it, asking for the mirror stops with a message saying how to install it.

Ids are stable (`wandb_id`: from stage, run_id and seed), and runs are opened with
`resume="allow"`, so re-indexing, or re-training a run that logged live, continues the same
W&B run instead of creating a duplicate. `live_logger` is the optional live hook of the
training loop (`tracking.wandb_live`): each metrics row is logged as it is produced."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path
from typing import Callable

from ..io import InputError

MODES = ("offline", "online")


def _wandb():
    try:
        import wandb
    except ImportError:
        raise InputError("tracking.wandb: the wandb package is not installed "
                         "(pip install 'teachable[wandb]' or pip install wandb)") from None
    return wandb


def wandb_id(stage: str, run_id: str, seed: int) -> str:
    """A W&B run id that is the same every time this (stage, run_id, seed) is logged."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{stage}-{run_id}-seed{int(seed)}")[:128]


def resolve_mode(mode: str) -> str:
    mode = os.environ.get("WANDB_MODE") or mode
    if mode not in (*MODES, "disabled"):
        raise InputError(f"tracking.wandb_mode: '{mode}' is not one of {', '.join(MODES)} (WANDB_MODE may also be disabled)")
    return mode


def _init(wandb, *, project, entity, mode, out_dir, stage, run_id, seed, config, tags=()):
    return wandb.init(project=project, entity=entity or None, id=wandb_id(stage, run_id, seed),
                      resume="allow", name=f"{run_id}/seed{seed}", group=run_id, job_type=stage,
                      mode=mode, dir=str(out_dir), config={**config, "seed": seed, "stage": stage},
                      tags=[stage, *tags], settings=wandb.Settings(silent=True))


def live_logger(tracking: dict, *, stage: str, run_id: str, seed: int, config: dict,
                out_dir: str | os.PathLike) -> tuple[Callable[[dict], None], Callable[[], None]] | None:
    """(log(row), finish()) for a training run when `tracking.wandb_live` is on, else None.
    Rows carry `step`; W&B writes under out_dir/wandb."""
    if not tracking.get("wandb_live"):
        return None
    wandb = _wandb()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run = _init(wandb, project=tracking.get("wandb_project", "teachable"), entity=tracking.get("wandb_entity"),
                mode=resolve_mode(tracking.get("wandb_mode", "offline")), out_dir=out_dir, stage=stage,
                run_id=run_id, seed=seed, config=config, tags=("live",))

    def log(row: dict) -> None:
        vals = {k: v for k, v in row.items() if k != "step" and isinstance(v, (int, float))}
        run.log(vals, step=int(row["step"]))

    return log, run.finish


def _runs(db: Path) -> list[dict]:
    if not db.exists():
        raise InputError(f"{db}: registry not found (run `teachable runs index` first)")
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        out = []
        for r in con.execute("SELECT pk, key, run_id, seed, stage, status, config_json FROM runs ORDER BY pk"):
            steps: dict[int, dict] = {}
            for s in con.execute("SELECT step, name, value FROM step_metrics WHERE run_pk = ? ORDER BY row",
                                 (r["pk"],)):
                if s["value"] is not None:
                    steps.setdefault(s["step"], {})[s["name"]] = s["value"]
            summary = {m["name"]: m["value"] for m in
                       con.execute("SELECT name, value FROM metrics WHERE run_pk = ? ORDER BY name", (r["pk"],))
                       if m["value"] is not None}
            out.append({"key": r["key"], "run_id": r["run_id"], "seed": r["seed"], "stage": r["stage"],
                        "status": r["status"], "config": json.loads(r["config_json"] or "{}"),
                        "steps": steps, "summary": summary})
        return out
    finally:
        con.close()


def mirror_to_wandb(db: str | os.PathLike, project: str = "teachable", mode: str = "offline",
                    out_dir: str | os.PathLike = "results/wandb", entity: str | None = None) -> list[str]:
    """One W&B run per registry run (resumed by its stable id); returns the run directories."""
    mode = resolve_mode(mode)
    runs = _runs(Path(db))
    wandb = _wandb()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for r in runs:
        run = _init(wandb, project=project, entity=entity, mode=mode, out_dir=out_dir, stage=r["stage"],
                    run_id=r["run_id"], seed=r["seed"], config=r["config"], tags=(r["status"],))
        for step in sorted(r["steps"]):
            run.log(r["steps"][step], step=step)
        run.summary.update(r["summary"])
        written.append(run.dir)
        run.finish()
    return written

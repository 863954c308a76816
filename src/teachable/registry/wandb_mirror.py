"""Optional Weights & Biases mirror of the registry (`tracking.wandb`).

The registry (SQLite, derived from files) stays the source of truth; this copies each run
into one W&B run: name `{run_id}/seed{seed}`, group `run_id`, job type the stage, the run's
config, its learning curve (metrics.jsonl, by step) and its final metrics as the summary.
`mode: offline` (default) writes W&B's local run files under `dir` and needs no account or
network (`wandb sync DIR/wandb/offline-run-*` uploads them later); `online` needs a W&B
login. The package is never required: without it, asking for the mirror stops with a
message saying how to install it."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from ..io import InputError

MODES = ("offline", "online")


def _wandb():
    try:
        import wandb
    except ImportError:
        raise InputError("tracking.wandb: the wandb package is not installed "
                         "(pip install 'teachable[wandb]' or pip install wandb)") from None
    return wandb


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
                    out_dir: str | os.PathLike = "results/wandb") -> list[str]:
    """One W&B run per registry run; returns the W&B run directories written."""
    if mode not in MODES:
        raise InputError(f"tracking.wandb_mode: '{mode}' is not one of {', '.join(MODES)}")
    runs = _runs(Path(db))
    wandb = _wandb()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for r in runs:
        run = wandb.init(project=project, name=r["key"], group=r["run_id"], job_type=r["stage"], mode=mode,
                         dir=str(out_dir), config={**r["config"], "seed": r["seed"], "stage": r["stage"]},
                         tags=[r["stage"], r["status"]], settings=wandb.Settings(silent=True))
        for step in sorted(r["steps"]):
            run.log(r["steps"][step], step=step)
        run.summary.update(r["summary"])
        written.append(run.dir)
        run.finish()
    return written

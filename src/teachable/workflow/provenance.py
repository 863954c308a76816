"""Provenance of a run (code version, host, library versions, device, UTC times) and a
helper that writes `run.json` atomically: status "running" at the start, then "done" or
"failed" with the wall time.

The git commit and dirty flag are those of the repository holding this package; with no
`git` executable, or the code outside a repository (an installed wheel, a copied tree),
both are null rather than an error."""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

from ..io import read_json, stable_hash, write_json

# Every library whose version can change a result: models and training, environments and
# their experts, the teacher client, statistics. OPTIONAL ones are recorded when installed.
LIBRARIES = ("teachable", "torch", "transformers", "peft", "accelerate", "tokenizers", "minigrid",
             "gymnasium", "openai", "numpy", "scipy", "statsmodels", "pandas")
OPTIONAL_LIBRARIES = ("textworld",)
CODE_DIR = Path(__file__).resolve().parents[1]  # the teachable package


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _git(args: list[str], cwd: Path) -> str | None:
    exe = shutil.which("git")
    if exe is None:
        return None
    try:
        r = subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout if r.returncode == 0 else None


def git_info(path: str | os.PathLike = CODE_DIR) -> dict:
    """{"commit", "dirty", "root"}; each null when unknown. dirty counts tracked changes
    and untracked files that are not git-ignored."""
    path = Path(path)
    commit = _git(["rev-parse", "HEAD"], path)
    if commit is None:
        return {"commit": None, "dirty": None, "root": None}
    status = _git(["status", "--porcelain"], path)
    root = _git(["rev-parse", "--show-toplevel"], path)
    return {"commit": commit.strip(), "dirty": None if status is None else bool(status.strip()),
            "root": root.strip() if root else None}


def library_versions(names=LIBRARIES, optional=OPTIONAL_LIBRARIES) -> dict:
    """Installed distribution versions (read from metadata; nothing is imported): null for a
    missing one of `names`, left out for a missing one of `optional`."""
    out = {}
    for name in (*names, *optional):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            if name not in optional:
                out[name] = None
    return out


def collect_provenance(config: dict, seed: int, device: str) -> dict:
    """Everything needed to tell where and with what a run was produced."""
    return {
        "git": git_info(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": library_versions(),
        "device": str(device),
        "seed": int(seed),
        "config_hash": stable_hash(config),
        "argv": list(sys.argv),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "collected_at_utc": utc_now(),
    }


class RunRecord(dict):
    """The run.json being written; set fields (metrics, n_examples, n_tokens,
    adapter_path, ...) on it inside `record_run`."""


@contextlib.contextmanager
def record_run(path: str | os.PathLike, *, run_id: str, seed: int, stage: str, config: dict,
               device: str = "cpu", **fields: Any) -> Iterator[RunRecord]:
    """Write run.json with status "running", yield it, then rewrite it as "done" (or
    "failed" with the error, re-raising it), always with wall_time_s and UTC times.

        with record_run(out / "run.json", run_id=r, seed=s, stage="phase2", config=cfg,
                        device="cpu") as run:
            ...train...
            run["metrics"] = {"final_loss": 0.31}
    """
    rec = RunRecord(run_id=str(run_id), seed=int(seed), stage=str(stage), status="running",
                    config=config, provenance=collect_provenance(config, seed, device),
                    started_at=utc_now(), finished_at=None, wall_time_s=None,
                    n_examples=None, n_tokens=None, adapter_path=None, metrics={})
    rec.update(fields)
    write_json(path, rec)
    t0 = time.perf_counter()
    try:
        yield rec
    except BaseException as e:
        rec.update(status="failed", error=f"{type(e).__name__}: {e}",
                   traceback=traceback.format_exc(limit=20))
        raise
    else:
        rec["status"] = "done"
    finally:
        rec["wall_time_s"] = round(time.perf_counter() - t0, 3)
        rec["finished_at"] = utc_now()
        write_json(path, dict(rec))


def read_run(path: str | os.PathLike) -> dict:
    return read_json(path)

"""Build results/registry.sqlite from every run.json (with its metrics.jsonl) and every
per-run evaluation file under a results dir.

The database is derived from files: it is built in a temporary file beside the target
and renamed over it, so readers never see a half-built registry and indexing twice gives
the same content."""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..io import InputError, atomic_path, read_json, read_jsonl
from .schema import DDL, SCHEMA_VERSION

RUN_REQUIRED = ("run_id", "seed", "stage", "status", "config")
STATUSES = ("done", "failed", "running")
EVAL_GLOB = "phase3/runs/*/seed*.json"
_SEED_DIR = re.compile(r"^seed(-?\d+)$")


@dataclass
class IndexReport:
    db: str
    results: str
    runs: int = 0
    eval_only: int = 0
    params: int = 0
    metrics: int = 0
    step_rows: int = 0
    checkpoints: int = 0
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def flatten(d: dict, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Nested dict -> (dotted key, leaf); lists stay whole (one value)."""
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            yield from flatten(v, key + ".")
        else:
            yield key, v


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return None if math.isnan(v) else float(v)
    return None


def _sql_value(v: Any) -> Any:
    if v is None or isinstance(v, (list, dict)):
        return json.dumps(v, sort_keys=True)
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


def _check_run(data: Any, path: Path, results: Path) -> dict:
    rel = path.relative_to(results)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")
    missing = [k for k in RUN_REQUIRED if k not in data]
    if missing:
        raise InputError(f"{path}: missing key(s) {', '.join(missing)}")
    if data["status"] not in STATUSES:
        raise InputError(f"{path}: status '{data['status']}' is not one of {', '.join(STATUSES)}")
    if not isinstance(data["seed"], int) or isinstance(data["seed"], bool):
        raise InputError(f"{path}: seed must be an integer, got {data['seed']!r}")
    if not isinstance(data["config"], dict):
        raise InputError(f"{path}: config must be an object")
    m = _SEED_DIR.match(path.parent.name)
    if m and int(m.group(1)) != data["seed"]:
        raise InputError(f"{path}: seed {data['seed']} differs from its directory {path.parent.name}")
    # phase2/{run_id}/seedN and validation/{run_id}/seedN name the run in the path
    if len(rel.parts) == 4 and rel.parts[0] in ("phase2", "validation") and rel.parts[1] != data["run_id"]:
        raise InputError(f"{path}: run_id '{data['run_id']}' differs from its directory '{rel.parts[1]}'")
    metrics = data.get("metrics") or {}
    if not isinstance(metrics, dict):
        raise InputError(f"{path}: metrics must be an object")
    return data


def _check_eval(data: Any, path: Path) -> dict:
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise InputError(f"{path}: expected an object with a 'metrics' object")
    run_id = path.parent.name
    m = re.match(r"^seed(-?\d+)$", path.stem)
    if not m:
        raise InputError(f"{path}: file name must be seed<N>.json")
    seed = int(m.group(1))
    if data.get("run_id", run_id) != run_id or data.get("seed", seed) != seed:
        raise InputError(f"{path}: run_id/seed in the file ({data.get('run_id')}/{data.get('seed')}) "
                         f"differ from its path ({run_id}/seed{seed})")
    return {"run_id": run_id, "seed": seed, "metrics": data["metrics"]}


def _present(p: str, results: Path, run_dir: Path) -> bool:
    q = Path(p)
    if q.is_absolute():
        return q.exists()
    return (results.parent / q).exists() or (run_dir / q).exists() or (results / q).exists()


def _metric_rows(metrics: dict, source: str) -> dict[str, tuple[float | None, str]]:
    out = {}
    for name, v in flatten(metrics):
        if isinstance(v, (int, float)) or v is None:
            out[name] = (_number(v), source)
    return out


def build_registry(results: str | os.PathLike = "results", db: str | os.PathLike | None = None,
                   *, skip_bad: bool = False) -> IndexReport:
    """(Re)build the registry database from the files under `results`.

    A malformed run.json / metrics.jsonl / evaluation file stops indexing with a message
    naming the file (and line), unless skip_bad=True, which records it in the report."""
    results = Path(results)
    if not results.is_dir():
        raise InputError(f"{results}: results directory not found")
    results = results.resolve()
    db = Path(db) if db is not None else results / "registry.sqlite"
    report = IndexReport(db=str(db), results=str(results))

    def bad(msg: str) -> None:
        if not skip_bad:
            raise InputError(msg)
        report.skipped.append(msg)

    runs: dict[tuple[str, str, int], dict] = {}
    for path in sorted(results.rglob("run.json")):
        try:
            data = _check_run(read_json(path), path, results)
            steps = None
            mj = path.with_name("metrics.jsonl")
            if mj.exists():
                steps = read_jsonl(mj, required=("step",))
                for i, row in enumerate(steps, 1):
                    if not isinstance(row["step"], int) or isinstance(row["step"], bool):
                        raise InputError(f"{mj}: row {i}: step must be an integer")
        except InputError as e:
            bad(str(e))
            continue
        k = (data["stage"], data["run_id"], data["seed"])
        if k in runs:
            bad(f"{path}: duplicates {runs[k]['run_json']} (stage {k[0]}, {k[1]}/seed{k[2]})")
            continue
        runs[k] = {"data": data, "run_json": str(path.relative_to(results)),
                   "steps": steps, "metrics_jsonl": str(mj.relative_to(results)) if steps is not None else None,
                   "eval": None, "dir": path.parent}

    evals = []
    for path in sorted(results.glob(EVAL_GLOB)):
        try:
            evals.append((path, _check_eval(read_json(path), path)))
        except InputError as e:
            bad(str(e))
    for path, ev in evals:
        targets = [k for k in runs if k[1] == ev["run_id"] and k[2] == ev["seed"] and k[0] == "phase2"]
        if not targets:
            targets = [k for k in runs if k[1] == ev["run_id"] and k[2] == ev["seed"]]
        if len(targets) > 1:
            bad(f"{path}: matches runs in several stages ({', '.join(t[0] for t in targets)})")
            continue
        if targets:
            runs[targets[0]]["eval"] = (path, ev)
        else:
            stage = "base" if ev["run_id"] == "BASE" else "eval"
            runs[(stage, ev["run_id"], ev["seed"])] = {
                "data": {"run_id": ev["run_id"], "seed": ev["seed"], "stage": stage,
                         "status": "done", "config": {}},
                "run_json": None, "steps": None, "metrics_jsonl": None,
                "eval": (path, ev), "dir": path.parent}
            report.eval_only += 1

    with atomic_path(db, suffix=".sqlite") as tmp:
        tmp.unlink()
        con = sqlite3.connect(tmp)
        try:
            con.executescript(DDL)
            con.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("schema_version", str(SCHEMA_VERSION)), ("results_dir", str(results))])
            for pk, k in enumerate(sorted(runs), 1):
                _insert_run(con, pk, runs[k], results, report)
            con.commit()
        finally:
            con.close()
    report.runs = len(runs)
    return report


def _insert_run(con: sqlite3.Connection, pk: int, r: dict, results: Path, report: IndexReport) -> None:
    d = r["data"]
    prov = d.get("provenance") or {}
    git = prov.get("git") or {}
    ev = r["eval"]
    con.execute(
        "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (pk, f"{d['run_id']}/seed{d['seed']}", d["run_id"], d["seed"], d["stage"], d["status"],
         r["run_json"], str(ev[0].relative_to(results)) if ev else None, r["metrics_jsonl"],
         _number(d.get("wall_time_s")), d.get("n_examples"), d.get("n_tokens"),
         d.get("adapter_path"), git.get("commit"),
         None if git.get("dirty") is None else int(bool(git["dirty"])),
         prov.get("host"), prov.get("device"),
         d.get("started_at") or prov.get("collected_at_utc"), d.get("finished_at"),
         json.dumps(d["config"], sort_keys=True), json.dumps(prov, sort_keys=True)))
    params = sorted(flatten(d["config"]))
    con.executemany("INSERT INTO params VALUES (?,?,?,?)",
                    [(pk, k, _sql_value(v), json.dumps(v, sort_keys=True)) for k, v in params])
    report.params += len(params)
    metrics = _metric_rows(d.get("metrics") or {}, "run.json")
    if ev:
        for name, val in _metric_rows(ev[1]["metrics"], "eval").items():
            if name in metrics and metrics[name][0] != val[0]:
                report.warnings.append(f"{d['run_id']}/seed{d['seed']}: metric '{name}' from "
                                       f"{ev[0].name} overrides run.json's value")
            metrics[name] = val
    con.executemany("INSERT INTO metrics VALUES (?,?,?,?)",
                    [(pk, n, v, s) for n, (v, s) in sorted(metrics.items())])
    report.metrics += len(metrics)
    if r["steps"]:
        rows = []
        for rownum, row in enumerate(r["steps"], 1):
            epoch = row.get("epoch")
            for name, v in sorted(row.items()):
                if name in ("step", "epoch") or not (isinstance(v, (int, float)) or v is None):
                    continue
                rows.append((pk, rownum, row["step"], epoch if isinstance(epoch, int) else None,
                             name, _number(v)))
        con.executemany("INSERT INTO step_metrics VALUES (?,?,?,?,?,?)", rows)
        report.step_rows += len(rows)
    if d.get("adapter_path"):
        con.execute("INSERT INTO checkpoints VALUES (?,?,?,?)",
                    (pk, "adapter", d["adapter_path"],
                     int(_present(d["adapter_path"], results, r["dir"]))))
        report.checkpoints += 1

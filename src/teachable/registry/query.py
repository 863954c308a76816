"""Read access to the registry: run selection by name, configs, metrics, curves.

Run names: `{run_id}/seed{seed}` (one run) or `{run_id}` (all its seeds), optionally
prefixed by the stage, `validation:Q1_demo/seed0`. When a run_id exists in several
stages, a bare name means the phase2 run; without a phase2 run it is an error that lists
the qualified names. Unknown names stop with one message naming all of them."""

from __future__ import annotations

import json
import re
import sqlite3
from collections import defaultdict
from pathlib import Path

from ..io import InputError

_NAME = re.compile(r"^(?:(?P<stage>[^:/]+):)?(?P<run_id>[^/]+?)(?:/seed(?P<seed>-?\d+))?$")


class Registry:
    def __init__(self, db: str | Path):
        self.db = Path(db)
        if not self.db.exists():
            raise InputError(f"{self.db}: registry not found (build it with `teachable runs index`)")
        self.con = sqlite3.connect(f"file:{self.db.resolve()}?mode=ro", uri=True)
        self.con.row_factory = sqlite3.Row
        try:
            self.meta = {r["key"]: r["value"] for r in self.con.execute("SELECT * FROM meta")}
        except sqlite3.DatabaseError as e:
            raise InputError(f"{self.db}: not a registry database ({e})") from None

    def close(self) -> None:
        self.con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def results_dir(self) -> Path:
        return Path(self.meta["results_dir"])

    # -- selection ---------------------------------------------------------------------
    def runs(self, stage: str | None = None, status: str | None = None) -> list[dict]:
        q, args = "SELECT * FROM runs WHERE 1=1", []
        if stage:
            q, args = q + " AND stage = ?", args + [stage]
        if status:
            q, args = q + " AND status = ?", args + [status]
        return [dict(r) for r in self.con.execute(q + " ORDER BY run_id, seed, stage", args)]

    def select(self, name: str) -> list[dict]:
        """Runs matching one name (empty list when none)."""
        m = _NAME.match(name.strip())
        if not m:
            return []
        q, args = "SELECT * FROM runs WHERE run_id = ?", [m["run_id"]]
        if m["seed"] is not None:
            q, args = q + " AND seed = ?", args + [int(m["seed"])]
        if m["stage"]:
            q, args = q + " AND stage = ?", args + [m["stage"]]
        rows = [dict(r) for r in self.con.execute(q + " ORDER BY seed", args)]
        stages = sorted({r["stage"] for r in rows})
        if len(stages) > 1 and "phase2" in stages:
            return [r for r in rows if r["stage"] == "phase2"]
        if len(stages) > 1:
            raise InputError(f"run name '{name}' exists in several stages; qualify it: "
                             + ", ".join(f"{s}:{name}" for s in stages))
        return rows

    def resolve(self, names: list[str]) -> dict[str, list[dict]]:
        """{name: runs} for every name; one InputError names every unknown one."""
        out, unknown = {}, []
        for n in names:
            rows = self.select(n)
            if rows:
                out[n] = rows
            else:
                unknown.append(n)
        if unknown:
            raise InputError(f"unknown run(s): {', '.join(unknown)} (see `teachable runs list`)")
        return out

    # -- per-run data ------------------------------------------------------------------
    def config(self, pk: int) -> dict:
        row = self.con.execute("SELECT config_json FROM runs WHERE pk = ?", (pk,)).fetchone()
        return json.loads(row[0]) if row and row[0] else {}

    def provenance(self, pk: int) -> dict:
        row = self.con.execute("SELECT provenance_json FROM runs WHERE pk = ?", (pk,)).fetchone()
        return json.loads(row[0]) if row and row[0] else {}

    def params(self, pk: int) -> dict:
        return {r["key"]: json.loads(r["value_json"]) for r in
                self.con.execute("SELECT key, value_json FROM params WHERE run_pk = ? ORDER BY key", (pk,))}

    def metrics(self, pk: int) -> dict:
        return {r["name"]: r["value"] for r in
                self.con.execute("SELECT name, value FROM metrics WHERE run_pk = ? ORDER BY name", (pk,))}

    def metric_sources(self, pk: int) -> dict:
        return {r["name"]: r["source"] for r in
                self.con.execute("SELECT name, source FROM metrics WHERE run_pk = ?", (pk,))}

    def checkpoints(self, pk: int) -> list[dict]:
        return [dict(r) for r in self.con.execute(
            "SELECT kind, path, present FROM checkpoints WHERE run_pk = ? ORDER BY kind", (pk,))]

    def step_rows(self, pk: int) -> list[dict]:
        """metrics.jsonl rows as recorded (numeric fields only)."""
        rows: dict[int, dict] = {}
        for r in self.con.execute("SELECT row, step, epoch, name, value FROM step_metrics "
                                  "WHERE run_pk = ? ORDER BY row, name", (pk,)):
            d = rows.setdefault(r["row"], {"step": r["step"]})
            if r["epoch"] is not None:
                d["epoch"] = r["epoch"]
            d[r["name"]] = r["value"]
        return [rows[k] for k in sorted(rows)]

    def step_metric_names(self, pk: int) -> dict[str, dict]:
        out = {}
        for r in self.con.execute(
                "SELECT name, COUNT(*) n, MIN(step) first, MAX(step) last FROM step_metrics "
                "WHERE run_pk = ? GROUP BY name ORDER BY name", (pk,)):
            last = self.con.execute("SELECT value FROM step_metrics WHERE run_pk = ? AND name = ? "
                                    "ORDER BY step DESC, row DESC LIMIT 1", (pk, r["name"])).fetchone()
            out[r["name"]] = {"points": r["n"], "first_step": r["first"], "last_step": r["last"],
                              "last_value": last[0]}
        return out

    def record(self, run: dict) -> dict:
        """Everything the registry holds about one run (JSON-ready)."""
        pk = run["pk"]
        base = {k: v for k, v in run.items() if k not in ("pk", "config_json", "provenance_json")}
        base["git_dirty"] = None if run["git_dirty"] is None else bool(run["git_dirty"])
        return {**base, "config": self.config(pk), "provenance": self.provenance(pk),
                "metrics": self.metrics(pk), "metric_sources": self.metric_sources(pk),
                "checkpoints": self.checkpoints(pk), "step_metrics": self.step_rows(pk)}

    # -- summaries ---------------------------------------------------------------------
    def metric_names(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self.con.execute(
            "SELECT name, COUNT(*) FROM metrics GROUP BY name ORDER BY name")}

    def step_names(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self.con.execute(
            "SELECT name, COUNT(DISTINCT run_pk) FROM step_metrics GROUP BY name ORDER BY name")}

    def count(self, table: str) -> int:
        if table not in ("runs", "params", "metrics", "step_metrics", "checkpoints"):
            raise ValueError(table)
        return self.con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def grouped(self, column: str) -> dict[str, int]:
        if column not in ("stage", "status", "device", "host", "git_commit"):
            raise ValueError(column)
        d = defaultdict(int)
        for r in self.con.execute(f"SELECT {column}, COUNT(*) FROM runs GROUP BY {column}"):
            d[str(r[0])] = r[1]
        return dict(sorted(d.items()))

    def checkpoint_counts(self) -> tuple[int, int]:
        """(checkpoints present on disk, checkpoints recorded)."""
        present, total = self.con.execute("SELECT SUM(present), COUNT(*) FROM checkpoints").fetchone()
        return int(present or 0), int(total)

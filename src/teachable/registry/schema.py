"""SQLite schema of the run registry (derived from files; rebuilt, never edited)."""

SCHEMA_VERSION = 1

DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE runs (
    pk INTEGER PRIMARY KEY,
    key TEXT NOT NULL,            -- {run_id}/seed{seed}
    run_id TEXT NOT NULL,
    seed INTEGER NOT NULL,
    stage TEXT NOT NULL,          -- phase2, selection, validation, base (evaluation only)
    status TEXT NOT NULL,         -- done, failed, running
    run_json TEXT,                -- path relative to the results dir (NULL: evaluation only)
    eval_json TEXT,               -- phase3/runs/{run_id}/seed{seed}.json when present
    metrics_jsonl TEXT,
    wall_time_s REAL,
    n_examples INTEGER,
    n_tokens INTEGER,
    adapter_path TEXT,
    git_commit TEXT,
    git_dirty INTEGER,
    host TEXT,
    device TEXT,
    started_at TEXT,              -- run.json started_at, else provenance.collected_at_utc
    finished_at TEXT,
    config_json TEXT,
    provenance_json TEXT,
    UNIQUE (stage, run_id, seed)
);
CREATE INDEX runs_key ON runs (key);
CREATE INDEX runs_run_id ON runs (run_id);
CREATE TABLE params (
    run_pk INTEGER NOT NULL REFERENCES runs (pk),
    key TEXT NOT NULL,            -- flattened config key, e.g. training.lr
    value,                        -- number or text as in the config; lists/null as JSON text
    value_json TEXT NOT NULL,     -- exact JSON of the value
    PRIMARY KEY (run_pk, key)
);
CREATE TABLE metrics (
    run_pk INTEGER NOT NULL REFERENCES runs (pk),
    name TEXT NOT NULL,
    value REAL,                   -- NULL for NaN
    source TEXT NOT NULL,         -- run.json or eval (phase3 per-run evaluation)
    PRIMARY KEY (run_pk, name)
);
CREATE TABLE step_metrics (
    run_pk INTEGER NOT NULL REFERENCES runs (pk),
    row INTEGER NOT NULL,         -- 1-based record number in metrics.jsonl (blank lines skipped)
    step INTEGER NOT NULL,
    epoch INTEGER,
    name TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (run_pk, row, name)
);
CREATE INDEX step_metrics_name ON step_metrics (run_pk, name, step);
CREATE TABLE checkpoints (
    run_pk INTEGER NOT NULL REFERENCES runs (pk),
    kind TEXT NOT NULL,           -- adapter
    path TEXT NOT NULL,           -- as written in run.json
    present INTEGER NOT NULL,     -- the path exists (relative paths tried against the
                                  -- results dir's parent and the run dir)
    PRIMARY KEY (run_pk, kind)
);
"""

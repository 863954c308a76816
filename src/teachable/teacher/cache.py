"""Disk cache of teacher answers: one JSON file per answer, keyed by
stable_hash(backend, model, prompt, params), written atomically.

Only valid answers are stored (the Teacher decides). A file holds the advice and the token
counts of the call that produced it, never the API key or the base URL."""

from __future__ import annotations

from pathlib import Path

from ..io import InputError, read_json, stable_hash, write_json


class DiskCache:
    """`root=None` disables the cache (every get misses, put does nothing)."""

    def __init__(self, root: str | Path | None):
        self.root = Path(root) if root else None

    @staticmethod
    def key(backend: str, model: str, prompt, params: dict) -> str:
        return stable_hash(backend, model, prompt, params)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        if self.root is None:
            return None
        p = self.path(key)
        if not p.exists():
            return None
        entry = read_json(p)  # InputError names the file
        if not isinstance(entry, dict) or not isinstance(entry.get("advice"), dict):
            raise InputError(f"{p}: not a teacher cache entry (expected an 'advice' object); delete the file")
        return entry

    def put(self, key: str, advice: dict, stats: dict | None = None) -> None:
        if self.root is not None:
            write_json(self.path(key), {"key": key, "advice": advice, "stats": stats or {}})

    def __len__(self) -> int:
        return 0 if self.root is None or not self.root.exists() else sum(1 for _ in self.root.glob("*/*.json"))

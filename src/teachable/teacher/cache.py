"""Disk cache of teacher answers keyed by a hash of (backend, model, prompt, params)."""

from __future__ import annotations

from pathlib import Path

from ..io import read_json, stable_hash, write_json


class DiskCache:
    def __init__(self, root: str | Path | None):
        self.root = Path(root) if root else None

    def key(self, backend: str, model: str, prompt, params: dict) -> str:
        return stable_hash(backend, model, prompt, params)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        if self.root is None or not self._path(key).exists():
            return None
        return read_json(self._path(key))

    def put(self, key: str, value: dict) -> None:
        if self.root is not None:
            write_json(self._path(key), value)

"""File I/O shared by every stage: atomic writes, JSONL with line-numbered errors,
stable hashes and derived seeds."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator


class InputError(ValueError):
    """Bad input (file, line or key named in the message)."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only on success.

    A killed or failing writer leaves no file that looks finished."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Like atomic_path for a directory: build it under a temporary name, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _default(o: Any) -> Any:
    if hasattr(o, "item"):  # numpy / torch scalars
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def dumps(obj: Any, indent: int | None = 2) -> str:
    return json.dumps(obj, indent=indent, sort_keys=False, default=_default)


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(dumps(obj, indent) + "\n")


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_jsonl(path: str | os.PathLike, rows: Iterable[Any]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        for row in rows:
            f.write(json.dumps(row, default=_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"{path}:{e.lineno}: malformed JSON ({e.msg})") from None


def read_jsonl(path: str | os.PathLike, required: Iterable[str] = ()) -> list[dict]:
    """Read every line first, so a malformed line stops the caller before any work."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    required = list(required)
    rows = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{lineno}: malformed JSON line ({e.msg})") from None
            if not isinstance(row, dict):
                raise InputError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            missing = [k for k in required if k not in row]
            if missing:
                raise InputError(f"{path}:{lineno}: missing key(s) {', '.join(missing)}")
            rows.append(row)
    return rows


def read_records(path: str | os.PathLike, required: Iterable[str] = ()) -> list[dict]:
    """Records from a .jsonl file or a .json list, validated with file and line/index."""
    path = Path(path)
    if path.suffix == ".jsonl":
        return read_jsonl(path, required)
    data = read_json(path)
    if isinstance(data, dict) and "snapshots" in data:
        data = data["snapshots"]
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of records")
    required = list(required)
    for i, row in enumerate(data):
        missing = [k for k in required if not isinstance(row, dict) or k not in row]
        if missing:
            raise InputError(f"{path}: record {i}: missing key(s) {', '.join(missing)}")
    return data


def stable_hash(*parts: Any) -> str:
    """sha256 hex of the parts; stable across processes (unlike Python's salted hash)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=_default).encode())
        h.update(b"\x1f")
    return h.hexdigest()


def derive_seed(master: int, stage: str, item: Any = "") -> int:
    """Per-item seed from (master seed, stage, item id): raising N keeps earlier items."""
    return int(stable_hash(int(master), str(stage), item)[:15], 16) % (2**31 - 1)


def hash_fraction(key: str, salt: str = "") -> float:
    """Deterministic number in [0, 1) from a string (used for held-out splits)."""
    return int(hashlib.sha256(f"{salt}{key}".encode()).hexdigest()[:13], 16) / 16**13

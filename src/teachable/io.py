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


def read_text(path: str | os.PathLike) -> str:
    """A file's text, strictly UTF-8: bytes that are not stop with file:line."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a file")
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise InputError(f"{path}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x} at column {col}); "
                         "is this the right file?") from None


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    text = read_text(path)
    if not text.strip():
        raise InputError(f"{path}: file is empty (an unfinished or truncated write?)")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}:{e.lineno}: malformed JSON ({e.msg})") from None


def read_jsonl(path: str | os.PathLike, required: Iterable[str] = ()) -> list[dict]:
    """Read every line first, so a malformed line stops the caller before any work."""
    return [row for _, row in read_records_located(path, required, jsonl=True)]


def read_records_located(path: str | os.PathLike, required: Iterable[str] = (),
                         jsonl: bool | None = None) -> list[tuple[str, dict]]:
    """(where, record) pairs of a .jsonl file ('file:line') or a .json list ('file: record i'),
    each checked to be an object with the required keys."""
    path = Path(path)
    required = list(required)
    out = []
    if jsonl if jsonl is not None else path.suffix == ".jsonl":
        for lineno, line in enumerate(read_text(path).splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{where}: malformed JSON line ({e.msg})") from None
            if not isinstance(row, dict):
                raise InputError(f"{where}: expected a JSON object, got {type(row).__name__}")
            missing = [k for k in required if k not in row]
            if missing:
                raise InputError(f"{where}: missing key(s) {', '.join(missing)}")
            out.append((where, row))
        return out
    data = read_json(path)
    if isinstance(data, dict) and "snapshots" in data:
        data = data["snapshots"]
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of records")
    for i, row in enumerate(data):
        missing = [k for k in required if not isinstance(row, dict) or k not in row]
        if missing:
            raise InputError(f"{path}: record {i}: missing key(s) {', '.join(missing)}")
        out.append((f"{path}: record {i}", row))
    return out


def read_records(path: str | os.PathLike, required: Iterable[str] = ()) -> list[dict]:
    """Records from a .jsonl file or a .json list, validated with file and line/index."""
    return [row for _, row in read_records_located(path, required)]


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

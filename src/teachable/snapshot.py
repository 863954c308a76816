"""The snapshot record (docs/artifacts.md): a restorable environment state (base64 in the
`state` field) with its id, valid actions and texts. Encoding and decoding of the state,
the schema check of one record, and reading a snapshot file with every record checked.
Torch-free; evaluation, micro-training, labeling, selection and mining use it."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from .io import InputError, read_records_located

if TYPE_CHECKING:
    from .envs import TextEnv


def encode_state(state: bytes) -> str:
    return base64.b64encode(state).decode()


def decode_state(text: str) -> bytes:
    """The state bytes of a snapshot's `state` field (base64); ValueError when it is not."""
    if not isinstance(text, str) or not text:
        raise ValueError("'state' must be a non-empty base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("'state' is not valid base64") from None


def check_snapshot(s: dict, env: TextEnv | None = None) -> None:
    """Schema of one snapshot beyond its keys; ValueError says what is wrong."""
    sid = s.get("snapshot_id")
    if not isinstance(sid, str) or not sid:
        raise ValueError("'snapshot_id' must be a non-empty string")
    va = s.get("valid_actions")
    if not isinstance(va, list) or not va:
        raise ValueError(f"snapshot {sid}: 'valid_actions' must be a non-empty list")
    if not all(isinstance(a, str) and a for a in va) or len(set(va)) != len(va):
        raise ValueError(f"snapshot {sid}: 'valid_actions' must be distinct non-empty strings")
    for k in ("mission", "obs_text"):
        if k in s and not isinstance(s[k], str):
            raise ValueError(f"snapshot {sid}: '{k}' must be a string")
    if "state" in s:
        try:
            state = decode_state(s["state"])
            if env is not None:
                env.check_state(state)
        except ValueError as e:
            raise ValueError(f"snapshot {sid}: {e}") from None


def read_snapshots(path, required=("snapshot_id", "state", "valid_actions"), env_cfg: dict | None = None,
                   nonempty: bool = False) -> list[dict]:
    """Snapshot records of a .json list or .jsonl, every record checked before any work:
    keys, schema (non-empty valid_actions, a state the config's env can restore), unique
    snapshot ids; `nonempty`: no records is an error. Errors read 'file:line: what'."""
    located = read_records_located(path, required)
    if nonempty and not located:
        raise InputError(f"{path}: no snapshots (empty file); regenerate it or check the path")
    env = None
    if env_cfg is not None:
        from .envs import env_from_config

        env = env_from_config(env_cfg, expert=False)
    seen: dict[str, str] = {}
    for where, s in located:
        try:
            check_snapshot(s, env)
        except ValueError as e:
            raise InputError(f"{where}: {e}") from None
        sid = s["snapshot_id"]
        if sid in seen:
            raise InputError(f"{where}: duplicate snapshot_id '{sid}' (first at {seen[sid]})")
        seen[sid] = where
    return [s for _, s in located]

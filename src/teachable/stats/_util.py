"""Shared helpers: JSON-safe conversion and input checks."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import numpy as np

from ..io import InputError


def jsonable(obj: Any) -> Any:
    """Plain JSON types; NaN and +-inf become None (strict JSON has neither)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else None
    return obj


class JsonMixin:
    def to_dict(self) -> dict:
        return jsonable(self)


def as_1d(values: Sequence[float] | np.ndarray, label: str = "data") -> np.ndarray:
    """Finite 1-D float array, or InputError naming `label`."""
    try:
        x = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{label}: values must be numbers") from None
    if x.ndim != 1:
        raise InputError(f"{label}: expected a 1-D sequence of numbers, got shape {x.shape}")
    if x.size == 0:
        raise InputError(f"{label}: no values")
    if not np.all(np.isfinite(x)):
        bad = [i for i, v in enumerate(x) if not math.isfinite(v)]
        raise InputError(f"{label}: non-finite value(s) at position(s) {bad[:10]}")
    return x


def fnone(x: Any) -> float | None:
    """float(x), or None when x is None / NaN."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def is_constant(x: np.ndarray, rel: float = 1e-12) -> bool:
    """All values equal up to float round-off (e.g. 0.45-0.30 vs 0.48-0.33)."""
    x = np.asarray(x, dtype=float)
    return bool(x.size == 0 or np.ptp(x) <= rel * max(1.0, float(np.max(np.abs(x)))))


def rankdata(x, axis: int = -1) -> np.ndarray:
    """scipy.stats.rankdata (average ranks for ties) along `axis`. A 1-D array without NaN,
    which a cluster bootstrap ranks once a resample, goes through np.unique instead: the same
    ranks at less than half of scipy's per-call cost (benchmarks/hot_paths.py)."""
    x = np.asarray(x)
    if x.ndim != 1 or x.size == 0 or (x.dtype.kind == "f" and np.isnan(x).any()):
        from scipy import stats

        return stats.rankdata(x, axis=axis)
    _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return (ends - (counts - 1) / 2.0)[inv.reshape(-1)]

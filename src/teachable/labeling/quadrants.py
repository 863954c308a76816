"""U x L_local quadrants, depth, held-out split and structural features.

Ties: a value is *high* only if strictly above its threshold; values equal to the
threshold count as low. Leverage is coarse (multiples of 1/n), so with the median rule
many snapshots can sit exactly on the cut; the strict rule puts all of them on the low
side, which keeps 'high leverage' meaning 'more leverage than the typical snapshot'."""

from __future__ import annotations

import numpy as np

from ..io import InputError, hash_fraction
from ..vocab import QUADRANTS


def thresholds(snaps: list[dict], method: str = "median", quantile: float = 0.5,
               U_threshold: float | None = None, L_threshold: float | None = None) -> dict:
    """U and L_local cuts. L_local measures what labeling.outcome says (success or progress,
    recorded as `leverage_outcome`; docs/labeling.md)."""
    U = np.array([s["U"] for s in snaps], dtype=float)
    L = np.array([s["L_local"] for s in snaps], dtype=float)
    outcomes = sorted({s.get("label_outcome", "success") for s in snaps})
    if method == "median":
        tu, tl = float(np.median(U)), float(np.median(L))
    elif method == "quantile":
        tu, tl = float(np.quantile(U, quantile)), float(np.quantile(L, quantile))
    elif method == "manual":
        if U_threshold is None or L_threshold is None:
            raise InputError("quadrants: method 'manual' needs quadrants.U_threshold and quadrants.L_threshold")
        tu, tl = float(U_threshold), float(L_threshold)
    else:
        raise InputError(f"quadrants.method: unknown method '{method}' (median, quantile, manual)")
    return {"method": method, "quantile": quantile if method == "quantile" else None,
            "leverage_outcome": ",".join(outcomes), "U_threshold": tu, "L_threshold": tl,
            "tie_rule": "value == threshold counts as low",
            "n_at_U_threshold": int((U == tu).sum()), "n_at_L_threshold": int((L == tl).sum())}


def quadrant(u: float, l: float, th: dict) -> str:
    hu, hl = u > th["U_threshold"], l > th["L_threshold"]
    return QUADRANTS[0] if hu and hl else QUADRANTS[1] if hu else QUADRANTS[3] if hl else QUADRANTS[2]


def assign_quadrants(snaps: list[dict], th: dict) -> dict[str, int]:
    for s in snaps:
        s["quadrant"] = quadrant(s["U"], s["L_local"], th)
    return {q: sum(s["quadrant"] == q for s in snaps) for q in QUADRANTS}


def add_depth(snaps: list[dict]) -> None:
    """d_expert / d_force: steps back from a snapshot to the nearest snapshot of the same
    trajectory (at or before it) whose p_expert / p_force >= 0.5; None if none."""
    by_traj: dict[str, list[dict]] = {}
    for s in snaps:
        by_traj.setdefault(s["trajectory_id"], []).append(s)
    for group in by_traj.values():
        for s in group:
            for key, field in (("p_expert", "d_expert"), ("p_force", "d_force")):
                ok = [o["step"] for o in group if o["step"] <= s["step"] and o[key] >= 0.5]
                s[field] = s["step"] - max(ok) if ok else None
            s["n_offsets_in_trajectory"] = len(group)


def add_split(snaps: list[dict], holdout_frac: float, seed: int) -> None:
    """Held-out flag from a hash of the trajectory id (salted by the seed), so every
    snapshot of one episode lands on the same side and nothing leaks across the split."""
    for s in snaps:
        s["split_key"] = s["trajectory_id"]
        s["heldout"] = hash_fraction(s["trajectory_id"], salt=f"holdout{seed}") < holdout_frac


def structural_features(s: dict) -> dict:
    text = s["obs_text"]
    return {
        "step": s["step"], "k": s.get("k", 0), "n_valid_actions": len(s["valid_actions"]),
        "obs_words": len(text.split()), "mission_words": len(s["mission"].split()),
        "history_len": len(s["history"]), "carrying": int("carry nothing" not in text and "carry" in text),
        "is_expert_source": int(s.get("source") == "expert"),
    }

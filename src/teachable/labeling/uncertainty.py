"""Uncertainty of pi(.|s) over the valid actions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..action_dist import softmax
from ..prompts import DEFAULT_LAYOUT, build_prompt

if TYPE_CHECKING:
    from ..policy import Policy


def uncertainty_stats(p: np.ndarray, k: int = 3) -> dict:
    """U = entropy (nats); margin = 1 - (p1 - p2); topk_spread = p1 - p_k;
    effective_actions = exp(H)."""
    p = np.asarray(p, dtype=float)
    s = np.sort(p)[::-1]
    nz = p[p > 0]
    h = float(-(nz * np.log(nz)).sum())
    return {
        "U": h,
        "U_norm": h / np.log(len(p)) if len(p) > 1 else 0.0,
        "margin": float(1 - (s[0] - (s[1] if len(s) > 1 else 0.0))),
        "topk_spread": float(s[0] - s[min(k, len(s)) - 1]),
        "effective_actions": float(np.exp(h)),
    }


def student_distributions(policy: Policy, snaps: list[dict], layout: str = DEFAULT_LAYOUT) -> list[np.ndarray]:
    """pi(a|s) at each snapshot under the base prompt (no patch) in `layout` (student.prompt_layout)."""
    prompts = [build_prompt(s["mission"], s["obs_text"], s["history"], "", layout) for s in snaps]
    return [softmax(lp) for lp in policy.score(prompts, [s["valid_actions"] for s in snaps])]


def add_uncertainty(policy: Policy, snaps: list[dict], layout: str = DEFAULT_LAYOUT) -> list[dict]:
    for s, p in zip(snaps, student_distributions(policy, snaps, layout)):
        s["pi"] = dict(zip(s["valid_actions"], map(float, p)))
        s["student_greedy_action"] = s["valid_actions"][int(np.argmax(p))]
        s.update(uncertainty_stats(p))
    return snaps

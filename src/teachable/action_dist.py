"""pi over the valid actions as numbers: softmax of summed log-probabilities, and entropy.
Torch-free, so the engine (teachable.engine) and the stages that only read or mine
episodes import without torch; teachable.policy re-exports both."""

from __future__ import annotations

import numpy as np


def softmax(logp: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logp / max(temperature, 1e-8)
    z = z - z.max()
    p = np.exp(z)
    return p / p.sum()


def entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())

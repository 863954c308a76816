"""Multiple-comparison correction across a family of tests (model-vs-baseline)."""

from __future__ import annotations

import math
from typing import Sequence

from statsmodels.stats.multitest import multipletests

from ..io import InputError


def adjust_pvalues(pvalues: Sequence[float | None], alpha: float = 0.05,
                   method: str = "holm") -> dict:
    """Adjusted p-values and reject flags (statsmodels `multipletests`).

    None/NaN p-values (tests that could not run) are left out of the family and come
    back as None. method: holm (default), bonferroni, fdr_bh, ..."""
    idx = [i for i, p in enumerate(pvalues) if p is not None and not math.isnan(p)]
    for i in idx:
        if not 0 <= pvalues[i] <= 1:
            raise InputError(f"p-value {i} is {pvalues[i]}, outside [0, 1]")
    adj: list[float | None] = [None] * len(pvalues)
    rej: list[bool | None] = [None] * len(pvalues)
    if idx:
        r, p_adj, _, _ = multipletests([pvalues[i] for i in idx], alpha=alpha, method=method)
        for k, i in enumerate(idx):
            adj[i], rej[i] = float(p_adj[k]), bool(r[k])
    return {"method": method, "alpha": alpha, "m": len(idx), "p_adjusted": adj, "reject": rej}


def holm(pvalues: Sequence[float | None], alpha: float = 0.05) -> dict:
    """Holm step-down correction (controls the family-wise error rate)."""
    return adjust_pvalues(pvalues, alpha, "holm")

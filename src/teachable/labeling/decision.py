"""The labels that make decisions (docs/labeling.md, "Decision labels").

The plug-in ELP_net = max_m (p_m - p_placebo) is the max of noisy gains: under a null (every
patch equal to the placebo) its expectation is > 0, and larger where outcomes are noisier.
Ranking or picking by it therefore prefers noisy snapshots, not teachable ones. Every decision
(the CPT correlation, the predictor's target and metrics, the oracle arm, the gates) uses the
cross-fitted ELP_net_xfit instead: the route is chosen on one half of the rollouts and its gain
measured on the other, so its expectation is 0 under a null whatever the noise. The plug-in
stays in the records and tables as a column.

The decision route is the argmax of the full-sample gains gain_net_m (the route choice is
where the plug-in's bias comes from only through its *value*, which the cross-fit replaces);
ties are broken by a seeded draw per snapshot (hash of seed, snapshot id and route), not by the
fixed order demo > hint > contrast that `route_net` uses (on success labels many gains tie at
0, and the fixed order sends most of them to 'demo')."""

from __future__ import annotations

import math

from ..io import InputError, hash_fraction
from ..vocab import ROUTES

DECISION_ELP = "ELP_net_xfit"
PLUGIN_ELP = "ELP_net"
DECISION_ROUTE = "route_decision"


def decision_elp(snap: dict) -> float:
    """The snapshot's ELP_net_xfit; an error naming the snapshot where it is missing (labels
    from fewer than 2 CPT rollouts per condition cannot be cross-fitted)."""
    v = snap.get(DECISION_ELP)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        raise InputError(f"snapshot '{snap.get('snapshot_id', '?')}': no {DECISION_ELP} (the cross-fitted ELP "
                         f"every decision uses; needs labeling.n_rollouts >= 2 with the CPT): got {v!r}")
    return float(v)


def has_decision_elp(snap: dict) -> bool:
    v = snap.get(DECISION_ELP)
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


def route_gains(snap: dict) -> dict[str, float] | None:
    """{route: gain_net_route} when the record has every route's gain, else None."""
    g = {r: snap.get(f"gain_net_{r}") for r in ROUTES}
    if any(not isinstance(v, (int, float)) or isinstance(v, bool) for v in g.values()):
        return None
    return {r: float(v) for r, v in g.items()}


def seeded_best(gains: dict[str, float], key: str, seed: int, tol: float = 1e-12) -> tuple[str, int]:
    """(argmax of gains, number of routes tied at the max); a tie goes to the route with the
    smallest hash of (seed, key, route): a seeded draw, the same on every call."""
    top = max(gains.values())
    tied = [r for r in ROUTES if r in gains and gains[r] >= top - tol]
    return min(tied, key=lambda r: hash_fraction(f"{key}|{r}", salt=f"route{seed}")), len(tied)


def decision_route(snap: dict, seed: int) -> str | None:
    """The snapshot's route for decisions: argmax of its gain_net_m with a seeded tie-break;
    a record without per-route gains keeps its recorded route_net."""
    g = route_gains(snap)
    if g is None:
        r = snap.get("route_net")
        return r if r in ROUTES else None
    return seeded_best(g, str(snap.get("snapshot_id", "")), seed)[0]


def with_decision_route(snaps: list[dict], seed: int) -> list[dict]:
    """Copies of the records with DECISION_ROUTE and `route_tied` (routes tied at the max)."""
    out = []
    for s in snaps:
        g = route_gains(s)
        if g is None:
            out.append({**s, DECISION_ROUTE: decision_route(s, seed), "route_tied": None})
        else:
            r, n = seeded_best(g, str(s.get("snapshot_id", "")), seed)
            out.append({**s, DECISION_ROUTE: r, "route_tied": n})
    return out

"""Cluster bootstrap: resample independent units, not the rows that share one.

Up to three labeled snapshots share a phase-0 trajectory (k offsets 0, 2, 4 of one failure):
their labels share the trajectory's task, state and student luck, so they are not independent.
A CI over snapshots therefore resamples *trajectories* (with replacement) and keeps every
snapshot of a drawn trajectory; a CI over evaluation tasks resamples distinct task instances
(on TextWorld, distinct games). The unit is recorded as `ci_unit` beside every interval.

Snapshot ids are `{trajectory_id}_step{idx:04d}_k{k}` (phase 0); `trajectory_of` parses them,
and an id in another form is an error naming it. Percentile intervals throughout (BCa needs a
jackknife over clusters that scipy does not do). Torch-free; numpy only."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..io import InputError
from ._util import JsonMixin

_SNAP_ID = re.compile(r"^(?P<traj>.+)_step(?P<idx>\d{4,})_k(?P<k>\d+)$")
UNIT_TRAJECTORIES = "trajectories"
UNIT_SNAPSHOTS = "snapshots"


def trajectory_of(snapshot_id: str) -> str:
    """The trajectory id of `{trajectory_id}_step{idx:04d}_k{k}`."""
    m = _SNAP_ID.match(str(snapshot_id))
    if not m:
        raise InputError(f"snapshot id '{snapshot_id}' is not '{{trajectory_id}}_step{{idx:04d}}_k{{k}}': "
                         "cannot tell which trajectory it belongs to (cluster bootstrap)")
    return m.group("traj")


def clusters_of(snapshot_ids: Sequence[str]) -> np.ndarray:
    """One integer cluster label per snapshot (its trajectory)."""
    trajs = [trajectory_of(s) for s in snapshot_ids]
    names = {t: i for i, t in enumerate(dict.fromkeys(trajs))}
    return np.array([names[t] for t in trajs], dtype=int)


def cluster_indices(clusters: Sequence, b: int, seed: int) -> list[np.ndarray]:
    """b resamples of row indices: clusters drawn with replacement (as many as there are),
    every row of a drawn cluster kept (so a resample's size varies with the clusters drawn)."""
    cl = np.asarray(clusters)
    if cl.size == 0:
        raise InputError("cluster bootstrap: no rows")
    labels, inv = np.unique(cl, return_inverse=True)
    members = [np.flatnonzero(inv == i) for i in range(labels.size)]
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, labels.size, size=(b, labels.size))
    return [np.concatenate([members[j] for j in row]) for row in draws]


def cluster_weights(clusters: Sequence, b: int, seed: int) -> np.ndarray:
    """(b, n_rows) count weights of the same resamples as cluster_indices (for statistics
    that are weighted means: one matrix product instead of a loop)."""
    cl = np.asarray(clusters)
    labels, inv = np.unique(cl, return_inverse=True)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, labels.size, size=(b, labels.size))
    counts = np.stack([np.bincount(row, minlength=labels.size) for row in draws]).astype(float)
    return counts[:, inv]


@dataclass
class ClusterCI(JsonMixin):
    point: float | None
    low: float | None
    high: float | None
    n: int
    n_clusters: int
    confidence: float
    n_resamples: int
    seed: int
    ci_unit: str = UNIT_TRAJECTORIES
    method: str = "percentile"
    note: str = ""


def cluster_bootstrap(arrays: Sequence[np.ndarray], clusters: Sequence, statistic: Callable, *,
                      confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0,
                      unit: str = UNIT_TRAJECTORIES, keep_draws: bool = False):
    """Percentile CI of statistic(*arrays) (each array indexed by row), resampling clusters.
    Resamples where the statistic is undefined (NaN) are dropped and counted in the note.
    With keep_draws, returns (ClusterCI, draws)."""
    arrs = [np.asarray(a) for a in arrays]
    n = len(arrs[0])
    if any(len(a) != n for a in arrs):
        raise InputError("cluster bootstrap: arrays of different lengths")
    cl = np.asarray(clusters)
    if cl.shape != (n,):
        raise InputError(f"cluster bootstrap: need one cluster label per row ({n}), got shape {cl.shape}")
    n_cl = int(np.unique(cl).size) if n else 0
    point = float(statistic(*arrs)) if n else float("nan")
    base = dict(n=int(n), n_clusters=n_cl, confidence=confidence, n_resamples=int(n_resamples), seed=int(seed),
                ci_unit=unit)
    if n_cl < 2 or not np.isfinite(point):
        out = ClusterCI(point if np.isfinite(point) else None, None, None,
                        note="fewer than 2 clusters: no CI" if n_cl < 2 else "statistic undefined", **base)
        return (out, np.array([])) if keep_draws else out
    draws = np.array([statistic(*[a[i] for a in arrs]) for i in cluster_indices(cl, n_resamples, seed)], float)
    ok = np.isfinite(draws)
    note = "" if ok.all() else f"{int((~ok).sum())} of {draws.size} resamples undefined, dropped"
    draws = draws[ok]
    a = (1 - confidence) / 2
    lo, hi = (np.quantile(draws, [a, 1 - a]) if draws.size else (np.nan, np.nan))
    out = ClusterCI(point, float(lo), float(hi), note=note, **base)
    return (out, draws) if keep_draws else out


def snapshot_clusters(snaps: Sequence[dict]) -> np.ndarray:
    """Cluster labels (trajectories) of snapshot records: `trajectory_id` when recorded,
    else parsed from `snapshot_id`."""
    trajs = [s.get("trajectory_id") or trajectory_of(s["snapshot_id"]) for s in snaps]
    names = {t: i for i, t in enumerate(dict.fromkeys(trajs))}
    return np.array([names[t] for t in trajs], dtype=int)


# ------------------------------------------------------------- coverage simulation


def simulate_clustered(rng: np.random.Generator, n_clusters: int, cluster_size: int, mean: float,
                       sd_cluster: float, sd_within: float) -> tuple[np.ndarray, np.ndarray]:
    """Rows y = mean + c_j + e_ij with a shared cluster effect c_j ~ N(0, sd_cluster) and
    row noise e_ij ~ N(0, sd_within); returns (y, cluster label per row)."""
    c = rng.normal(0.0, sd_cluster, n_clusters)
    y = mean + np.repeat(c, cluster_size) + rng.normal(0.0, sd_within, n_clusters * cluster_size)
    return y, np.repeat(np.arange(n_clusters), cluster_size)


@dataclass
class ClusterCoverage(JsonMixin):
    n_datasets: int
    n_clusters: int
    cluster_size: int
    sd_cluster: float
    sd_within: float
    coverage_cluster: float   # cluster (trajectory) bootstrap
    coverage_rows: float      # row-level (snapshot) bootstrap, the old unit
    width_cluster: float
    width_rows: float
    n_resamples: int
    seed: int


def clustered_coverage(n_datasets: int = 300, n_clusters: int = 40, cluster_size: int = 3, sd_cluster: float = 1.0,
                       sd_within: float = 0.5, n_resamples: int = 1000, confidence: float = 0.95,
                       seed: int = 0) -> ClusterCoverage:
    """Coverage of the mean's 95% percentile CI by the cluster bootstrap and by the row-level
    bootstrap on simulate_clustered data (true mean 0)."""
    rng = np.random.default_rng(seed)
    hit_c = hit_r = 0
    wc, wr = [], []
    a = (1 - confidence) / 2
    for i in range(n_datasets):
        y, cl = simulate_clustered(rng, n_clusters, cluster_size, 0.0, sd_cluster, sd_within)
        w = cluster_weights(cl, n_resamples, seed + i)
        dc = (w @ y) / w.sum(axis=1)
        rw = np.random.default_rng(seed + i).multinomial(y.size, np.full(y.size, 1 / y.size), size=n_resamples)
        dr = (rw @ y) / y.size
        lc, hc = np.quantile(dc, [a, 1 - a])
        lr, hr = np.quantile(dr, [a, 1 - a])
        hit_c += lc <= 0 <= hc
        hit_r += lr <= 0 <= hr
        wc.append(hc - lc)
        wr.append(hr - lr)
    return ClusterCoverage(n_datasets, n_clusters, cluster_size, sd_cluster, sd_within, float(hit_c / n_datasets),
                           float(hit_r / n_datasets), float(np.mean(wc)), float(np.mean(wr)), n_resamples, seed)

#!/usr/bin/env python
"""Coverage and power on simulated data with a known effect; prints the markdown tables of
docs/statistics.md.

Two-level (seeds x tasks) paired CI on phase-3-like data (teachable.stats.hierarchical.coverage):
the percentile bootstrap, the t-interval printed beside it below 10 seeds, and the more
conservative of the two (what the gates use). `--clustered` adds the snapshot-level table:
the trajectory (cluster) bootstrap against the snapshot-level bootstrap of a mean
(teachable.stats.clustered.clustered_coverage)."""

import argparse
import itertools

from teachable.stats.clustered import clustered_coverage
from teachable.stats.hierarchical import SEED_DISTS, coverage


def _f(x) -> str:
    return "—" if x is None else f"{x:.3f}"


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--datasets", type=int, default=400)
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--tasks", type=int, default=64)
    p.add_argument("--seeds", type=int, nargs="+", default=[3, 5, 10])
    p.add_argument("--effects", type=float, nargs="+", default=[0.0, 0.1, 0.2])
    p.add_argument("--sd-seed", type=float, nargs="+", default=[0.05, 0.15])
    p.add_argument("--seed-dist", nargs="+", choices=SEED_DISTS, default=["sign"],
                   help="seed effect: sign (+-sd, the hardest case for 3 seeds) or normal (sd * N(0,1), clipped at 2 sd)")
    p.add_argument("--clustered", action="store_true", help="also the trajectory-cluster table")
    p.add_argument("--no-seeds", action="store_true", help="skip the seeds x tasks table")
    a = p.parse_args()
    if not a.no_seeds:
        print("| seeds | seed effect | tasks | true effect | sd seed | sd task effect | coverage (bootstrap) | "
              "coverage (t) | coverage (gates: more conservative) | power (gates) | mean width (bootstrap) | "
              "mean width (gates) |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for dist, s, e, sd in itertools.product(a.seed_dist, a.seeds, a.effects, a.sd_seed):
            c = coverage(a.datasets, s, a.tasks, e, sd_seed=sd, sd_task_effect=0.1, n_resamples=a.resamples, seed=0,
                         seed_dist=dist)
            print(f"| {s} | {dist} | {a.tasks} | {e} | {sd} | 0.1 | {_f(c.coverage)} | {_f(c.coverage_t)} | "
                  f"{_f(c.coverage_gate)} | {_f(c.power_gate)} | {_f(c.mean_width)} | {_f(c.mean_width_gate)} |",
                  flush=True)
    if a.clustered:
        print("\n| trajectories | snapshots per trajectory | sd trajectory | sd snapshot | coverage (trajectory bootstrap) "
              "| coverage (snapshot bootstrap) | width (trajectory) | width (snapshot) |")
        print("|---|---|---|---|---|---|---|---|")
        for n_cl, sdc in itertools.product([20, 40, 80], [0.5, 1.0]):
            c = clustered_coverage(a.datasets, n_cl, 3, sdc, 0.5, a.resamples, seed=0)
            print(f"| {n_cl} | 3 | {sdc} | 0.5 | {_f(c.coverage_cluster)} | {_f(c.coverage_rows)} | "
                  f"{_f(c.width_cluster)} | {_f(c.width_rows)} |", flush=True)


if __name__ == "__main__":
    main()

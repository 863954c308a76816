#!/usr/bin/env python
"""Coverage and power of the two-level (seeds x tasks) paired bootstrap CI on simulated
phase-3-like data with a known effect (teachable.stats.hierarchical.coverage); prints the
markdown table of docs/statistics.md."""

import argparse
import itertools

from teachable.stats.hierarchical import coverage


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--datasets", type=int, default=400)
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--tasks", type=int, default=64)
    p.add_argument("--seeds", type=int, nargs="+", default=[3, 5, 10])
    p.add_argument("--effects", type=float, nargs="+", default=[0.0, 0.1, 0.2])
    p.add_argument("--sd-seed", type=float, nargs="+", default=[0.05, 0.15])
    a = p.parse_args()
    print("| seeds | tasks | true effect | sd seed | sd task effect | coverage | power (CI excludes 0) | mean CI width |")
    print("|---|---|---|---|---|---|---|---|")
    for s, e, sd in itertools.product(a.seeds, a.effects, a.sd_seed):
        c = coverage(a.datasets, s, a.tasks, e, sd_seed=sd, sd_task_effect=0.1, n_resamples=a.resamples, seed=0)
        print(f"| {s} | {a.tasks} | {e} | {sd} | 0.1 | {c.coverage:.3f} | {c.power:.3f} | {c.mean_width:.3f} |",
              flush=True)


if __name__ == "__main__":
    main()

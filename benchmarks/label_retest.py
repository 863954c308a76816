#!/usr/bin/env python
"""Label a subset of the pilot's labeled snapshots twice, with two independent master
seeds (two processes side by side), and print per label and outcome (success; progress to
the closest approach, the default; progress to the end of the rollout): the test-retest
Spearman (and its one-sided 95% lower bound) at every n, the share of snapshots exactly on
the median cut, and the CPU cost per label.

    python benchmarks/label_retest.py --n-snapshots 60 --n-rollouts 8
    (after `make pilot`: reads results/phase1/labeled_snapshots.jsonl and results/student/base)
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial

import numpy as np

from teachable.config import load_config
from teachable.envs import env_from_config
from teachable.io import derive_seed, read_jsonl
from teachable.labeling import reliability as rel
from teachable.labeling import branches as R
from teachable.labeling.branches import label_rollouts, labels_at_n, prefix_labels
from teachable.policy import Policy
from teachable.prompts import check_student_layout, layout_of
from teachable.workflow.scripting import set_threads

LABELS = ("L_local", "L_upper", "ELP_net", "ELP_net_xfit")


def labels_at(s: dict, k: int) -> dict:
    """Success labels, progress (closest approach) labels and progress-to-the-end labels
    from the first k rollouts."""
    out = labels_at_n({**s, "label_outcome": "success"}, k)
    out.update({f"{n}_progress_end": v for n, v in prefix_labels(s["progress_end"], k, s["pi_expert"]).items()})
    return out


def label_once(args) -> tuple[list[dict], float]:
    """One labeling of `snaps` with master seed `seed` (in its own process); the progress
    to the end of each rollout is kept beside the default (closest approach)."""
    a, cfg, snaps, seed = args
    set_threads(1)
    st = cfg["student"]
    policy = Policy.load(a.student, st["adapter"], "cpu", st["batch_size"], st["prompt_format"], st["dtype"])
    ends = {}
    default = R.progress_outcomes

    def both(results, at="min"):
        ends.update(default(results, "end"))
        return default(results, at)

    R.progress_outcomes = both
    copies = [rel.fresh_copy(s) for s in snaps]
    t0 = time.process_time()
    label_rollouts(policy, partial(env_from_config, cfg["env"]), copies, a.n_rollouts, a.horizon, seed,
                   st["temperature"], st["history"], layout=layout_of(st))
    for s in copies:
        s["progress_end"] = ends[s["snapshot_id"]]
    return copies, time.process_time() - t0


def on_cut(values) -> float:
    v = np.asarray(values, float)
    return float(np.mean(v == np.median(v)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labels", default="results/phase1/labeled_snapshots.jsonl")
    ap.add_argument("--student", default="results/student/base")
    ap.add_argument("--configfile", default="config/config.yaml")
    ap.add_argument("--n-snapshots", type=int, default=60)
    ap.add_argument("--n-rollouts", type=int, default=8)
    ap.add_argument("--horizon", type=int, default=None)
    ap.add_argument("--workers", type=int, default=2, help="processes (one labeling each)")
    a = ap.parse_args()
    cfg = load_config(a.configfile)
    check_student_layout(a.student, cfg["student"])
    a.horizon = a.horizon or cfg["labeling"]["horizon"]
    snaps = rel.subset(read_jsonl(a.labels), a.n_snapshots, 0.0, cfg["seed"])
    seeds = (cfg["seed"], derive_seed(cfg["seed"], "label_reliability"))
    with ProcessPoolExecutor(a.workers) as pool:
        done = list(pool.map(label_once, [(a, cfg, snaps, sd) for sd in seeds]))
    runs, cpu = [d[0] for d in done], [d[1] for d in done]
    print(f"{len(snaps)} snapshots, horizon {a.horizon}, temperature {cfg['student']['temperature']}; "
          f"CPU-s per label {np.mean(cpu) / len(snaps):.2f} at n = {a.n_rollouts}")
    names = [f"{k}{sfx}" for sfx in ("", "_progress", "_progress_end") for k in LABELS]
    print("| n | " + " | ".join(names) + " |")
    for k in range(2, a.n_rollouts + 1, 2):
        la = [labels_at(s, k) for s in runs[0]]
        lb = [labels_at(s, k) for s in runs[1]]
        cells = []
        for name in names:
            x, y = [d.get(name) for d in la], [d.get(name) for d in lb]
            if any(v is None for v in x + y):
                cells.append("-")
                continue
            rho = rel._spearman(x, y)
            ci = rel.spearman_ci(x, y, n_resamples=999)
            cells.append("const" if rho is None else f"{rho:.2f} [{ci['low']:.2f}] cut {on_cut(x):.0%}")
        print(f"| {k} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

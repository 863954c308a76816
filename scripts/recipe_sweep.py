#!/usr/bin/env python
"""A small recipe sweep on a finished pilot (docs/training.md): for each recipe variant
(a JSON dict of training.* overrides) train the given phase-2 runs on each --seeds training seed
and evaluate them exactly as phase 3 does (task success, retention, panel) -> one JSON
line per (variant, run, seed) appended to --out. Reads the pilot's student and labels;
writes only under --work and --out.

Besides the phase-2 run ids, two controls (teachable.training.controls):
- `null_replay`, the floor: the replay set itself, i.e. BASE's own greedy actions. It
  teaches nothing new, so its retention drop is the churn that training alone causes.
- `expert_demos`, the positive control: fresh expert demonstrations on --expert-tasks tasks
  of their own. If the recipe can not improve the student on these, no run can be expected to.
- `dagger_demos`, the positive control at the student's own states: the expert's action at
  every state the student visits (sampling at student.temperature) on --expert-tasks tasks of
  their own; B2_all at scale. `dagger_shortest`: the same states, a shortest-plan action as
  the label (is the teacher, or the place, the problem?).

BASE is evaluated under the sweep's --config (cached in --work, one file per evaluation
setting), so raising eval.n_tasks there resolves smaller differences than the pilot's 64
tasks. `--summary` prints one markdown row per (variant, run) of --out: delta vs BASE, delta
vs the variant's null_replay and retention drop, with two-level (seeds x tasks) paired CIs."""

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

from teachable.workflow import scripting
from teachable.config import load_config
from teachable.evaluation import evaluate_model
from teachable.io import read_json, read_records, write_json
from teachable.policy import pick_device
from teachable.prompts import check_student_layout, layout_of
from teachable.training.controls import (DAGGER_RUN, DAGGER_SHORTEST_RUN, EXPERT_RUN, NULL_RUN, dagger_examples,
                                         expert_examples)
from teachable.training.runs import run_data
from teachable.training.replay import as_examples, build_replay
from teachable.training.sft import env_probe, train_adapter


def replay_set(cfg: dict, student: str, snaps: list[dict], cache: dict, for_null: bool = False) -> list:
    """The replay set the replay_set rule would write for this variant (built once per
    source); `for_null`: built even where the variant turns replay off (the null's data)."""
    tr = cfg["training"]
    on = for_null or tr["replay_share"] > 0
    key = (on, tr["replay_source"], tr["replay_tasks"], tr["replay_min_p"])
    if key not in cache:
        cache[key] = as_examples(build_replay(cfg, student, lambda: snaps, even_if_off=on)[0])
    return cache[key]


def main():
    p = argparse.ArgumentParser(description=__doc__)
    scripting.add(p, "config", dest="config", default="config/config.yaml",
                  help="the sweep's config file (default: config/config.yaml)")
    scripting.add(p, "results", default=None, help="a finished pilot's results/ (read only)")
    p.add_argument("--variants", help="JSON list of {name, training overrides}")
    p.add_argument("--runs", nargs="+", help="phase-2 run ids, null_replay, expert_demos, dagger_demos or dagger_shortest (see above)")
    p.add_argument("--expert-tasks", type=int, default=300, help="tasks of the expert_demos and dagger_* controls")
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="training seeds (B1_uniform is redrawn per seed)")
    p.add_argument("--work", help="adapters and the BASE record")
    scripting.add(p, "device", help="torch device for training and evaluation (default: the config's student.device)")
    scripting.add(p, "out", required=True)
    p.add_argument("--summary", action="store_true", help="only print the table of --out (two-level CIs vs BASE and vs the null)")
    a = p.parse_args()
    if a.summary:
        return summary(a.out)
    if not (a.variants and a.runs and a.results and a.work):
        p.error("--results, --work, --variants and --runs are required (unless --summary)")
    res = Path(a.results)
    snaps = read_records(res / "phase1/labeled_snapshots.jsonl", ("snapshot_id", "heldout"))
    student = str(res / "student" / "base")
    cfg0 = load_config(a.config)
    device = str(pick_device(a.device or cfg0["student"]["device"]))
    key = hashlib.sha256(json.dumps([cfg0["seed"], cfg0["env"], cfg0["eval"], cfg0["student"]],
                                    sort_keys=True).encode()).hexdigest()[:12]
    base_path = Path(a.work) / f"BASE_{key}.json"  # BASE on the sweep's own evaluation tasks
    if not base_path.exists():
        write_json(base_path, evaluate_model(student, None, cfg0, snaps, 0, device))
    base = read_json(base_path)
    replays: dict = {}
    expert, dagger = None, {}
    for var in json.loads(a.variants):
        cfg = load_config(a.config, {"training": var["training"]})
        tr, st = cfg["training"], cfg["student"]
        check_student_layout(student, st)
        for rid, seed in ((r, s) for r in a.runs for s in a.seeds):
            rep = replay_set(cfg, student, snaps, replays)
            if rid == NULL_RUN:
                examples = replay_set(cfg, student, snaps, replays, for_null=True)
                if not examples:
                    raise SystemExit(f"{NULL_RUN}: the replay set is empty (BASE solves none of its replay tasks)")
            elif rid == EXPERT_RUN:
                expert = expert or expert_examples(cfg, a.expert_tasks)  # variants change training.* only
                examples = expert
            elif rid in (DAGGER_RUN, DAGGER_SHORTEST_RUN):
                if rid not in dagger:
                    from teachable.policy import Policy

                    dagger[rid] = dagger_examples(cfg, Policy.load(student, None, device, st["batch_size"],
                                                                   st["prompt_format"], st["dtype"]), a.expert_tasks,
                                                  "shortest" if rid == DAGGER_SHORTEST_RUN else "expert")
                examples = dagger[rid]
            else:
                examples = run_data(rid, snaps, cfg["seed"], tr.get("max_samples"), st["history"], train_seed=seed,
                                    layout=layout_of(st)).examples
            out = Path(a.work) / var["name"] / rid / f"seed{seed}"
            t0 = time.perf_counter()
            r = train_adapter(student, examples, tr, seed, out / "adapter", device,
                              probe=env_probe(cfg, examples), log=lambda *_: None, replay=rep)
            ev = evaluate_model(student, str(out / "adapter"), cfg, snaps, seed, device, base)
            m = ev["metrics"]
            losses = [x["loss"] for x in r["metrics_rows"] if "loss" in x]
            probes = [{k: v for k, v in x.items() if k.startswith("probe") or k == "step"}
                      for x in r["metrics_rows"] if "loss" not in x]
            row = {"variant": var["name"], "training": var["training"], "run_id": rid, "seed": seed, "n_replay": len(rep),
                   "n_examples": r["n_examples"], "steps": r["steps"], "checkpoint": r["checkpoint"],
                   "loss_first": losses[0], "loss_last": losses[-1], "losses": [round(x, 4) for x in losses],
                   "probes": probes,
                   "task_success": m["task_success"], "delta_base": m["task_success"] - base["metrics"]["task_success"],
                   "retention": m.get("retention"), "panel_success": m["panel_success"],
                   "base_record": str(base_path), "tasks": [[int(e["item"]), int(e["success"])] for e in ev["episodes"] if e["kind"] == "task"],
                   "device": device, "wall_s": round(time.perf_counter() - t0, 1), "load_avg_1m": round(os.getloadavg()[0], 2)}
            print(json.dumps(row), flush=True)
            with open(a.out, "a") as f:
                f.write(json.dumps(row) + "\n")


def summary(out: str) -> None:
    """One markdown row per (variant, run): delta vs BASE, delta vs the variant's null_replay
    (the same recipe on BASE's own actions, same seeds) and retention drop, each a mean over
    seeds x tasks with a two-level paired bootstrap CI (teachable.stats.hierarchical: seeds
    and tasks resampled, paired by task, and by seed against the null; BASE is greedy, one
    row every seed shares)."""
    import numpy as np
    import pandas as pd

    from teachable.stats import hierarchical as hier

    rows = pd.DataFrame(read_records(out, ("variant", "run_id", "seed", "tasks", "base_record")))
    if rows["base_record"].nunique() != 1:
        raise SystemExit(f"{out}: rows evaluated against different BASE records (--config changed): "
                         f"{sorted(rows['base_record'].unique())}")
    base = read_json(rows["base_record"].iloc[0])
    items = [int(e["item"]) for e in base["episodes"] if e["kind"] == "task"]
    b = np.array([[int(e["success"]) for e in base["episodes"] if e["kind"] == "task"]], float)

    def matrix(g: pd.DataFrame) -> np.ndarray:
        return np.array([[dict(r)[i] for i in items] for r in g.sort_values("seed")["tasks"]], float)

    print(f"BASE task success {b.mean():.3f} on {b.shape[1]} tasks ({int(b.sum())} solved)\n")
    print("| variant | run | seeds | examples | steps | delta vs BASE [95% CI] | delta vs null_replay [95% CI] "
          "| retention drop [95% CI] | train acc step 0 -> kept |\n|---|---|---|---|---|---|---|---|---|")
    for (var, rid), g in rows.groupby(["variant", "run_id"], sort=False):
        x = matrix(g)
        d = hier.paired_diff(b, x, n_resamples=4000)
        null = rows[(rows.variant == var) & (rows.run_id == NULL_RUN)]
        vs_null = "n/a"
        if rid != NULL_RUN and sorted(null.seed) == sorted(g.seed):
            n = hier.paired_diff(matrix(null), x, n_resamples=4000)
            vs_null = f"{n.point:+.3f} [{fmt(n.low)}, {fmt(n.high)}]"
        drop = hier.mean_ci(1.0 - x, tasks=b[0] == 1, n_resamples=4000)
        acc0 = np.mean([r[0]["probe_train_acc"] for r in g["probes"]])
        # the kept checkpoint's train accuracy: best_probe records it; last = the final probe row
        acck = np.mean([c.get("probe_train_acc", pr[-1]["probe_train_acc"]) for c, pr in zip(g["checkpoint"], g["probes"])])
        print(f"| {var} | {rid} | {len(g)} | {g['n_examples'].iloc[0]} | {g['steps'].iloc[0]} "
              f"| {d.point:+.3f} [{fmt(d.low)}, {fmt(d.high)}] | {vs_null} "
              f"| {drop.point:.3f} [{fmt(drop.low, '.3f')}, {fmt(drop.high, '.3f')}] | {acc0:.3f} -> {acck:.3f} |")


def fmt(x, spec: str = "+.3f") -> str:
    return "n/a" if x is None else format(x, spec)


if __name__ == "__main__":
    main()

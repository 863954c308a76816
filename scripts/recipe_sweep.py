#!/usr/bin/env python
"""A small recipe sweep on a finished pilot (docs/training.md): for each recipe variant
(a JSON dict of training.* overrides) train the given phase-2 runs on each --seeds training seed
and evaluate them exactly as phase 3 does (task success, retention, panel) -> one JSON
line per (variant, run) appended to --out. Reads the pilot's student, labels and BASE
record; writes only under --work and --out.

Run id `null_replay` (besides the phase-2 run ids) is a null fine-tune: it trains on the
replay set itself, i.e. on BASE's own greedy actions, with the same recipe. It teaches
nothing new, so its retention drop is the churn that training alone causes on this
student: the floor a real run's retention drop is measured against."""

import argparse
import json
import os
import time
from pathlib import Path

from teachable.config import load_config
from teachable.evaluation import evaluate_model
from teachable.io import read_json, read_records
from teachable.prompts import check_student_layout, layout_of
from teachable.training.runs import run_data
from teachable.training.replay import as_examples, build_replay
from teachable.training.sft import env_probe, train_adapter


NULL_RUN = "null_replay"


def replay_set(cfg: dict, student: str, snaps: list[dict], cache: dict) -> list:
    """The replay set the replay_set rule would write for this variant (built once per source)."""
    tr = cfg["training"]
    key = (tr["replay_share"] > 0, tr["replay_source"], tr["replay_tasks"], tr["replay_min_p"])
    if key not in cache:
        cache[key] = as_examples(build_replay(cfg, student, lambda: snaps)[0])
    return cache[key]


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--config", default="config/config.yaml")
    p.add_argument("--results", required=True, help="a finished pilot's results/ (read only)")
    p.add_argument("--variants", required=True, help="JSON list of {name, training overrides}")
    p.add_argument("--runs", nargs="+", required=True, help="phase-2 run ids, or null_replay (see above)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="training seeds (B1_uniform is redrawn per seed)")
    p.add_argument("--work", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    res = Path(a.results)
    base = read_json(res / "phase3/runs/BASE/seed0.json")
    snaps = read_records(res / "phase1/labeled_snapshots.jsonl", ("snapshot_id", "heldout"))
    student = str(res / "student" / "base")
    replays: dict = {}
    for var in json.loads(a.variants):
        cfg = load_config(a.config, {"training": var["training"]})
        tr, st = cfg["training"], cfg["student"]
        check_student_layout(student, st)
        for rid, seed in ((r, s) for r in a.runs for s in a.seeds):
            rep = replay_set(cfg, student, snaps, replays)
            if rid == NULL_RUN and not rep:
                raise SystemExit(f"{NULL_RUN}: the variant's replay set is empty (training.replay_share 0?)")
            examples = rep if rid == NULL_RUN else \
                run_data(rid, snaps, cfg["seed"], tr.get("max_samples"), st["history"], train_seed=seed,
                         layout=layout_of(st)).examples
            out = Path(a.work) / var["name"] / rid / f"seed{seed}"
            t0 = time.perf_counter()
            r = train_adapter(student, examples, tr, seed, out / "adapter", "cpu",
                              probe=env_probe(cfg, examples), log=lambda *_: None, replay=rep)
            ev = evaluate_model(student, str(out / "adapter"), cfg, snaps, seed, "cpu", base)
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
                   "wall_s": round(time.perf_counter() - t0, 1), "load_avg_1m": round(os.getloadavg()[0], 2)}
            print(json.dumps(row), flush=True)
            with open(a.out, "a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()

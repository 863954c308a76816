"""`teachable status`: the seed x configuration matrix of training runs (phase 2) and
validation re-runs, each cell done / trained / pending, from the files under results/."""

from __future__ import annotations

import json
from pathlib import Path

from ..config import load_config
from ..workflow.scripting import add, add_config_arg
from ..vocab import RUN_IDS


def register(sub) -> None:
    p = sub.add_parser("status", help="seed x config matrix of training and validation runs (done/pending)")
    add_config_arg(p, required=False, default="config/config.yaml", dest="config",
                   help="the run's config file (YAML; default: config/config.yaml)")
    add(p, "results")
    add(p, "json", help="print JSON instead of the table")
    p.set_defaults(func=run)


def _cell(run_json: Path, eval_json: Path) -> str:
    if eval_json.exists():
        return "done"
    if run_json.exists() and json.loads(run_json.read_text()).get("status") == "done":
        return "trained"
    return "pending"


def matrix(cfg: dict, results: Path) -> dict:
    from ..validation import validation_seeds

    out = {"phase2": {}, "validation": {}}
    for rid in RUN_IDS:
        out["phase2"][rid] = {s: _cell(results / f"phase2/{rid}/seed{s}/run.json", results / f"phase3/runs/{rid}/seed{s}.json")
                              for s in cfg["training"]["seeds"]}
    sel = results / "validation/selected.json"
    if sel.exists():
        for s in json.loads(sel.read_text())["selected"]:
            d = results / "validation" / s["run_id"]
            out["validation"][s["run_id"]] = {seed: _cell(d / f"seed{seed}/run.json", d / f"seed{seed}/eval.json")
                                              for seed in validation_seeds(cfg["validation"])}
    return out


def run(args) -> int:
    cfg = load_config(args.config)
    m = matrix(cfg, Path(args.results))
    if args.json:
        print(json.dumps(m, indent=2))
        return 0
    mark = {"done": "done", "trained": "train", "pending": "."}
    for stage, rows in m.items():
        if not rows:
            print(f"{stage}: nothing selected yet (run `snakemake validate`)" if stage == "validation" else stage)
            continue
        seeds = list(next(iter(rows.values())))
        width = max(len(r) for r in rows)
        print(f"\n{stage}  ('done' = trained and evaluated, 'train' = trained only, '.' = pending)")
        print(" " * width + " " + " ".join(f"{'s' + str(s):>6}" for s in seeds))
        for rid, cells in rows.items():
            print(f"{rid:<{width}} " + " ".join(f"{mark[cells[s]]:>6}" for s in seeds))
        n_done = sum(c == "done" for cells in rows.values() for c in cells.values())
        print(f"{n_done}/{sum(len(c) for c in rows.values())} done")
    return 0

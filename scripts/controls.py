#!/usr/bin/env python
"""Teachability controls (rules/controls.smk; teachable.training.controls): with --seed, train
every run of controls.runs on one training seed with the phase-2 recipe and evaluate it on
phase 3's tasks -> one per-seed JSON (--out); with --gather, the per-seed JSONs and BASE's
phase-3 record -> controls.json and controls.csv (two-level CIs, the student_is_teachable
verdict)."""

import tempfile

import pandas as pd

from teachable.workflow import scripting
from teachable.io import atomic_path, read_json, write_json


def main():
    p = scripting.parser(__doc__)
    scripting.add(p, "student")
    p.add_argument("--base", help="BASE's phase-3 record (phase3/runs/BASE/seed0.json: retention)")
    p.add_argument("--base-episodes", help="BASE's phase-3 episodes (phase3/runs/BASE/seed0.episodes.csv; --gather)")
    scripting.add(p, "seed", help="training seed (the per-seed job)")
    p.add_argument("--replay", default=None, help="phase2/replay_set.jsonl")
    p.add_argument("--replay-info", default=None, help="phase2/replay_set.json (BASE's probe success)")
    p.add_argument("--gather", nargs="+", default=None, help="the per-seed JSONs (the gather job)")
    scripting.add(p, "out", required=True, help="per-seed JSON, or controls.json with --gather")
    p.add_argument("--csv", default=None, help="controls.csv (with --gather)")
    p.add_argument("--html", default=None, help="the report's page: the verdict and the table (with --gather)")
    args = p.parse_args()
    cfg = scripting.setup(args)
    if args.gather:
        from teachable.io import derive_seed
        from teachable.training.controls import controls_summary, teachable_html

        if not (args.csv and args.html and args.base_episodes):
            raise SystemExit("--gather needs --base-episodes, --csv and --html")
        base = pd.read_csv(args.base_episodes, dtype={"item": str}).to_dict("records")
        # the gates rule's bootstrap seed (scripts/gates.py): the same verdict as gates.json
        rep, rows = controls_summary([read_json(f) for f in args.gather], base, cfg["stats"],
                                     derive_seed(int(cfg.get("seed", 0)), "gates"))
        write_json(args.out, rep)
        with atomic_path(args.csv, suffix=".csv") as tmp:
            pd.DataFrame(rows).to_csv(tmp, index=False)
        with atomic_path(args.html, suffix=".html") as tmp:
            tmp.write_text(teachable_html(rep))
        print(rep["teachable"]["sentence"])
        return
    if args.seed is None or not args.base:
        raise SystemExit("--seed and --base, or --gather, are needed")
    base = read_json(args.base)
    from teachable.policy import pick_device
    from teachable.training.controls import run_controls
    from teachable.training.replay import read_replay
    from teachable.training.sft import read_base_probe

    student = scripting.student_path(cfg, args.student)
    replay = read_replay(args.replay) if args.replay else []
    with tempfile.TemporaryDirectory(prefix="controls") as work:  # the adapters are not kept
        out = run_controls(cfg, student, replay, args.seed, work, str(pick_device(cfg["student"]["device"])), base,
                           read_base_probe(args.replay_info))
    write_json(args.out, out)


if __name__ == "__main__":
    scripting.run(main)

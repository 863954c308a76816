"""`teachable label ...`: the phase-1 steps one at a time on a JSONL of snapshots, with the
same code as the Snakemake rules (hints, uncertainty, leverage, cpt, quadrants, plot)."""

from __future__ import annotations

import argparse
from functools import partial

from ..config import load_config
from ..io import write_jsonl

STEPS = ("hints", "uncertainty", "leverage", "cpt", "quadrants", "plot")


def register(sub) -> None:
    g = sub.add_parser("label", help="phase-1 labeling steps on a snapshots file")
    steps = g.add_subparsers(dest="step", metavar="STEP", required=True)
    for name, help_ in (
        ("hints", "teacher advice (suggested action, diagnosis...) for each snapshot"),
        ("uncertainty", "U, margin, top-k spread, effective actions under the student"),
        ("leverage", "p_policy, p_force, p_expert -> L_local, L_upper"),
        ("cpt", "contextual patch test (needs 'teacher'; includes leverage)"),
        ("quadrants", "held-out split, depth and U x L_local quadrants"),
        ("plot", "threshold plots (hist_U, hist_L, scatter_U_L)"),
    ):
        p = steps.add_parser(name, help=help_)
        p.add_argument("--in", dest="inp", required=True, help="snapshots (.jsonl or .json list)")
        p.add_argument("--config", default="config/config.yaml", help="pipeline config (YAML)")
        if name == "plot":
            p.add_argument("--out-dir", required=True)
        else:
            p.add_argument("--out", required=True, help="output JSONL")
        if name in ("uncertainty", "leverage", "cpt"):
            p.add_argument("--student", default="results/student/base", help="student model dir")
            p.add_argument("--threads", type=int, default=2)
        if name == "hints":
            p.add_argument("--cache-dir", default="results/phase1/teacher_cache")
        if name in ("quadrants", "plot"):
            p.add_argument("--method", choices=["median", "quantile", "manual"])
            p.add_argument("--U-threshold", type=float)
            p.add_argument("--L-threshold", type=float)
        p.set_defaults(func=run)


def _policy(cfg, args):
    import torch

    from ..policy import Policy
    from ..scripting import student_path

    torch.set_num_threads(args.threads)
    st = cfg["student"]
    return Policy.load(student_path(cfg, args.student), st["adapter"], st["device"], st["batch_size"],
                         st["prompt_format"], st["dtype"], st.get("max_batch_tokens", "auto"))


def _quad_cfg(cfg, args):
    q = dict(cfg["quadrants"])
    if args.method:
        q["method"] = args.method
    if args.U_threshold is not None:
        q["U_threshold"] = args.U_threshold
    if args.L_threshold is not None:
        q["L_threshold"] = args.L_threshold
    return q


def run(args: argparse.Namespace) -> int:
    from ..envs import env_from_config
    from ..labeling import branches, pipeline, quadrants, uncertainty
    from ..prompts import layout_of

    cfg = load_config(args.config)
    from ..snapshot import read_snapshots

    # every line checked before any work (keys, schema, state, unique ids; not empty)
    snaps = read_snapshots(args.inp, pipeline.SNAPSHOT_KEYS, cfg["env"], nonempty=True)
    lab, st = cfg["labeling"], cfg["student"]
    mk = partial(env_from_config, cfg["env"])
    if args.step == "hints":
        from ..teacher import make_teacher

        teacher = make_teacher(cfg["teacher"], cache_dir=args.cache_dir)
        teacher.check_ready()
        for s in snaps:
            s.setdefault("student_greedy_action", s.get("student_action") or s["valid_actions"][0])
        pipeline.ask_teacher(teacher, snaps)
    elif args.step == "uncertainty":
        uncertainty.add_uncertainty(_policy(cfg, args), snaps, layout_of(st))
    elif args.step in ("leverage", "cpt"):
        if args.step == "cpt" and any("teacher" not in s for s in snaps):
            raise SystemExit(f"{args.inp}: 'cpt' needs teacher advice: run `teachable label hints` first")
        branches.label_rollouts(_policy(cfg, args), mk, snaps, lab["n_rollouts"], lab["horizon"], cfg["seed"],
                                st["temperature"], st["history"], cpt=args.step == "cpt", progress=args.step,
                                outcome=lab["outcome"], layout=layout_of(st))
    elif args.step == "quadrants":
        snaps, th, _ = pipeline.gather([snaps], _quad_cfg(cfg, args), lab["holdout_frac"], cfg["seed"])
        print(f"thresholds U={th['U_threshold']:.4f} L={th['L_threshold']:.4f}; counts {th['counts']}")
    elif args.step == "plot":
        from ..labeling.plots import threshold_plots

        th = quadrants.thresholds(snaps, **{k: v for k, v in _quad_cfg(cfg, args).items()})
        threshold_plots(snaps, th, args.out_dir)
        print(f"plots written to {args.out_dir}")
        return 0
    write_jsonl(args.out, snaps)
    print(f"{len(snaps)} snapshots -> {args.out}")
    return 0

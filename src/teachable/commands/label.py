"""`teachable label ...`: phase-1 labeling by hand, with the rules' own code.

- `shard`, `gather`, `reliability`: the rules' stages themselves (teachable.labeling.stages:
  the same options and the same function as scripts/label_shard.py, label_gather.py and
  label_reliability.py; byte-identical outputs).
- `hints`, `uncertainty`, `leverage`, `cpt`, `quadrants`, `plot`: one step of a shard's
  labeling at a time on a JSONL of snapshots (the functions pipeline.label_shard and
  pipeline.gather are made of), to inspect or redo a single step.

Every subcommand takes the shared options of teachable.workflow.scripting (--config, --threads...),
and sets up logging, threads and the config with scripting.setup, as the scripts do."""

from __future__ import annotations

import argparse
from functools import partial

from ..workflow import scripting
from ..io import write_jsonl
from ..labeling import stages

STEPS = ("hints", "uncertainty", "leverage", "cpt", "quadrants", "plot")
DEFAULT_CONFIG = "config/config.yaml"


def _config(p) -> None:
    scripting.add_config_arg(p, required=False, default=DEFAULT_CONFIG,
                             help=f"pipeline config: a YAML file or a JSON object (default: {DEFAULT_CONFIG})")


def register(sub) -> None:
    g = sub.add_parser("label", help="phase-1 labeling: the rules' stages, or one step at a time")
    steps = g.add_subparsers(dest="step", metavar="STEP", required=True)
    for name, (args_fn, _, help_) in stages.STAGES.items():
        p = steps.add_parser(name, help=help_, description=help_)
        _config(p)
        scripting.add(p, "threads")
        args_fn(p)
        p.set_defaults(func=run_stage)
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
        _config(p)
        if name == "plot":
            scripting.add(p, "out_dir", required=True)
        else:
            scripting.add(p, "out", required=True, help="output JSONL")
        scripting.add(p, "threads", **({"default": 2} if name in ("uncertainty", "leverage", "cpt") else {}))
        if name in ("uncertainty", "leverage", "cpt"):
            scripting.add(p, "student", default="results/student/base", help="student model dir")
        if name == "hints":
            scripting.add(p, "cache_dir", default="results/phase1/teacher_cache")
        if name in ("quadrants", "plot"):
            p.add_argument("--method", choices=["median", "quantile", "manual"])
            p.add_argument("--U-threshold", type=float)
            p.add_argument("--L-threshold", type=float)
        p.set_defaults(func=run)


def run_stage(args: argparse.Namespace) -> int:
    """A rule's stage: scripting.setup, then the stage function (as scripting.run_stage)."""
    stages.STAGES[args.step][1](args, scripting.setup(args))
    return 0


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

    from ..snapshot import read_snapshots

    cfg = scripting.setup(args)

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
        uncertainty.add_uncertainty(stages.load_policy(cfg, args.student), snaps, layout_of(st))
    elif args.step in ("leverage", "cpt"):
        if args.step == "cpt" and any("teacher" not in s for s in snaps):
            raise SystemExit(f"{args.inp}: 'cpt' needs teacher advice: run `teachable label hints` first")
        branches.label_rollouts(stages.load_policy(cfg, args.student), mk, snaps, lab["n_rollouts"], lab["horizon"], cfg["seed"],
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

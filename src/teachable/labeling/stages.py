"""The phase-1 stages as the rules run them, each an `*_args(parser)` (its own options; the
common ones come from teachable.workflow.scripting) and a function of (args, cfg): `shard`
(scripts/label_shard.py), `gather` (scripts/label_gather.py) and `reliability`
(scripts/label_reliability.py). `teachable label shard|gather|reliability` builds its
parsers with the same `*_args` and calls the same functions: one path, rule or by hand."""

from __future__ import annotations

import json
import sys
import time
from functools import partial

from ..io import InputError, read_json, read_jsonl, write_json, write_jsonl
from ..workflow.scripting import add


def load_policy(cfg: dict, student: str | None):
    """The student a labeling job rolls out (scripting.student_path: the built one, or
    student.base_model), with the config's adapter, device, batch size, format and dtype."""
    from ..policy import Policy
    from ..workflow.scripting import student_path

    st = cfg["student"]
    return Policy.load(student_path(cfg, student), st["adapter"], st["device"], st["batch_size"],
                       st["prompt_format"], st["dtype"])


def shard_args(p) -> None:
    add(p, "student")
    p.add_argument("--failure", required=True, help="failure_snapshots.json (or .jsonl)")
    p.add_argument("--expert", required=True, help="snapshots_expert.json (or .jsonl)")
    p.add_argument("--shard", type=int, required=True)
    p.add_argument("--n-shards", type=int, required=True)
    add(p, "cache_dir", required=True)
    add(p, "out", required=True, help="the shard's labeled snapshots (JSONL)")
    p.add_argument("--usage", required=True, help="the shard's teacher usage (JSON)")
    p.add_argument("--flagged", required=True, help="snapshots whose teacher answer was flagged invalid")


def shard(args, cfg: dict) -> None:
    """Label one shard of the phase-0 snapshots (uncertainty, teacher advice, leverage, CPT,
    structural features) -> shard JSONL, the shard's teacher usage and its flagged snapshots."""
    from ..envs import env_from_config
    from ..prompts import layout_of
    from ..snapshot import read_snapshots
    from ..teacher import make_teacher
    from .pipeline import SNAPSHOT_KEYS, label_shard, select_snapshots, shard_of

    lab, st = cfg["labeling"], cfg["student"]
    # validate every input line and the teacher set-up before any rollout
    snaps = select_snapshots(read_snapshots(args.failure, SNAPSHOT_KEYS, cfg["env"]),
                             read_snapshots(args.expert, SNAPSHOT_KEYS, cfg["env"]),
                             lab["include_expert"], lab["max_snapshots"])
    if not snaps:
        raise InputError(f"{args.failure}, {args.expert}: no snapshots to label")
    teacher = make_teacher(cfg["teacher"], cache_dir=args.cache_dir)
    teacher.check_ready()
    mine = shard_of(snaps, args.shard, args.n_shards)
    policy = load_policy(cfg, args.student)
    try:
        labeled, flagged = label_shard(policy, partial(env_from_config, cfg["env"]), teacher, mine, lab,
                                       cfg["seed"], st["temperature"], st["history"],
                                       progress=f"label shard {args.shard}", layout=layout_of(st))
    finally:  # a failed shard still logs what its teacher calls cost
        print(f"teacher usage: {json.dumps(teacher.usage.to_dict())}", file=sys.stderr)
    write_json(args.usage, teacher.usage.to_dict())
    write_jsonl(args.flagged, flagged)
    write_jsonl(args.out, labeled)
    print(f"shard {args.shard}/{args.n_shards}: {len(labeled)} snapshots labeled, {len(flagged)} set aside "
          "(teacher answer flagged invalid)")


def gather_args(p) -> None:
    p.add_argument("--shards", nargs="+", required=True)
    p.add_argument("--usages", nargs="+", required=True)
    p.add_argument("--flagged", nargs="+", required=True)
    add(p, "out_dir", required=True, help="results/phase1")


def gather(args, cfg: dict) -> None:
    """Gather labeled shards: depth, held-out split, quadrant thresholds and counts, quantiles,
    teacher usage, metadata and threshold plots (the quadrant-balance gate is computed from
    the counts by the gates rule: teachable.gates.quadrant_balance)."""
    from ..teacher import merge_usage
    from .pipeline import gather as gather_shards, greedy_teacher_agreement
    from .plots import threshold_plots

    lab = cfg["labeling"]
    shards = [read_jsonl(f) for f in args.shards]
    snaps, th, quantiles = gather_shards(shards, cfg["quadrants"], lab["holdout_frac"], cfg["seed"])
    usage = merge_usage([read_json(f) for f in args.usages])
    flagged = [s for f in args.flagged for s in read_jsonl(f)]
    out = args.out_dir
    threshold_plots(snaps, th, f"{out}/threshold_plots")
    write_json(f"{out}/quadrant_thresholds_auto.json", th)
    write_json(f"{out}/quantiles.json", quantiles)
    write_json(f"{out}/teacher_usage.json", usage)
    write_json(f"{out}/labeling_metadata.json", {
        "n_snapshots": len(snaps), "n_set_aside_teacher_invalid": len(flagged), "n_heldout": sum(s["heldout"] for s in snaps), "seed": cfg["seed"],
        "env": cfg["env"], "student": cfg["student"], "teacher": {k: v for k, v in cfg["teacher"].items()},
        "labeling": lab, "quadrants": cfg["quadrants"], "thresholds": th, "inputs": args.shards,
        "n_values": {"policy": lab["n_rollouts"], "force": lab["n_rollouts"], "expert": 1, "cpt": lab["n_rollouts"]},
        "base_greedy_is_teacher": greedy_teacher_agreement(snaps),
        "leverage_order_share": sum(s["p_expert"] >= s["p_force"] >= s["p_policy"] for s in snaps) / max(1, len(snaps)),
    })
    write_jsonl(f"{out}/teacher_flagged.jsonl", flagged)
    write_json(f"{out}/labeled_snapshots.json", snaps, indent=None)
    write_jsonl(f"{out}/labeled_snapshots.jsonl", snaps)
    print(f"{len(snaps)} labeled snapshots; quadrants {th['counts']}; teacher calls {usage.get('calls')}")


def reliability_args(p) -> None:
    add(p, "student")
    p.add_argument("--labels", required=True, help="labeled_snapshots.jsonl")
    p.add_argument("--thresholds", required=True, help="quadrant_thresholds_auto.json")
    add(p, "out", required=True, help="label_reliability.json")


def reliability(args, cfg: dict) -> None:
    """Relabel a seeded subset of the labeled snapshots with an independent master seed ->
    label_reliability.json (test-retest Spearman, quadrant kappa, gate)."""
    from ..envs import env_from_config
    from ..prompts import layout_of
    from . import reliability as rel
    from .branches import label_rollouts

    lab, st, rcfg = cfg["labeling"], cfg["student"], cfg["labeling"]["reliability"]
    first = rel.subset(read_jsonl(args.labels), rcfg["n"], rcfg["share"], cfg["seed"])
    th = read_json(args.thresholds)
    policy = load_policy(cfg, args.student)
    again = [rel.fresh_copy(s) for s in first]
    t0 = time.time()
    label_rollouts(policy, partial(env_from_config, cfg["env"]), again, lab["n_rollouts"], lab["horizon"],
                   rel.retest_seed(cfg["seed"]), st["temperature"], st["history"], progress="label retest",
                   outcome=lab["outcome"], layout=layout_of(st))
    wall = time.time() - t0
    out = rel.report(first, again, th, {"L_local": rcfg["min_spearman_L_local"],
                                        "ELP_net": rcfg["min_spearman_ELP_net"]}, lab["n_rollouts"], lab["horizon"],
                     seed=cfg["seed"])
    out.update(retest_seed=rel.retest_seed(cfg["seed"]), seed=cfg["seed"], rollout_wall_s=wall,
               labels_per_min=60 * len(again) / wall if wall > 0 else None)
    write_json(args.out, out)
    print(f"label reliability on {out['n_snapshots']} snapshots: Spearman "
          + ", ".join(f"{k} {v:.2f}" for k, v in out["spearman"].items() if v is not None)
          + f"; quadrant kappa {out['quadrant_kappa']}")


# name -> (arguments, function, one-line help): the rules' scripts and `teachable label`
STAGES = {
    "shard": (shard_args, shard, "label one shard of the phase-0 snapshots (what rule label_shard runs)"),
    "gather": (gather_args, gather, "gather labeled shards into results/phase1 (what rule label_gather runs)"),
    "reliability": (reliability_args, reliability,
                    "test-retest relabel of a seeded subset (what rule label_reliability runs)"),
}

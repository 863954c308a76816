#!/usr/bin/env python
"""Phase 1B: micro-training of a quadrant-stratified panel of train snapshots (one model
load; a fresh zero-effect LoRA adapter per snapshot, one route-matched example, n_steps
optimizer steps, success before/after with the same sampled rollouts) ->
micro_training_results.json, or one shard of it (contiguous block of the panel)."""

import time
from functools import partial

from teachable.workflow import scripting
from teachable.envs import env_from_config
from teachable.snapshot import read_snapshots
from teachable.io import InputError, write_json
from teachable.policy import load_model_and_tokenizer, pick_device, pick_dtype
from teachable.prompts import layout_of
from teachable.workflow.provenance import collect_provenance
from teachable.workflow.sharding import block
from teachable.training.micro import MicroTrainer, micro_train_panel, select_panel

LABELED_KEYS = ("snapshot_id", "state", "mission", "obs_text", "valid_actions", "history", "teacher", "quadrant",
                "heldout", "ELP_net", "route_net", "U", "L_local")
P1B_KEYS = ("n_per_quadrant", "n_steps", "lr", "n_validation_rollouts", "lora_rank", "lora_alpha", "lora_dropout",
            "target_modules")


def main():
    p = scripting.parser(__doc__)
    scripting.add(p, "student")
    p.add_argument("--labeled", required=True, help="phase1/labeled_snapshots.jsonl")
    scripting.add(p, "out", required=True, help="phase1b/micro_training_results.json (or a shard of it)")
    p.add_argument("--shard", type=int, default=0)
    p.add_argument("--shard-size", type=int, default=None, help="panel snapshots per shard (default: all)")
    args = p.parse_args()
    cfg = scripting.setup(args)
    p1b, st = cfg["phase1b"], cfg["student"]
    missing = [k for k in P1B_KEYS if k not in p1b]
    if missing:
        raise InputError(f"phase1b: missing config key(s) {', '.join(missing)}")
    snaps = read_snapshots(args.labeled, LABELED_KEYS, cfg["env"])  # every record checked first
    seed = cfg["seed"]
    panel, info = select_panel(snaps, p1b["n_per_quadrant"], seed)
    if args.shard_size is not None:
        panel = block(panel, args.shard, args.shard_size)
    print(f"panel: {len(panel)} snapshots {info['chosen']} (available {info['available']}, "
          f"{info['n_skipped_invalid_teacher']} train snapshots skipped for an invalid teacher answer)")
    t0 = time.perf_counter()
    dev = pick_device(st["device"])
    records = []
    if panel:
        model, tok = load_model_and_tokenizer(scripting.student_path(cfg, args.student), st["adapter"], str(dev),
                                              prompt_format=st["prompt_format"], dtype=st["dtype"])
        trainer = MicroTrainer(model, tok, p1b, seed, st["batch_size"])
        records = micro_train_panel(trainer, partial(env_from_config, cfg["env"]), panel, p1b, seed,
                                    cfg["labeling"]["horizon"], st["temperature"], st["history"],
                                    outcome=cfg["labeling"]["outcome"], layout=layout_of(st))
    wall = time.perf_counter() - t0
    write_json(args.out, {
        "seed": seed, "phase1b": p1b, "horizon": cfg["labeling"]["horizon"], "temperature": st["temperature"],
        "panel": info, "shard": args.shard, "shard_size": args.shard_size, "n_snapshots": len(records), "records": records,
        "wall_time_s": round(wall, 3), "seconds_per_snapshot": round(wall / max(1, len(records)), 3),
        "device": str(dev), "dtype": str(pick_dtype(dev)).replace("torch.", ""),
        "provenance": collect_provenance(cfg, seed, str(dev)),
    })
    print(f"{len(records)} snapshots micro-trained in {wall:.1f}s")


if __name__ == "__main__":
    scripting.run(main)

#!/usr/bin/env python
"""Phase 2: one training run (run_id x seed) of the training matrix: a fresh LoRA adapter
trained by SFT on the run's train snapshots -> {out}/adapter/, run.json, metrics.jsonl.
With --eval-blocks (eval.with_training), the saved adapter's phase-3 evaluation blocks
follow in the same process (what evaluate_block.py writes)."""

from pathlib import Path

from teachable import scripting
from teachable.evaluation import write_block
from teachable.io import read_records
from teachable.policy import Policy, pick_device
from teachable.provenance import record_run
from teachable.registry.wandb_mirror import live_logger
from teachable.training.runs import check_no_heldout, run_data
from teachable.training.replay import replay_for_run
from teachable.training.sft import check_train_cfg, env_probe, read_base_probe, train_adapter

LABELED_KEYS = ("snapshot_id", "mission", "obs_text", "valid_actions", "history", "teacher", "quadrant", "heldout")


def main():
    p = scripting.parser(__doc__)
    p.add_argument("--student", default=None)
    p.add_argument("--labeled", required=True, help="phase1/labeled_snapshots.jsonl")
    p.add_argument("--replay", default=None, help="phase2/replay_set.jsonl (needed when training.replay_share > 0)")
    p.add_argument("--replay-info", default=None, help="phase2/replay_set.json (BASE's probe success for step 0)")
    p.add_argument("--run-id", required=True)
    p.add_argument("--seed", type=int, required=True, help="training seed")
    p.add_argument("--out-dir", required=True, help="phase2/{run_id}/seed{seed}")
    p.add_argument("--stage", default="phase2")
    p.add_argument("--wandb-dir", default="results/wandb", help="W&B files of live logging (tracking.wandb_live)")
    p.add_argument("--eval-blocks", nargs="+", default=[], help="phase-3 block files (block i = the i-th) of this model")
    p.add_argument("--eval-shard-size", type=int, default=None, help="episodes per block (eval.shard_size)")
    args = p.parse_args()
    cfg = scripting.setup(args)
    if args.eval_blocks and not args.eval_shard_size:
        raise SystemExit("--eval-blocks needs --eval-shard-size")
    eval_snaps = scripting.read_eval_snapshots(args, cfg) if args.eval_blocks else None
    tr, st = cfg["training"], cfg["student"]
    check_train_cfg(tr)
    snaps = read_records(args.labeled, LABELED_KEYS)
    data = run_data(args.run_id, snaps, cfg["seed"], tr.get("max_samples"), st["history"], train_seed=args.seed)
    check_no_heldout(data.snapshot_ids, snaps, args.run_id)
    replay = replay_for_run(tr, args.replay)
    out = Path(args.out_dir)
    dev = str(pick_device(st["device"]))
    run_cfg = {**cfg, "run": {"run_id": args.run_id, "seed": args.seed, "format": data.fmt,
                              "quadrant": data.quadrant, "data": data.info}}
    print(f"run {args.run_id} seed {args.seed}: {len(data.examples)} examples ({data.fmt}), "
          f"{len(data.skipped_invalid)} skipped for an invalid teacher answer")
    with record_run(out / "run.json", run_id=args.run_id, seed=args.seed, stage=args.stage, config=run_cfg,
                    device=dev, train_snapshot_ids=data.snapshot_ids) as run:
        live = live_logger(cfg.get("tracking", {}), stage=args.stage, run_id=args.run_id, seed=args.seed,
                           config=run_cfg, out_dir=args.wandb_dir)
        try:
            res = train_adapter(scripting.student_path(cfg, args.student), data.examples, tr, args.seed,
                                out / "adapter", dev, probe=env_probe(cfg, data.examples, read_base_probe(args.replay_info)),
                                metrics_path=out / "metrics.jsonl", on_row=live[0] if live else None, replay=replay)
        finally:
            if live:
                live[1]()
        run.update(n_examples=res["n_examples"], n_tokens=res["n_tokens"], adapter_path=res["adapter_path"],
                   skipped_invalid_teacher=data.skipped_invalid)
        run["metrics"] = {
            "first_loss": res["first_loss"], "final_loss": res["final_loss"], "mean_loss_last_epoch": res["mean_loss_last_epoch"],
            **{f"{k}_first": v for k, v in res["probe_first"].items()},
            **{f"{k}_final": v for k, v in res["probe_final"].items()},
        }
        run["training"] = {k: res[k] for k in ("steps", "epochs", "n_target_tokens", "n_tokens_processed",
                                               "n_trainable_params", "device", "dtype", "wall_time_s",
                                               "n_replay", "budget", "checkpoint")}
    print(f"done: {res['steps']} steps, final loss {res['final_loss']:.4f}, {res['wall_time_s']:.1f}s, "
          f"probe {res['probe_first']} -> {res['probe_final']}")
    if args.eval_blocks:  # the saved adapter, loaded as evaluate_block.py loads it
        policy = Policy.load(scripting.student_path(cfg, args.student), res["adapter_path"], dev, st["batch_size"],
                             st["prompt_format"], st["dtype"])
        for shard, path in enumerate(args.eval_blocks):
            n = write_block(path, policy, cfg, eval_snaps, shard, args.eval_shard_size, run_id=args.run_id,
                            seed=args.seed, adapter=res["adapter_path"], device=dev)
            print(f"{args.run_id} seed {args.seed} block {shard}: {n} episodes")


if __name__ == "__main__":
    scripting.run(main)

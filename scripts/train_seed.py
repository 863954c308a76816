#!/usr/bin/env python
"""Phase 2: training runs (run_id x seed) of the training matrix: per run a fresh LoRA
adapter trained by SFT on the run's train snapshots -> {out}/adapter/, run.json,
metrics.jsonl. With --eval-blocks (rule train_seed), each saved adapter's phase-3
evaluation blocks follow in the same process (what evaluate_base.py writes).

Several runs of one seed (`--run-id A B ... --out-dir dirA dirB ...`, rule train_seed)
train one after another in one process: the imports and the student's load are paid
once; each run's files are those it gets alone (tests/test_pipeline_full.py)."""

from pathlib import Path

from teachable.workflow import scripting
from teachable.evaluation import write_block
from teachable.io import read_records
from teachable.policy import Policy, pick_device
from teachable.prompts import layout_of
from teachable.workflow.provenance import record_run
from teachable.registry.wandb_mirror import live_logger
from teachable.training.runs import check_no_heldout, run_data
from teachable.training.replay import replay_for_run
from teachable.training.sft import check_train_cfg, env_probe, read_base_probe, train_adapter

LABELED_KEYS = ("snapshot_id", "mission", "obs_text", "valid_actions", "history", "teacher", "quadrant", "heldout")


def main():
    p = scripting.parser(__doc__)
    scripting.add(p, "student")
    p.add_argument("--labeled", required=True, help="phase1/labeled_snapshots.jsonl")
    p.add_argument("--replay", default=None, help="phase2/replay_set.jsonl (needed when training.replay_share > 0)")
    p.add_argument("--replay-info", default=None, help="phase2/replay_set.json (BASE's probe success for step 0)")
    p.add_argument("--run-id", required=True, nargs="+", help="one or more run ids (same seed)")
    scripting.add(p, "seed", required=True, help="training seed")
    scripting.add(p, "out_dir", required=True, nargs="+", help="phase2/{run_id}/seed{seed}, one per --run-id")
    p.add_argument("--stage", default="phase2")
    p.add_argument("--wandb-dir", default="results/wandb", help="W&B files of live logging (tracking.wandb_live)")
    p.add_argument("--eval-blocks", nargs="+", default=[],
                   help="phase-3 block files, run by run (block i of a run = its i-th); as many per run")
    p.add_argument("--eval-shard-size", type=int, default=None, help="episodes per block (eval.shard_size)")
    args = p.parse_args()
    cfg = scripting.setup(args)
    if len(args.out_dir) != len(args.run_id):
        raise SystemExit(f"--out-dir: {len(args.out_dir)} directories for {len(args.run_id)} run ids")
    if args.eval_blocks and not args.eval_shard_size:
        raise SystemExit("--eval-blocks needs --eval-shard-size")
    if len(args.eval_blocks) % len(args.run_id):
        raise SystemExit(f"--eval-blocks: {len(args.eval_blocks)} files do not split evenly over {len(args.run_id)} runs")
    per_run = len(args.eval_blocks) // len(args.run_id)
    eval_snaps = scripting.read_eval_snapshots(args, cfg) if args.eval_blocks else None
    check_train_cfg(cfg["training"])
    student = scripting.student_path(cfg, args.student)  # checks its prompt layout before any work
    snaps = read_records(args.labeled, LABELED_KEYS)
    replay = replay_for_run(cfg["training"], args.replay)
    # every run's data is checked before the first one trains
    datas = [run_data(r, snaps, cfg["seed"], cfg["training"].get("max_samples"), cfg["student"]["history"],
                      train_seed=args.seed, layout=layout_of(cfg["student"])) for r in args.run_id]
    for r, data in zip(args.run_id, datas):
        check_no_heldout(data.snapshot_ids, snaps, r)
    for i, (run_id, data) in enumerate(zip(args.run_id, datas)):
        train_one(args, cfg, student, run_id, data, Path(args.out_dir[i]), replay,
                  args.eval_blocks[i * per_run : (i + 1) * per_run], eval_snaps)


def train_one(args, cfg: dict, student: str, run_id: str, data, out: Path, replay, eval_blocks: list[str],
              eval_snaps) -> None:
    tr, st = cfg["training"], cfg["student"]
    dev = str(pick_device(st["device"]))
    run_cfg = {**cfg, "run": {"run_id": run_id, "seed": args.seed, "format": data.fmt,
                              "quadrant": data.quadrant, "data": data.info}}
    print(f"run {run_id} seed {args.seed}: {len(data.examples)} examples ({data.fmt}), "
          f"{len(data.skipped_invalid)} skipped for an invalid teacher answer")
    with record_run(out / "run.json", run_id=run_id, seed=args.seed, stage=args.stage, config=run_cfg,
                    device=dev, train_snapshot_ids=data.snapshot_ids) as run:
        live = live_logger(cfg.get("tracking", {}), stage=args.stage, run_id=run_id, seed=args.seed,
                           config=run_cfg, out_dir=args.wandb_dir)
        try:
            res = train_adapter(student, data.examples, tr, args.seed,
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
    if eval_blocks:  # the saved adapter, loaded as evaluate_base.py loads it
        policy = Policy.load(student, res["adapter_path"], dev, st["batch_size"],
                             st["prompt_format"], st["dtype"])
        for shard, path in enumerate(eval_blocks):
            n = write_block(path, policy, cfg, eval_snaps, shard, args.eval_shard_size, run_id=run_id,
                            seed=args.seed, adapter=res["adapter_path"], device=dev)
            print(f"{run_id} seed {args.seed} block {shard}: {n} episodes")


if __name__ == "__main__":
    scripting.run(main)

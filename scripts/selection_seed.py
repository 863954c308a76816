"""Phase 5: train selection arms (method x seed) with the shared SFT recipe and format on
each method's picks -> {out}/adapter/, run.json (stage "selection"), metrics.jsonl. With
--eval-out (rule selection_seed) each arm is then evaluated in the same process, like a
phase-3 run (teachable.selection.evaluate.evaluate_arm).

Several arms of one seed (`--method A B --picks pA pB --out-dir dA dB ...`, rule
selection_seed) train one after another in one process, each exactly as alone."""

from pathlib import Path

from teachable.workflow import scripting
from teachable.io import read_json, read_records
from teachable.snapshot import read_snapshots
from teachable.policy import pick_device
from teachable.selection import selection_config
from teachable.selection.evaluate import EVAL_KEYS, evaluate_arm
from teachable.selection.train import train_arm
from teachable.training.sft import read_base_probe

LABELED_KEYS = ("snapshot_id", "mission", "obs_text", "valid_actions", "history", "teacher", "heldout")


def main():
    p = scripting.parser(__doc__)
    scripting.add(p, "student")
    p.add_argument("--snapshots", required=True, help="phase1/labeled_snapshots.jsonl")
    p.add_argument("--picks", required=True, nargs="+", help="phase5/selection/{method}/picks.json, one per --method")
    p.add_argument("--replay", default=None, help="phase2/replay_set.jsonl (needed when training.replay_share > 0)")
    p.add_argument("--replay-info", default=None, help="phase2/replay_set.json (BASE's probe success for step 0)")
    p.add_argument("--method", required=True, nargs="+", help="one or more selection methods (same seed)")
    scripting.add(p, "seed", required=True, help="training seed")
    scripting.add(p, "out_dir", required=True, nargs="+", help="phase5/selection/{method}/seed{seed}, one per --method")
    p.add_argument("--base", default=None, help="BASE's phase-3 record (retention; with --eval-out)")
    p.add_argument("--eval-out", default=None, nargs="+", help="each arm's eval.json, written after training")
    p.add_argument("--eval-episodes", default=None, nargs="+", help="their per-episode rows (eval.episodes.csv)")
    args = p.parse_args()
    cfg = scripting.setup(args)
    n = len(args.method)
    for name in ("picks", "out_dir", "eval_out", "eval_episodes"):
        given = getattr(args, name)
        if given is not None and len(given) != n:
            raise SystemExit(f"--{name.replace('_', '-')}: {len(given)} values for {n} methods")
    if args.eval_out and not (args.base and args.eval_episodes):
        raise SystemExit("--eval-out needs --base (BASE's phase-3 record) and --eval-episodes")
    eval_snaps = read_snapshots(args.snapshots, EVAL_KEYS, cfg["env"]) if args.eval_out else None
    scfg = selection_config(cfg)
    snaps = read_records(args.snapshots, LABELED_KEYS)
    picks = [read_json(path) for path in args.picks]  # every input read before the first arm trains
    dev = str(pick_device(cfg["student"]["device"]))
    for i, method in enumerate(args.method):
        res = train_arm(cfg, scfg, scripting.student_path(cfg, args.student), snaps, picks[i], method, args.seed,
                        args.out_dir[i], dev, picks_path=args.picks[i], replay_path=args.replay,
                        base_probe=read_base_probe(args.replay_info))
        print(f"{method} seed {args.seed} done: {res['steps']} steps, final loss {res['final_loss']}, "
              f"{res['wall_time_s']:.1f}s")
        if args.eval_out:
            out = Path(args.out_dir[i])
            metrics = evaluate_arm(cfg, scripting.student_path(cfg, args.student), eval_snaps, str(out / "adapter"),
                                   str(out / "run.json"), args.base, method, args.seed, args.eval_out[i],
                                   args.eval_episodes[i], dev)
            print(f"selection {method} seed {args.seed}: {metrics}")


if __name__ == "__main__":
    scripting.run(main)

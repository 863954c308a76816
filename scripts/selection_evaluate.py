"""Phase 5: evaluate one selection arm (method x seed) like a phase-3 run -> eval.json
(run_id selection_{method}, seed, method, method_used, metrics)."""

from teachable import scripting
from teachable.snapshot import read_snapshots
from teachable.policy import pick_device
from teachable.selection.evaluate import EVAL_KEYS, evaluate_arm


def main():
    p = scripting.parser(__doc__)
    p.add_argument("--student", default=None)
    p.add_argument("--snapshots", required=True, help="phase1/labeled_snapshots.jsonl (panel = held-out ones)")
    p.add_argument("--adapter", required=True, help="phase5/selection/{method}/seed{seed}/adapter")
    p.add_argument("--run", required=True, help="the arm's run.json (checked: done, same method)")
    p.add_argument("--base", required=True, help="BASE's phase-3 record (retention)")
    p.add_argument("--method", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--episodes", default=None, help="per-episode rows (eval.episodes.csv) for two-level CIs")
    args = p.parse_args()
    cfg = scripting.setup(args)
    snaps = read_snapshots(args.snapshots, EVAL_KEYS, cfg["env"])  # every record checked first
    dev = str(pick_device(cfg["student"]["device"]))
    metrics = evaluate_arm(cfg, scripting.student_path(cfg, args.student), snaps, args.adapter, args.run, args.base,
                           args.method, args.seed, args.out, args.episodes, dev)
    print(f"selection {args.method} seed {args.seed}: {metrics}")


if __name__ == "__main__":
    scripting.run(main)

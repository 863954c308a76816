"""Phase 5: evaluate one selection arm (method x seed) like a phase-3 run -> eval.json
(run_id selection_{method}, seed, method, method_used, metrics)."""

from teachable import scripting
from teachable.phase0 import read_snapshots
from teachable.io import atomic_path, read_json, write_json
from teachable.policy import pick_device
from teachable.selection.evaluate import check_run, eval_record
from teachable.selection.summary import run_id_of

LABELED_KEYS = ("snapshot_id", "mission", "obs_text", "valid_actions", "history", "quadrant", "heldout", "state")


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
    run = read_json(args.run)
    check_run(run, args.method, args.seed, args.run)
    snaps = read_snapshots(args.snapshots, LABELED_KEYS, cfg["env"])  # every record checked first
    dev = str(pick_device(cfg["student"]["device"]))
    # Phase-3 evaluation of one model (teachable.evaluation, branch `evaluate`).
    from teachable.evaluation import evaluate_model

    res = evaluate_model(scripting.student_path(cfg, args.student), args.adapter, cfg, snaps, args.seed, dev,
                         read_json(args.base))
    if args.episodes:
        import pandas as pd

        rows = [{"run_id": run_id_of(args.method), "seed": args.seed, **r} for r in res["episodes"]]
        with atomic_path(args.episodes, suffix=".csv") as tmp:
            pd.DataFrame(rows).to_csv(tmp, index=False)
    write_json(args.out, eval_record(args.method, args.seed, run, res["metrics"]))
    print(f"selection {args.method} seed {args.seed}: {res['metrics']}")


if __name__ == "__main__":
    scripting.run(main)

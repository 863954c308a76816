"""Phase 5: one selection method picks `selection.budget` train snapshots -> picks.json."""

from teachable.workflow import scripting
from teachable.io import read_records, write_json
from teachable.selection import selection_config
from teachable.selection.pick import pick_for_seed

REQUIRED = ("snapshot_id", "heldout", "valid_actions")


def main():
    p = scripting.parser(__doc__)
    p.add_argument("--method", required=True, help="random | entropy | predictor | oracle")
    p.add_argument("--snapshots", required=True, help="phase1/labeled_snapshots.jsonl")
    p.add_argument("--predictor", default=None, help="phase4/predictor/model.pt (predictor method)")
    p.add_argument("--oof", default=None, help="phase4/predictor/train_oof_predictions.json (predictor method)")
    p.add_argument("--train-seed", type=int, default=None,
                   help="training seed (methods redrawn per seed: random)")
    scripting.add(p, "out", required=True, help="phase5/selection/{method}/picks.json")
    args = p.parse_args()
    cfg = scripting.setup(args)
    scfg = selection_config(cfg)
    snaps = read_records(args.snapshots, REQUIRED)
    rec = pick_for_seed(args.method, snaps, scfg["budget"], int(cfg.get("seed", 0)), args.train_seed,
                        args.predictor, args.oof, scfg["predictor_scores"])
    rec["config"] = {"selection": scfg, "seed": cfg.get("seed", 0)}
    rec["inputs"] = {"snapshots": args.snapshots, "predictor": args.predictor, "oof": args.oof}
    write_json(args.out, rec)
    d = rec["picked_summary"]

    def fmt(x):
        return "n/a" if x is None else f"{x:.3f}"

    print(f"{args.method}: picked {rec['budget']} of {rec['n_pool']} pool snapshots by {rec['scores']['score']}; "
          f"mean true ELP_net {fmt(d['mean_ELP_net'])} (pool {fmt(d['pool_mean_ELP_net'])}), "
          f"quadrants {d['quadrant_counts']}")


if __name__ == "__main__":
    scripting.run(main)

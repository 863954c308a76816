#!/usr/bin/env python
"""Phase 4: train the teachability predictor on train snapshots (heldout == false) and
evaluate it on held-out ones against entropy-only and random baselines -> model.pt,
config.json, feature_schema.json, training_result.json (+ gates)."""

from teachable.workflow import scripting
from teachable.io import read_records
from teachable.predictor import run_phase4, write_phase4

REQUIRED = ("snapshot_id", "trajectory_id", "mission", "obs_text", "features", "U", "U_norm", "margin",
            "topk_spread", "effective_actions", "L_local", "ELP_net", "ELP_net_xfit", "quadrant", "heldout")


def main():
    p = scripting.parser(__doc__)
    p.add_argument("--snapshots", required=True, help="phase1/labeled_snapshots.jsonl")
    p.add_argument("--model", required=True, help="results/phase4/predictor/model.pt")
    scripting.add(p, "out_dir", required=True, help="results/phase4")
    args = p.parse_args()
    cfg = scripting.setup(args)
    snaps = read_records(args.snapshots, REQUIRED)
    arts = run_phase4(snaps, cfg, source=args.snapshots)
    write_phase4(arts, args.model, args.out_dir)
    res = arts["result"]
    m, e = res["metrics"]["model"], res["metrics"]["entropy"]
    k = res["k_values"][0]
    print(f"predictor: {res['n_train']} train / {res['n_heldout']} held-out snapshots; "
          f"NDCG@{k} model {m[f'NDCG@{k}']} vs entropy {e[f'NDCG@{k}']}; spearman {m['spearman']}; "
          f"R2_ELP_net_xfit {m['R2_ELP_net_xfit']}")
    failed = [g["name"] for g in res["gates"] if not g["passed"]]
    scripting.exit_on_failed_gates(cfg, failed)


if __name__ == "__main__":
    scripting.run(main)

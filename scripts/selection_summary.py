"""Phase 5: summary over methods x seeds -> selection_summary.json (means, CIs, paired
differences vs the baseline, Holm, selection-order gates) and selection_comparison.csv."""

from pathlib import Path

import pandas as pd

from teachable.workflow import scripting
from teachable.io import atomic_path, read_json, write_json
from teachable.selection import selection_config, summarize


def main():
    p = scripting.parser(__doc__)
    p.add_argument("--evals", nargs="+", required=True, help="phase5/selection/{method}/seed{seed}/eval.json")
    p.add_argument("--picks", nargs="+", required=True, help="phase5/selection/{method}/picks.json")
    p.add_argument("--episodes", nargs="*", default=None,
                   help="phase5/selection/{method}/seed{seed}/eval.episodes.csv (two-level seeds x items CIs)")
    scripting.add(p, "out_dir", required=True, help="phase5/selection")
    args = p.parse_args()
    cfg = scripting.setup(args)
    scfg = selection_config(cfg)
    picks, draws = {}, {}
    for f in args.picks:
        rec = read_json(f)
        picks[rec.get("method")] = rec
        if rec.get("train_seed") is not None:  # redrawn per training seed (random)
            draws.setdefault(rec["method"], {})[str(rec["train_seed"])] = rec["snapshot_ids"]
    evals = [read_json(f) for f in args.evals]
    episodes = pd.concat([pd.read_csv(f, dtype={"item": str}) for f in args.episodes], ignore_index=True) \
        if args.episodes else None
    summary, table = summarize(evals, picks, scfg, int(cfg.get("seed", 0)), sources=args.evals, episodes=episodes,
                               min_seeds=int((cfg.get("stats") or {}).get("min_seeds", 3)))
    summary["inputs"] = {"evals": args.evals, "picks": args.picks}
    summary["per_seed_draws"] = draws
    out = Path(args.out_dir)
    with atomic_path(out / "selection_comparison.csv", suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    write_json(out / "selection_summary.json", summary)
    print(table.to_string(index=False))
    failed = [g["name"] for g in summary["gates"] if g["passed"] is False]
    scripting.exit_on_failed_gates(cfg, failed)


if __name__ == "__main__":
    scripting.run(main)

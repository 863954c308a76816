#!/usr/bin/env python
"""Peak RSS of one labeling job (scripts/label_shard.py, one process each) for a small
and a large shard, with the live-episode cap and without it (cap above the shard's episode
count). Not a timed test: numbers go to docs/cluster.md.

The snapshots are real phase-0 snapshots (failure + expert files of a finished run); a
shard larger than the run's snapshot set repeats them under new ids (each repeat is a
separate set of episodes, which is what memory depends on).

    python benchmarks/labeling_rss.py --results results --sizes 100 1000 --out rss.json
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from teachable.config import effective_config  # noqa: E402
from teachable.io import read_records, write_jsonl  # noqa: E402


def snapshot_file(results: Path, n: int, out: Path) -> Path:
    snaps = read_records(results / "phase0/failure_snapshots.json") + \
        read_records(results / "phase0/snapshots_expert.json")
    rows = []
    for i in range(n):
        s = dict(snaps[i % len(snaps)])
        s["snapshot_id"] = f"{s['snapshot_id']}_r{i // len(snaps):03d}"
        rows.append(s)
    write_jsonl(out, rows)
    return out


def peak_rss_mb(cmd: list[str], log: Path) -> tuple[float, float]:
    """Peak RSS (MB) and wall time of one child process, measured in a fresh wrapper so
    that RUSAGE_CHILDREN covers exactly that child."""
    code = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
            f"rc = subprocess.call({cmd!r}, stdout=open({str(log)!r}, 'w'), stderr=subprocess.STDOUT); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, time.perf_counter() - t, rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    if out[2] != "0":
        raise SystemExit(f"labeling job failed (exit {out[2]}); see {log}")
    return float(out[0]), float(out[1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default="results", help="a finished run's results/ (phase0 + student)")
    ap.add_argument("--configfile", default="config/config.yaml")
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--cap", type=int, default=256, help="student.max_live_episodes of the capped runs")
    ap.add_argument("--n-rollouts", type=int, default=1, help="labeling.n_rollouts (small: keeps it minutes)")
    ap.add_argument("--horizon", type=int, default=4, help="labeling.horizon")
    ap.add_argument("--uncapped", action="store_true", help="also run each size with no effective cap")
    ap.add_argument("--out", default=None, help="write the numbers as JSON here")
    args = ap.parse_args()
    results = Path(args.results).resolve()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        empty = tmp / "none.jsonl"
        empty.write_text("")
        for n in args.sizes:
            snaps = snapshot_file(results, n, tmp / f"snaps{n}.jsonl")
            for cap in [args.cap] + ([10**9] if args.uncapped else []):
                cfg = effective_config([args.configfile], {
                    "labeling": {"n_rollouts": args.n_rollouts, "horizon": args.horizon, "max_snapshots": None},
                    "student": {"max_live_episodes": cap}})
                d = tmp / f"out{n}_{cap}"
                d.mkdir()
                cmd = [sys.executable, str(ROOT / "scripts/label_shard.py"), "--cfg", json.dumps(cfg),
                       "--student", str(results / "student/base"), "--failure", str(snaps), "--expert", str(empty),
                       "--shard", "0", "--n-shards", "1", "--cache-dir", str(d / "cache"),
                       "--out", str(d / "labels.jsonl"), "--usage", str(d / "usage.json"),
                       "--flagged", str(d / "flagged.jsonl")]
                rss, wall = peak_rss_mb(cmd, tmp / f"log{n}_{cap}.txt")
                row = {"snapshots": n, "max_live_episodes": cap if cap < 10**9 else None, "peak_rss_mb": round(rss, 1),
                       "wall_s": round(wall, 1), "n_rollouts": args.n_rollouts, "horizon": args.horizon}
                rows.append(row)
                print(json.dumps(row), flush=True)
    capped = [r for r in rows if r["max_live_episodes"] is not None]
    summary = {"rows": rows, "ratio_largest_to_smallest_capped": round(capped[-1]["peak_rss_mb"] /
                                                                       capped[0]["peak_rss_mb"], 3),
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    print(json.dumps(summary))
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()

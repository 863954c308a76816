#!/usr/bin/env python
"""Per-stage times of a finished Snakemake run, from its log (.snakemake/log/*.snakemake.log)
and the jobs' benchmark files: for each rule the job count, the span from its first job's
start to its last job's end, the summed job wall time and the summed CPU time (where the
rule has a `benchmark:` file). Prints a Markdown table (docs/results.md).

    python benchmarks/stage_times.py [.snakemake/log/<run>.snakemake.log]   # default: newest
"""

import argparse
import re
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
START = re.compile(r"^(?:local)?rule (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
BENCH = re.compile(r"^\s+benchmark: (\S+)$")
DONE = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")


def parse(log: Path) -> pd.DataFrame:
    jobs, now, pending = {}, None, None
    for line in log.read_text().splitlines():
        if m := STAMP.match(line):
            now = datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y")
        elif m := START.match(line):
            pending = {"rule": m.group(1), "start": now, "benchmark": None}
        elif pending is not None and (m := BENCH.match(line)):
            pending["benchmark"] = m.group(1)
        elif pending is not None and (m := JOBID.match(line)):
            jobs[int(m.group(1))] = pending
        elif m := DONE.match(line):
            jobs[int(m.group(1))]["end"] = now
    rows = []
    for j in jobs.values():
        if "end" not in j:
            continue
        cpu = None
        if j["benchmark"] and Path(j["benchmark"]).exists():
            cpu = float(pd.read_csv(j["benchmark"], sep="\t")["cpu_time"].iloc[-1])
        rows.append({"rule": j["rule"], "start": j["start"], "end": j["end"], "cpu_s": cpu,
                     "wall_s": (j["end"] - j["start"]).total_seconds()})
    return pd.DataFrame(rows)


def table(df: pd.DataFrame) -> str:
    t0 = df["start"].min()
    g = df.groupby("rule").agg(jobs=("rule", "size"), first=("start", "min"), last=("end", "max"),
                               job_wall_s=("wall_s", "sum"), cpu_s=("cpu_s", lambda x: x.sum(min_count=1)))
    g = g.sort_values("first")
    lines = ["| rule | jobs | start → end (min after start) | summed job wall (s) | CPU (s) |",
             "|---|---:|---|---:|---:|"]
    for rule, r in g.iterrows():
        span = f"{(r['first'] - t0).total_seconds() / 60:.1f} → {(r['last'] - t0).total_seconds() / 60:.1f}"
        cpu = "" if pd.isna(r["cpu_s"]) else f"{r['cpu_s']:,.0f}"
        lines.append(f"| {rule} | {r['jobs']} | {span} | {r['job_wall_s']:,.0f} | {cpu} |")
    total = (df["end"].max() - t0).total_seconds()
    lines.append(f"\n{len(df)} jobs; first job start to last job end: {total / 60:.1f} min; "
                 f"CPU of benchmarked jobs: {df['cpu_s'].sum():,.0f} s")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("log", nargs="?", help="a Snakemake log (default: the newest in .snakemake/log)")
    a = p.parse_args()
    log = Path(a.log) if a.log else max(Path(".snakemake/log").glob("*.snakemake.log"), key=lambda f: f.stat().st_mtime)
    df = parse(log)
    if df.empty:
        sys.exit(f"error: {log}: no finished job found")
    print(f"log: {log}\n")
    print(table(df))


if __name__ == "__main__":
    main()

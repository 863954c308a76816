"""benchmarks/stage_times.py reads a Snakemake log into per-rule times (docs/results.md)."""

import importlib.util
from pathlib import Path

LOG = """Building DAG of jobs...
[Wed Dec  2 06:06:43 2026]
localrule build_student:
    output: results/student/base
    log: results/logs/build_student.log
    jobid: 1
    benchmark: {bench}
[Wed Dec  2 06:09:30 2026]
Finished jobid: 1 (Rule: build_student)
[Wed Dec  2 06:09:30 2026]
rule mining_rollouts:
    jobid: 4
[Wed Dec  2 06:09:31 2026]
rule mining_rollouts:
    jobid: 3
[Wed Dec  2 06:09:45 2026]
Finished jobid: 4 (Rule: mining_rollouts)
[Wed Dec  2 06:09:59 2026]
Finished jobid: 3 (Rule: mining_rollouts)
[Wed Dec  2 06:10:00 2026]
rule label_shard:
    jobid: 7
"""


def test_stage_times_from_a_log(tmp_path):
    spec = importlib.util.spec_from_file_location("stage_times", Path(__file__).parents[1] / "benchmarks/stage_times.py")
    st = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(st)
    bench = tmp_path / "b.tsv"
    bench.write_text("s\th:m:s\tmax_rss\tcpu_time\n166.6\t0:02:46\t795.9\t308.85\n")
    log = tmp_path / "run.snakemake.log"
    log.write_text(LOG.format(bench=bench))
    df = st.parse(log)
    assert sorted(df["rule"]) == ["build_student", "mining_rollouts", "mining_rollouts"]  # unfinished job left out
    out = st.table(df)
    assert "| build_student | 1 | 0.0 → 2.8 | 167 | 309 |" in out
    assert "| mining_rollouts | 2 | 2.8 → 3.3 | 43 |  |" in out
    assert "3 jobs; first job start to last job end: 3.3 min" in out

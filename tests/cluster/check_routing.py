"""Verify a Snakemake run on SLURM from SLURM's own records, and compare two output trees.

    python tests/cluster/check_routing.py routing --workdir RUN_DIR [--profile ...]
    python tests/cluster/check_routing.py compare LOCAL_DIR SLURM_DIR [--path results]

`routing` reads, for the jobs of one Snakemake working directory:
  * the per-job records that the test cluster's slurmd epilog writes (tests/cluster/
    slurm_up.sh): SLURM's view of each job - SLURM_JOB_COMMENT (the plugin sets it to
    ``rule_<rule>[_wildcards_<wc>]``), SLURM_JOB_PARTITION, SLURM_JOB_GPUS,
    CUDA_VISIBLE_DEVICES, SLURM_JOB_WORK_DIR, exit code;
  * the job-completion log (jobcomp/filetxt): final JobState, ExitCode, Account;
  * ``.snakemake/slurm_logs/rule_<rule>/.../<jobid>.log``: the jobs Snakemake submitted.
It checks that every job of a GPU rule (a rule given ``gpu`` in the profile's
set-resources) ran in the GPU partition with a GPU allocated, that every other job ran in
the CPU partition without one, that all jobs COMPLETED with exit code 0, and prints a
table of jobs by rule and partition. Exit status 1 on any failure, with one line each.

`compare` hashes every file under the given paths of two run directories (minus an
exclude regex for logs/benchmarks) and reports files that are missing or differ.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yte

DEFAULT_RECORD_DIR = "/var/log/slurm/teachable"
DEFAULT_EXCLUDE = r"(^|/)(logs?|benchmarks?|\.snakemake)(/|$)"


@dataclass
class Job:
    """One SLURM job as SLURM recorded it."""

    jobid: str
    rule: str
    wildcards: str = ""
    partition: str = ""
    gpus: str = ""  # SLURM_JOB_GPUS: allocated GPU indices, "" when none
    cuda_visible_devices: str = ""
    workdir: str = ""
    state: str = ""  # from jobcomp; "" when the jobcomp log has no line for the job
    exit_code: str = ""
    account: str = ""
    env: dict = field(default_factory=dict)


def parse_comment(comment: str) -> tuple[str, str]:
    """``rule_<rule>_wildcards_<wc>`` (the plugin's --comment) -> (rule, wildcards)."""
    if not comment.startswith("rule_"):
        return "", ""
    body = comment[len("rule_"):]
    rule, _, wildcards = body.partition("_wildcards_")
    return rule, wildcards


def read_env_record(path: Path) -> dict[str, str]:
    """Read one epilog record (``KEY=VALUE`` lines)."""
    env = {}
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path}:{lineno}: expected KEY=VALUE, got {line!r}")
        env[key] = value
    return env


_JOBCOMP_FIELD = re.compile(r"(\w+)=(\S*)")


def read_jobcomp(path: Path) -> dict[str, dict[str, str]]:
    """Parse a jobcomp/filetxt log: JobId -> {field: value} (last line per job wins)."""
    jobs: dict[str, dict[str, str]] = {}
    if not path.exists():
        return jobs
    for line in path.read_text().splitlines():
        fields = dict(_JOBCOMP_FIELD.findall(line))
        if "JobId" in fields:
            jobs[fields["JobId"]] = fields
    return jobs


def submitted_jobs(workdir: Path) -> dict[str, str]:
    """SLURM job ids Snakemake submitted (from .snakemake/slurm_logs) -> rule name."""
    logdir = workdir / ".snakemake" / "slurm_logs"
    out = {}
    for log in logdir.glob("rule_*/**/*.log"):
        rule_dir = log.relative_to(logdir).parts[0]
        if log.stem.isdigit():
            out[log.stem] = rule_dir[len("rule_"):]
    return out


def gpu_rules_from_profile(profile: Path) -> set[str]:
    """Rules that the profile's set-resources gives a GPU (``gpu`` or ``gres: gpu:...``)."""
    # render like Snakemake does (YTE when the profile sets __use_yte__: true)
    with profile.open() as f:
        cfg = yte.process_yaml(f, require_use_yte=True) or {}
    gpu_rules = set()
    for rule, res in (cfg.get("set-resources") or {}).items():
        res = res or {}
        gres = str(res.get("gres", ""))
        if str(res.get("gpu", "0")) not in ("0", "") or gres.startswith("gpu"):
            gpu_rules.add(rule)
    return gpu_rules


def collect_jobs(workdir: Path, record_dir: Path, wait_s: float = 15.0) -> tuple[list[Job], list[str]]:
    """Jobs of one working directory from SLURM's records; waits briefly for late epilogs."""
    workdir = workdir.resolve()
    errors: list[str] = []
    submitted = submitted_jobs(workdir)
    deadline = time.monotonic() + wait_s
    while True:
        records = {}
        for path in record_dir.glob("job_*.env"):
            env = read_env_record(path)
            if Path(env.get("SLURM_JOB_WORK_DIR", "/nonexistent")).resolve() == workdir:
                records[env.get("SLURM_JOB_ID", path.stem[4:])] = env
        missing = sorted(set(submitted) - set(records), key=int)
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    for jobid in missing:
        errors.append(f"job {jobid} (rule {submitted[jobid]}) was submitted but SLURM has no "
                      f"epilog record {record_dir}/job_{jobid}.env")
    jobcomp = read_jobcomp(record_dir / "jobcomp.log")
    jobs = []
    for jobid, env in sorted(records.items(), key=lambda kv: int(kv[0])):
        rule, wildcards = parse_comment(env.get("SLURM_JOB_COMMENT", ""))
        if not rule:
            errors.append(f"job {jobid}: no Snakemake rule in SLURM_JOB_COMMENT "
                          f"{env.get('SLURM_JOB_COMMENT', '')!r}")
        if jobid in submitted and submitted[jobid] != rule:
            errors.append(f"job {jobid}: Snakemake log says rule {submitted[jobid]}, "
                          f"SLURM comment says {rule}")
        comp = jobcomp.get(jobid, {})
        jobs.append(Job(
            jobid=jobid, rule=rule, wildcards=wildcards,
            partition=env.get("SLURM_JOB_PARTITION", ""),
            gpus=env.get("SLURM_JOB_GPUS", ""),
            cuda_visible_devices=env.get("CUDA_VISIBLE_DEVICES", ""),
            workdir=env.get("SLURM_JOB_WORK_DIR", ""),
            state=comp.get("JobState", ""),
            exit_code=comp.get("ExitCode", env.get("SLURM_JOB_EXIT_CODE2", "")),
            account=comp.get("Account", env.get("SLURM_JOB_ACCOUNT", "")),
            env=env,
        ))
    return jobs, errors


def check_jobs(jobs: list[Job], gpu_rules: set[str], gpu_partition: str, cpu_partition: str,
               require_rules: set[str] = frozenset(), expect_account: str | None = None,
               require_both: bool = True) -> list[str]:
    """Routing errors (empty list: all good)."""
    errors = []
    if not jobs:
        return ["no SLURM jobs found for this working directory"]
    for j in jobs:
        name = f"job {j.jobid} ({j.rule}{'[' + j.wildcards + ']' if j.wildcards else ''})"
        if j.rule in gpu_rules:
            if j.partition != gpu_partition:
                errors.append(f"{name}: GPU rule ran in partition {j.partition!r}, "
                              f"expected {gpu_partition!r}")
            if not j.gpus or not j.cuda_visible_devices:
                errors.append(f"{name}: GPU rule got no GPU (SLURM_JOB_GPUS={j.gpus!r}, "
                              f"CUDA_VISIBLE_DEVICES={j.cuda_visible_devices!r})")
        else:
            if j.partition != cpu_partition:
                errors.append(f"{name}: CPU rule ran in partition {j.partition!r}, "
                              f"expected {cpu_partition!r}")
            if j.gpus or j.cuda_visible_devices:
                errors.append(f"{name}: CPU rule was given a GPU (SLURM_JOB_GPUS={j.gpus!r})")
        if j.state != "COMPLETED" or j.exit_code not in ("0:0", "0"):
            errors.append(f"{name}: state {j.state or 'unknown'!r}, exit code {j.exit_code!r}")
        if expect_account is not None and j.account != expect_account:
            errors.append(f"{name}: account {j.account!r}, expected {expect_account!r}")
    ran = {j.rule for j in jobs}
    for rule in sorted(require_rules - ran):
        errors.append(f"required rule {rule} has no SLURM job")
    if require_both:
        parts = {j.partition for j in jobs}
        for p in (cpu_partition, gpu_partition):
            if p not in parts:
                errors.append(f"no job ran in partition {p!r}: the run does not exercise routing")
    return errors


def check_job_records(paths: list[Path], jobs: list[Job], gpu_rules: set[str]) -> list[str]:
    """Cross-check JSON records written by the rules' own processes (optional).

    Each record holds the SLURM_JOB_ID and CUDA_VISIBLE_DEVICES its process saw; this
    proves the GPU allocation reached the rule's process (what torch would see).
    """
    import json

    by_id = {j.jobid: j for j in jobs}
    errors = []
    if not paths:
        return ["no job records matched --job-records"]
    for path in paths:
        rec = json.loads(path.read_text())
        job = by_id.get(str(rec.get("SLURM_JOB_ID", "")))
        if job is None:
            errors.append(f"{path}: SLURM_JOB_ID {rec.get('SLURM_JOB_ID')!r} is not a job of this run")
            continue
        seen = rec.get("CUDA_VISIBLE_DEVICES", "")
        if seen != job.cuda_visible_devices:
            errors.append(f"{path}: process saw CUDA_VISIBLE_DEVICES={seen!r}, SLURM allocated "
                          f"{job.cuda_visible_devices!r} (job {job.jobid}, rule {job.rule})")
        if job.rule in gpu_rules and not seen:
            errors.append(f"{path}: GPU rule {job.rule} ran without CUDA_VISIBLE_DEVICES")
    return errors


def format_table(jobs: list[Job], gpu_rules: set[str]) -> str:
    """Jobs grouped by rule, then totals by partition."""
    by_rule: dict[str, list[Job]] = defaultdict(list)
    for j in jobs:
        by_rule[j.rule].append(j)
    header = ("rule", "kind", "jobs", "partition", "GPU jobs", "CUDA_VISIBLE_DEVICES", "states")
    rows = []
    for rule in sorted(by_rule):
        js = by_rule[rule]
        rows.append((
            rule, "gpu" if rule in gpu_rules else "cpu", str(len(js)),
            ",".join(sorted({j.partition for j in js})),
            str(sum(1 for j in js if j.gpus)),
            ",".join(sorted({j.cuda_visible_devices or "-" for j in js})),
            ",".join(f"{s}x{n}" for s, n in sorted(Counter(j.state or "?" for j in js).items())),
        ))
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header] + rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    totals = Counter(j.partition for j in jobs)
    lines.append("")
    lines.append("jobs by partition: " + ", ".join(f"{p}={n}" for p, n in sorted(totals.items()))
                 + f" (total {len(jobs)})")
    return "\n".join(lines)


def tree_hashes(root: Path, paths: list[str], exclude: str) -> dict[str, str]:
    """relative path -> sha256 of every file under root/<path> not matching exclude."""
    pat = re.compile(exclude) if exclude else None
    out = {}
    for p in paths:
        base = root / p
        files = [base] if base.is_file() else sorted(f for f in base.rglob("*") if f.is_file())
        for f in files:
            rel = f.relative_to(root).as_posix()
            if pat and pat.search(rel):
                continue
            out[rel] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def compare_trees(a: Path, b: Path, paths: list[str], exclude: str) -> tuple[int, list[str]]:
    """(number of files compared, differences) between two run directories."""
    ha, hb = tree_hashes(a, paths, exclude), tree_hashes(b, paths, exclude)
    diffs = [f"only in {a}: {k}" for k in sorted(ha.keys() - hb.keys())]
    diffs += [f"only in {b}: {k}" for k in sorted(hb.keys() - ha.keys())]
    diffs += [f"differs: {k}" for k in sorted(ha.keys() & hb.keys()) if ha[k] != hb[k]]
    if not ha and not hb:
        diffs.append(f"no files under {paths} in either directory: nothing was compared")
    return len(ha.keys() | hb.keys()), diffs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("routing", help="check where the jobs of a SLURM run ran")
    r.add_argument("--workdir", type=Path, required=True, help="Snakemake working directory of the run")
    r.add_argument("--record-dir", type=Path, default=Path(os.environ.get("SLURM_TEST_RECORD_DIR", DEFAULT_RECORD_DIR)))
    r.add_argument("--profile", type=Path, default=Path(__file__).resolve().parents[2] / "profiles/slurm/config.yaml",
                   help="profile whose set-resources names the GPU rules")
    r.add_argument("--gpu-partition", default=os.environ.get("TEACHABLE_SLURM_GPU_PARTITION", "gpu"))
    r.add_argument("--cpu-partition", default=os.environ.get("TEACHABLE_SLURM_CPU_PARTITION", "cpu"))
    r.add_argument("--require-rules", default="", help="comma-separated rules that must have run on SLURM")
    r.add_argument("--expect-account", default=None)
    r.add_argument("--job-records", default=None,
                   help="glob (relative to --workdir) of JSON env records written by the rules")
    r.add_argument("--wait", type=float, default=15.0, help="seconds to wait for late epilog records")
    c = sub.add_parser("compare", help="compare the outputs of two run directories by sha256")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    c.add_argument("--path", action="append", default=None, help="relative path to compare (repeatable) [results]")
    c.add_argument("--exclude", default=DEFAULT_EXCLUDE, help=f"regex on relative paths to skip [{DEFAULT_EXCLUDE}]")
    args = ap.parse_args(argv)

    if args.cmd == "routing":
        if not args.record_dir.is_dir():
            print(f"check_routing: record dir {args.record_dir} does not exist "
                  "(is this the cluster of tests/cluster/slurm_up.sh?)", file=sys.stderr)
            return 1
        gpu_rules = gpu_rules_from_profile(args.profile)
        jobs, errors = collect_jobs(args.workdir, args.record_dir, args.wait)
        require = {x.strip() for x in args.require_rules.split(",") if x.strip()}
        errors += check_jobs(jobs, gpu_rules, args.gpu_partition, args.cpu_partition, require,
                             args.expect_account)
        print(format_table(jobs, gpu_rules))
        if args.job_records:
            records = sorted(args.workdir.glob(args.job_records))
            errors += check_job_records(records, jobs, gpu_rules)
            print(f"rule-written job records cross-checked: {len(records)}")
    else:
        n, errors = compare_trees(args.a, args.b, args.path or ["results"], args.exclude)
        print(f"compared {n} files under {', '.join(args.path or ['results'])}: "
              f"{'identical' if not errors else f'{len(errors)} difference(s)'}")
    for e in errors:
        print(f"FAIL: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

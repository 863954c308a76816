"""Cluster harness: profiles/slurm, the test overlay, and tests/cluster/check_routing.py.

Fast tests need no SLURM (profile parsing, a Snakemake dry run, the checker on synthetic
SLURM records). The real end-to-end run (installs and starts SLURM, root on Debian) is
`tests/cluster/run_cluster_test.sh`; it runs here only with TEACHABLE_TEST_SLURM=1.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from snakemake.profiles import ProfileConfigFileParser

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "tests" / "cluster"
sys.path.insert(0, str(CLUSTER))
import check_routing as cr  # noqa: E402

SLURM_PROFILE = ROOT / "profiles" / "slurm" / "config.yaml"
OVERLAY = CLUSTER / "profile" / "config.yaml"
def _model_rules() -> set[str]:
    """Every rule of the workflow that declares gpu=MODEL_GPU (read from rules/*.smk)."""
    import re

    found, derived = set(), {}
    for f in (Path(__file__).resolve().parents[1] / "rules").glob("*.smk"):
        text = f.read_text()
        for block in re.split(r"\n(?=\s*(?:rule|checkpoint) )", text):
            m = re.match(r"\s*(?:rule|checkpoint) (\w+):", block)
            if m and "gpu=MODEL_GPU" in block:
                found.add(m.group(1))
        # `use rule A as B with:` inherits A's resources (gpu included)
        derived.update({b: a for a, b in re.findall(r"^\s*use rule (\w+) as (\w+)", text, re.M)})
    return found | {b for b, a in derived.items() if a in found}


MODEL_RULES = _model_rules()
ENV_VARS = ("TEACHABLE_SLURM_CPU_PARTITION", "TEACHABLE_SLURM_GPU_PARTITION",
            "TEACHABLE_SLURM_ACCOUNT", "TEACHABLE_SLURM_JOBS")


def parse_profile(path: Path) -> dict:
    """The profile as Snakemake turns it into command-line values."""
    with path.open() as f:
        return dict(ProfileConfigFileParser().parse(f))


@pytest.fixture
def clean_env(monkeypatch):
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def set_resources(parsed: dict) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for item in parsed["set-resources"]:
        rule, _, kv = item.partition(":")
        key, _, value = kv.partition("=")
        out.setdefault(rule, {})[key] = value
    return out


def test_slurm_profile_routes_model_rules_to_gpu(clean_env):
    parsed = parse_profile(SLURM_PROFILE)
    assert parsed["executor"] == "slurm"
    assert int(parsed["jobs"]) == 100
    assert "slurm_partition=cpu" in parsed["default-resources"]
    res = set_resources(parsed)
    assert set(res) == MODEL_RULES
    for rule, r in res.items():
        assert r == {"slurm_partition": "gpu", "gpu": "1"}, rule


def test_slurm_profile_names_come_from_environment(clean_env):
    clean_env.setenv("TEACHABLE_SLURM_CPU_PARTITION", "short")
    clean_env.setenv("TEACHABLE_SLURM_GPU_PARTITION", "a100")
    clean_env.setenv("TEACHABLE_SLURM_ACCOUNT", "proj42")
    clean_env.setenv("TEACHABLE_SLURM_JOBS", "7")
    parsed = parse_profile(SLURM_PROFILE)
    assert "slurm_partition=short" in parsed["default-resources"]
    assert "slurm_account=proj42" in parsed["default-resources"]
    assert int(parsed["jobs"]) == 7
    assert {r["slurm_partition"] for r in set_resources(parsed).values()} == {"a100"}


def test_overlay_and_default_profile_cannot_clobber_routing():
    # a later --profile (and the auto-loaded workflow profile profiles/default) replaces
    # whole top-level keys: they must not carry the keys that hold the routing
    routing_keys = {"executor", "default-resources", "set-resources"}
    overlay = parse_profile(OVERLAY)
    assert not routing_keys & overlay.keys()
    assert overlay["slurm-status-command"] == "squeue"
    default = ROOT / "profiles" / "default" / "config.yaml"
    if default.exists():
        assert not (routing_keys | {"jobs"}) & parse_profile(default).keys(), \
            f"{default} sets keys that override profiles/slurm for every cluster run"


def test_checker_reads_gpu_rules_from_profile(clean_env):
    assert cr.gpu_rules_from_profile(SLURM_PROFILE) == MODEL_RULES


def test_dry_run_resources_per_rule(clean_env, tmp_path):
    """Snakemake itself resolves the profiles: GPU partition + gpu=1 for train_seed only."""
    wf = tmp_path / "wf"
    shutil.copytree(CLUSTER / "standin", wf)
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--profile", str(SLURM_PROFILE),
         "--profile", str(OVERLAY)],
        cwd=wf, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout + out.stderr
    blocks = re.findall(r"^(?:local)?rule (\w+):\n(.*?)(?=^\S|\Z)", text, re.S | re.M)
    res = {}
    for rule, body in blocks:
        m = re.search(r"resources: (.*)", body)
        res.setdefault(rule, set()).add(m.group(1) if m else "")
    assert all("slurm_partition=gpu" in r and "gpu=1" in r for r in res["train_seed"])
    assert all("slurm_partition=cpu" in r and "gpu=" not in r for r in res["prepare_shard"])


# --- checker on synthetic SLURM records -------------------------------------------------

def write_record(record_dir: Path, jobid: int, workdir: Path, comment: str, partition: str,
                 gpus: str = "", state: str = "COMPLETED", exit_code: str = "0:0") -> None:
    lines = [f"SLURM_JOB_ID={jobid}", f"SLURM_JOB_COMMENT={comment}",
             f"SLURM_JOB_PARTITION={partition}", f"SLURM_JOB_WORK_DIR={workdir}"]
    if gpus:
        lines += [f"SLURM_JOB_GPUS={gpus}", f"CUDA_VISIBLE_DEVICES={gpus}"]
    (record_dir / f"job_{jobid}.env").write_text("\n".join(lines) + "\n")
    with (record_dir / "jobcomp.log").open("a") as f:
        f.write(f"JobId={jobid} UserId=root(0) Name=x JobState={state} Partition={partition} "
                f"WorkDir={workdir} Account=teachable ExitCode={exit_code} \n")


def submit_log(workdir: Path, rule: str, wildcards: str, jobid: int) -> None:
    d = workdir / ".snakemake" / "slurm_logs" / f"rule_{rule}" / wildcards
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{jobid}.log").write_text("log\n")


@pytest.fixture
def run(tmp_path):
    wd, rec = tmp_path / "run", tmp_path / "records"
    wd.mkdir()
    rec.mkdir()
    return wd, rec


def test_checker_accepts_correct_routing(run):
    wd, rec = run
    write_record(rec, 1, wd, "rule_prepare_shard_wildcards_0", "cpu")
    write_record(rec, 2, wd, "rule_train_seed_wildcards_0", "gpu", gpus="0")
    write_record(rec, 3, wd.parent, "rule_train_seed_wildcards_0", "cpu")  # another run
    submit_log(wd, "prepare_shard", "0", 1)
    submit_log(wd, "train_seed", "0", 2)
    jobs, errors = cr.collect_jobs(wd, rec, wait_s=0)
    assert errors == [] and [j.jobid for j in jobs] == ["1", "2"]
    assert cr.check_jobs(jobs, {"train_seed"}, "gpu", "cpu", {"train_seed"}, "teachable") == []
    table = cr.format_table(jobs, {"train_seed"})
    assert "jobs by partition: cpu=1, gpu=1 (total 2)" in table


def test_checker_flags_misrouting_missing_gpu_and_failures(run):
    wd, rec = run
    write_record(rec, 1, wd, "rule_prepare_shard_wildcards_0", "cpu", gpus="0")  # GPU on CPU rule
    write_record(rec, 2, wd, "rule_train_seed_wildcards_0", "cpu")  # wrong partition, no GPU
    write_record(rec, 3, wd, "rule_train_seed_wildcards_1", "gpu", gpus="1", state="FAILED",
                 exit_code="1:0")
    submit_log(wd, "train_seed", "2", 4)  # submitted, but SLURM never recorded it
    jobs, errors = cr.collect_jobs(wd, rec, wait_s=0)
    errors += cr.check_jobs(jobs, {"train_seed"}, "gpu", "cpu", {"label_shard"})
    text = "\n".join(errors)
    assert "job 4 (rule train_seed) was submitted but SLURM has no epilog record" in text
    assert "job 1 (prepare_shard[0]): CPU rule was given a GPU" in text
    assert "job 2 (train_seed[0]): GPU rule ran in partition 'cpu'" in text
    assert "job 2 (train_seed[0]): GPU rule got no GPU" in text
    assert "job 3 (train_seed[1]): state 'FAILED', exit code '1:0'" in text
    assert "required rule label_shard has no SLURM job" in text


def test_checker_requires_both_partitions(run):
    wd, rec = run
    write_record(rec, 1, wd, "rule_prepare_shard", "cpu")
    jobs, _ = cr.collect_jobs(wd, rec, wait_s=0)
    assert any("no job ran in partition 'gpu'" in e
               for e in cr.check_jobs(jobs, {"train_seed"}, "gpu", "cpu"))
    assert cr.check_jobs([], {"train_seed"}, "gpu", "cpu") == [
        "no SLURM jobs found for this working directory"]


def test_parse_comment_keeps_underscores_in_rule_names():
    assert cr.parse_comment("rule_mining_rollouts_wildcards_3") == ("mining_rollouts", "3")
    assert cr.parse_comment("rule_build_student") == ("build_student", "")
    assert cr.parse_comment("something else") == ("", "")


def test_malformed_record_names_file_and_line(tmp_path):
    p = tmp_path / "job_1.env"
    p.write_text("SLURM_JOB_ID=1\nnot a pair\n")
    with pytest.raises(ValueError, match=r"job_1.env:2: expected KEY=VALUE"):
        cr.read_env_record(p)


def test_compare_trees(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        (d / "results" / "logs").mkdir(parents=True)
        (d / "results" / "x.json").write_text("{}\n")
    (a / "results" / "logs" / "r.log").write_text("local\n")
    (b / "results" / "logs" / "r.log").write_text("slurm\n")
    n, diffs = cr.compare_trees(a, b, ["results"], cr.DEFAULT_EXCLUDE)
    assert (n, diffs) == (1, [])
    (b / "results" / "x.json").write_text("{ }\n")
    (b / "results" / "y.json").write_text("{}\n")
    n, diffs = cr.compare_trees(a, b, ["results"], cr.DEFAULT_EXCLUDE)
    assert diffs == [f"only in {b}: results/y.json", "differs: results/x.json"]
    _, diffs = cr.compare_trees(a, b, ["nothing"], "")
    assert "nothing was compared" in diffs[0]


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("TEACHABLE_TEST_SLURM") != "1" or os.geteuid() != 0,
                    reason="installs and starts SLURM: set TEACHABLE_TEST_SLURM=1, run as root")
def test_cluster_end_to_end():
    out = subprocess.run([str(CLUSTER / "run_cluster_test.sh")], capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "PASS" in out.stdout

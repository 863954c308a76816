"""Crash and resume (docs/troubleshooting.md).

- A stale lock left by `kill -9` is cleared by `make pilot`'s first step (teachable.workflow.locks)
  only when no Snakemake process works on the directory; a second invocation next to a live
  run is still refused by Snakemake.
- Kill-and-resume: the mock-config DAG (a target subset: phases 0, 1, 4 and one phase-2
  run, which writes an adapter and the predictor's model.pt) is killed with SIGKILL at a
  random job boundary, resumed with the steps of docs/troubleshooting.md, and every JSON/CSV/JSONL (plus the
  model files) is compared with an uninterrupted run, timing fields excluded by name."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import MOCK_CONFIG, ROOT, SNAKEMAKE, copy_workflow, snakemake
from teachable.workflow import locks

CFG = "tests/data/config_mock.yaml"
# fields that are wall-clock timings or timestamps by name (their values differ run to run)
TIMING = re.compile(r"(^|_)(wall|time|times|seconds|secs|elapsed|duration|timestamp|started|finished|"
                    r"created|collected|date|runtime|throughput|per_s|per_sec|s_per)($|_)|_s$|_sec$|_ms$|_at(_utc)?$")


def _run_id() -> str:
    from teachable.training.runs import RUN_IDS

    return RUN_IDS[0]


def targets() -> list[str]:
    return ["results/phase1/labeled_snapshots.jsonl", "results/phase0/state_restore_check.json",
            "results/phase4/predictor/model.pt", f"results/phase2/{_run_id()}/seed0/run.json"]


def _env(wd: Path) -> dict:
    return {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src"),
            "HOME": str(wd)}


def _start(wd: Path, log: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([SNAKEMAKE, *args], cwd=wd, env=_env(wd), stdout=open(log, "w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def _kill(p: subprocess.Popen) -> None:
    os.killpg(p.pid, signal.SIGKILL)  # the run and every job it started, as a crash would
    p.wait()


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if not TIMING.search(k.lower())}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _digest(path: Path) -> str:
    if path.suffix == ".json":
        data = _strip(json.loads(path.read_text()))
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    if path.suffix == ".jsonl":
        rows = [json.dumps(_strip(json.loads(ln)), sort_keys=True) for ln in path.read_text().splitlines() if ln]
        return hashlib.sha256("\n".join(rows).encode()).hexdigest()
    if path.suffix == ".csv":
        lines = path.read_text().splitlines()
        if lines:
            head = lines[0].split(",")
            keep = [i for i, h in enumerate(head) if not TIMING.search(h.strip().lower())]
            lines = [",".join(c for i, c in enumerate(ln.split(",")) if i in keep) for ln in lines]
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()  # model.pt, safetensors, adapter files: bytes


def _field_diff(a: Path, b: Path) -> str:
    """Where two differing JSON files differ (for the failure message)."""
    if a.suffix != ".json":
        return f"{a.name}: bytes differ"
    out = []

    def walk(x, y, where):
        if isinstance(x, dict) and isinstance(y, dict):
            for k in sorted(set(x) | set(y)):
                walk(x.get(k), y.get(k), f"{where}.{k}")
        elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
            for i, (u, v) in enumerate(zip(x, y)):
                walk(u, v, f"{where}[{i}]")
        elif x != y:
            out.append(f"{a.name}{where}: {str(x)[:80]} != {str(y)[:80]}")

    walk(_strip(json.loads(a.read_text())), _strip(json.loads(b.read_text())), "")
    return "\n".join(out[:10])


def artifacts(wd: Path) -> dict[str, str]:
    out = {}
    for p in sorted((wd / "results").rglob("*")):
        rel = p.relative_to(wd).as_posix()
        if not p.is_file() or re.search(r"(^|/)(logs?|benchmarks?)/", rel) or p.name.startswith("."):
            continue
        if p.suffix in (".json", ".jsonl", ".csv", ".pt", ".safetensors"):
            out[rel] = _digest(p)
    return out


def _wait_for_lock(wd: Path, p: subprocess.Popen, timeout=300) -> None:
    t0 = time.time()
    while not locks.has_lock(wd):
        assert p.poll() is None, "the run ended before it took its lock"
        assert time.time() - t0 < timeout
        time.sleep(0.2)


def test_snakemake_process_detection():
    assert locks._is_snakemake(["/x/.venv/bin/snakemake", "--cores", "2"])
    assert locks._is_snakemake(["/usr/bin/python3.11", "/x/bin/snakemake", "-n"])
    assert locks._is_snakemake(["python", "-m", "snakemake", "-n"])
    assert not locks._is_snakemake(["python", "scripts/train_seed.py", "--cfg", "snakemake"])
    assert not locks._is_snakemake(["bash", "-c", "snakemake"])


@pytest.mark.slow
def test_stale_lock_cleared_only_without_a_live_run(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    target = "results/phase0/rollouts.json"
    p = _start(wd, tmp_path / "run1.log", target, "--configfile", CFG, "--cores", "1")
    try:
        _wait_for_lock(wd, p)
        # a live run: its lock stays, and a second invocation is refused by Snakemake
        assert locks.running_snakemake(wd) == [p.pid]
        assert locks.clear_stale_lock(wd, SNAKEMAKE) == "running" and locks.has_lock(wd)
        second = snakemake(wd, target, "--configfile", CFG, "--cores", "1", check=False)
        assert second.returncode != 0
        assert "Directory cannot be locked" in second.stdout + second.stderr
    finally:
        _kill(p)
    # killed: the lock is stale; without the clearing step Snakemake refuses ...
    assert locks.has_lock(wd) and locks.running_snakemake(wd) == []
    stuck = snakemake(wd, target, "--configfile", CFG, "--cores", "1", check=False)
    assert stuck.returncode != 0 and "Directory cannot be locked" in stuck.stdout + stuck.stderr
    # ... and `make pilot`'s first step clears it, so the rerun finishes
    r = subprocess.run([sys.executable, "-m", "teachable.workflow.locks", "--snakemake", SNAKEMAKE], cwd=wd,
                       env=_env(wd), capture_output=True, text=True)
    assert r.returncode == 0 and "cleared a stale Snakemake lock" in r.stderr
    assert not locks.has_lock(wd)
    snakemake(wd, target, "--configfile", CFG, "--cores", "1")
    assert (wd / target).exists()
    assert locks.clear_stale_lock(wd, SNAKEMAKE) == "none"


@pytest.mark.slow
def test_kill_at_a_random_job_boundary_then_resume_is_byte_identical(tmp_path):
    seed = int(os.environ.get("TEACHABLE_KILL_SEED", random.randrange(10**6)))
    rng = random.Random(seed)
    ref = copy_workflow(tmp_path / "ref")
    snakemake(ref, *targets(), "--configfile", CFG, "--cores", "2")
    n_jobs = len(re.findall(r"Finished job", (ref / ".snakemake" / "log").glob("*.log").__next__().read_text()))
    assert n_jobs >= 6
    k = rng.randrange(1, n_jobs - 1)  # kill right after the k-th job finished (others may be mid-way)

    wd = copy_workflow(tmp_path / "killed")
    log = tmp_path / "killed.log"
    p = _start(wd, log, *targets(), "--configfile", CFG, "--cores", "2")
    t0 = time.time()
    while len(re.findall(r"Finished job", log.read_text())) < k:
        assert p.poll() is None, f"finished before job {k} (seed {seed}):\n{log.read_text()[-3000:]}"
        assert time.time() - t0 < 900
        time.sleep(0.05)
    _kill(p)
    assert locks.has_lock(wd), "a killed run leaves its lock"
    # resume as `make pilot` does: clear the stale lock, run again
    assert locks.clear_stale_lock(wd, SNAKEMAKE) == "cleared"
    snakemake(wd, *targets(), "--configfile", CFG, "--cores", "2")

    a, b = artifacts(ref), artifacts(wd)
    assert sorted(a) == sorted(b), f"seed {seed}, k={k}"
    differ = [f for f in a if a[f] != b[f]]
    assert not differ, (f"differ after kill at job {k}/{n_jobs} (TEACHABLE_KILL_SEED={seed}): {differ}\n"
                        + "\n".join(_field_diff(ref / f, wd / f) for f in differ))
    assert any(f.endswith("adapter_config.json") for f in a) and any(f.endswith("model.pt") for f in a)
    assert len(a) >= 15

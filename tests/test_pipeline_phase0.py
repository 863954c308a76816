"""Real Snakemake runs of the foundation DAG on the mock env, in a temp copy."""

import hashlib

import pytest

from conftest import copy_workflow, ran_workflow, snakemake

pytestmark = pytest.mark.slow
CFG = "tests/data/config_mock.yaml"
PHASE0 = ["rollouts.json", "failure_snapshots.json", "snapshots_expert.json", "state_restore_check.json"]
TARGETS = [f"results/phase0/{n}" for n in PHASE0] + ["results/phase0/expert_trajectories"]


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def wf(tmp_path_factory):
    return ran_workflow(tmp_path_factory, "wf", CFG, *TARGETS)


def test_phase0_artifacts_and_nothing_to_do(wf):
    for name in PHASE0:
        assert (wf / "results/phase0" / name).stat().st_size > 0
    assert (wf / "results/student/base/config.json").exists()
    assert any((wf / "results/phase0/expert_trajectories").iterdir())
    dry = snakemake(wf, *TARGETS, "--configfile", CFG, "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr


def test_param_change_reruns_phase0_only(wf):
    dry = snakemake(wf, *TARGETS, "--configfile", CFG, "-n", "--config", "phase0={'n_tasks': 30}")
    out = dry.stdout + dry.stderr
    assert "mining_rollouts" in out and "build_student" not in out


def test_same_seed_identical_artifacts(wf, tmp_path):
    wd2 = copy_workflow(tmp_path)
    snakemake(wd2, "results/phase0/failure_snapshots.json", "--configfile", CFG, "--cores", "2")
    for name in ("rollouts.json", "failure_snapshots.json"):
        assert digest(wf / "results/phase0" / name) == digest(wd2 / "results/phase0" / name)


def test_bad_config_key_stops_the_run(tmp_path):
    wd = copy_workflow(tmp_path)
    (wd / "bad.yaml").write_text("phase0:\n  n_taskz: 3\n")
    p = snakemake(wd, "--configfile", CFG, "bad.yaml", "-n", check=False)
    assert p.returncode != 0 and "unknown config key 'phase0.n_taskz'" in p.stdout + p.stderr


def test_malformed_snapshot_file_names_file_and_line(wf, tmp_path):
    import subprocess, sys, json

    bad = tmp_path / "snaps.jsonl"
    good = json.loads((wf / "results/phase0/failure_snapshots.json").read_text())[0]
    bad.write_text(json.dumps(good) + "\n{not json}\n")
    p = subprocess.run([sys.executable, str(wf / "scripts/mining_restore_check.py"), "--cfg", str(wf / CFG),
                        "--snapshots", str(bad), "--out", str(tmp_path / "out.json")],
                       capture_output=True, text=True, cwd=wf)
    assert p.returncode == 2 and f"{bad}:2: malformed JSON" in p.stderr
    assert not (tmp_path / "out.json").exists()

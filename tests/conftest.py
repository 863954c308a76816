import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MOCK_CONFIG = ROOT / "tests" / "data" / "config_mock.yaml"
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def copy_workflow(dst: Path) -> Path:
    """A copy of the workflow (Snakefile, rules, scripts, config, envs, profiles) in dst."""
    for name in ("Snakefile", "rules", "scripts", "src", "config", "envs", "profiles", "report", "tests/data"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst / name)
    return dst


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src"),
           "HOME": str(workdir)}
    p = subprocess.run([SNAKEMAKE, *args], cwd=workdir, capture_output=True, text=True, env=env)
    if check and p.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
    return p


def ran_workflow(tmp_path_factory, name: str, config: str, *targets: str) -> Path:
    """A fresh copy of the workflow in which `targets` (all when none) were built, for real."""
    wd = copy_workflow(tmp_path_factory.mktemp(name))
    snakemake(wd, *targets, "--configfile", config, "--cores", "2")
    return wd


@pytest.fixture(scope="session")
def mock_student(tmp_path_factory):
    """A tiny bootstrap student trained on the mock env (seconds)."""
    from functools import partial

    from teachable.config import load_config
    from teachable.envs import env_from_config
    from teachable.student import bootstrap_student

    cfg = load_config(MOCK_CONFIG)
    out = tmp_path_factory.mktemp("student") / "base"
    bootstrap_student(partial(env_from_config, cfg["env"]), cfg["bootstrap"], 0, str(out),
                      cfg["student"]["history"], cfg["env"]["max_steps"], log=lambda *_: None)
    return str(out)


TW_FAMILIES = ["coin5", "treasure1", "simple", "cooking1"]


@pytest.fixture(scope="session")
def tw_games(tmp_path_factory):
    """TextWorld games of four families (2 task games + 1 eval game each; ~1 min on 2 cores)."""
    from teachable.envs.textworld_games import generate_games

    out = tmp_path_factory.mktemp("tw") / "games"
    env_cfg = {"families": TW_FAMILIES, "textworld": {"n_task_games": 2, "n_eval_games": 1}}
    generate_games(env_cfg, 0, str(out), log=lambda *_: None)
    return out


@pytest.fixture
def tw_env_cfg(tw_games):
    return {"name": "textworld", "families": TW_FAMILIES, "max_steps": 30,
            "textworld": {"games_dir": str(tw_games), "n_task_games": 2, "n_eval_games": 1}}

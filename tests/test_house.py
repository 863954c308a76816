"""The house rules: pinned environment, installed schema, logging/CLI conventions, the one
`figure` rule's table, no matplotlib backend at import, live W&B logging with stable ids."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock-cpu.txt"


def _lock() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"{LOCK}: not a pin: {line!r}"
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def _requirements(extra: str | None = None) -> list[Requirement]:
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = proj["dependencies"] + (proj["optional-dependencies"][extra] if extra else [])
    return [Requirement(r) for r in reqs]


# ------------------------------------------------------------------ environment


def test_lock_satisfies_every_floor_of_pyproject():
    pins = _lock()
    assert "torch" not in pins, "torch is chosen by TORCH_SPEC, not the lock"
    for req in _requirements("dev"):
        name = req.name.lower().replace("_", "-")
        if name == "torch":
            continue
        assert name in pins, f"{name} is a dependency but not pinned in {LOCK.name} (run make lock)"
        assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} violates {req}"


def test_the_venv_was_installed_from_the_lock():
    """make setup installs with -c requirements/lock-cpu.txt: the installed versions are the pins."""
    if os.environ.get("TEACHABLE_UNLOCKED"):
        pytest.skip("installed without the lock (make setup LOCK=)")
    off = {}
    for name, version in _lock().items():
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # a platform-only dependency
        if have != version:
            off[name] = (have, version)
    assert not off, f"installed != locked (installed, locked): {off}"


def test_the_locked_set_is_consistent():
    """`pip check`: every installed (locked) package's own requirements are met by the other
    pins, so the lock is an installable set and not just a list of versions."""
    r = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    # textworld's wheel carries a platform tag pip check does not recognise (as pip installs
    # it; uv's install passes): that is not a conflict between pins
    ok = ("is not supported on this platform", "No broken requirements found")
    problems = [line for line in r.stdout.splitlines() if line.strip() and not any(o in line for o in ok)]
    assert not problems, r.stdout


def test_floors_cover_the_apis_the_code_uses():
    floors = {r.name: r for r in _requirements()}
    assert not floors["scipy"].specifier.contains("1.14.1")  # bootstrap(rng=) is scipy 1.15
    assert not floors["transformers"].specifier.contains("4.55.0")  # dtype=, logits_to_keep
    conda = (ROOT / "envs" / "teachable.yaml").read_text()
    for name in ("tabulate", "scipy>=1.15", "transformers>=4.56", "minigrid", "openai"):
        assert name in conda, f"envs/teachable.yaml lacks {name}"


@pytest.mark.slow
def test_non_editable_install_validates_configs(tmp_path):
    """A wheel-style install (no source tree next to it) ships the schema as package data."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(ROOT)], check=True, capture_output=True)
    assert (target / "teachable" / "schema.yaml").is_file()
    assert not (target / "teachable" / "schema.yaml").is_symlink()
    code = ("import sys, teachable.config as c, yaml; "
            "assert 'site' in c.__file__, c.__file__; "
            "cfg = yaml.safe_load(open(sys.argv[1])); c.validate_config(cfg, source='cfg'); "
            "assert cfg['tracking']['wandb_live'] is False; "
            "bad = dict(cfg, no_such_key=1)\n"
            "try:\n c.validate_config(bad, source='cfg')\nexcept c.InputError as e:\n print('rejected', e)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([sys.executable, "-c", code, str(ROOT / "config" / "config.yaml")], cwd=tmp_path,
                       env={**env, "PYTHONPATH": str(target)}, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "rejected" in r.stdout and "no_such_key" in r.stdout


def test_installed_schema_is_config_schema():
    from importlib.resources import files

    from teachable.config import load_schema

    assert files("teachable").joinpath("schema.yaml").read_text() == (ROOT / "config/schema.yaml").read_text()
    assert load_schema() == load_schema(ROOT / "config/schema.yaml")


def test_provenance_records_result_shaping_libraries():
    from teachable.workflow.provenance import library_versions

    v = library_versions()
    for name in ("minigrid", "gymnasium", "openai", "transformers", "torch", "scipy"):
        assert v[name] == metadata.version(name)
    assert "textworld" not in v or v["textworld"]  # optional: present only when installed
    assert "no-such-lib" not in library_versions(names=(), optional=("no-such-lib",))


def test_run_json_records_result_shaping_libraries(tmp_path):
    from teachable.workflow.provenance import record_run

    with record_run(tmp_path / "run.json", run_id="B2_all", seed=0, stage="phase2", config={"seed": 0}):
        pass
    import json

    versions = json.loads((tmp_path / "run.json").read_text())["provenance"]["versions"]
    for name in ("minigrid", "gymnasium", "openai", "transformers", "peft", "torch", "scipy", "teachable"):
        assert versions[name] == metadata.version(name), name
    try:
        assert versions["textworld"] == metadata.version("textworld")
    except metadata.PackageNotFoundError:
        assert "textworld" not in versions


# ------------------------------------------------------------------ conventions


def test_teachable_version_and_verbosity(capsys):
    from teachable.cli import main

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"teachable {metadata.version('teachable')}"
    r = subprocess.run([sys.executable, "-m", "teachable.cli", "-q", "runs", "stats", "--results", "/nonexistent"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "error:" in r.stderr


def test_logging_levels_and_timestamps(capsys):
    import logging

    from teachable.workflow import logs

    logs.configure(-1)
    logging.getLogger("teachable.x").info("hidden")
    logging.getLogger("teachable.x").warning("shown")
    logs.configure(1)
    logging.getLogger("teachable.x").debug("debug line")
    err = capsys.readouterr().err
    assert "hidden" not in err and "shown" in err and "debug line" in err
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d WARNING teachable.x: shown$", err, re.M), err
    logs.configure(0)


def test_one_config_flag_with_the_old_spelling_hidden(capsys):
    from teachable.workflow import scripting

    p = scripting.parser("x")
    assert p.parse_args(["--config", "{}"]).cfg == "{}"
    assert p.parse_args(["--cfg", "{}"]).cfg == "{}"  # rules' shell lines
    assert "--cfg" not in p.format_help() and "--config" in p.format_help()
    with pytest.raises(SystemExit):
        p.parse_args([])
    assert "--config" in capsys.readouterr().err
    assert p.parse_args(["--config", "{}", "-v"]).verbosity == 1


def test_importing_figures_leaves_the_backend_alone():
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    code = ("import matplotlib; import teachable.figures; "
            "print(matplotlib.rcParams._get_backend_or_none())")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "None"


def test_figure_table_matches_functions_and_captions():
    import inspect

    from teachable.figures import FIGURES
    from teachable.workflow.dag import FIGURE_CATEGORIES, FIGURE_INPUTS
    from teachable.vocab import FIGURE_NAMES

    assert tuple(FIGURE_INPUTS) == tuple(FIGURES) == tuple(FIGURE_CATEGORIES) == FIGURE_NAMES
    captions = (ROOT / "report" / "figure.rst").read_text()
    for name, (fn, args) in FIGURES.items():
        assert tuple(FIGURE_INPUTS[name]) == args
        assert list(inspect.signature(fn).parameters)[: len(args)] == list(args)
        assert f'snakemake.wildcards.name == "{name}"' in captions
    analysis = (ROOT / "rules" / "analysis.smk").read_text()
    assert "rule fig_" not in analysis and "rule figure:" in analysis


def test_no_path_outside_the_repository_in_docs_and_code():
    hits = []
    for top in ("README.md", "docs", "src", "rules", "Snakefile", "scripts"):
        for p in [ROOT / top] if (ROOT / top).is_file() else (ROOT / top).rglob("*"):
            if p.is_file() and p.suffix in (".md", ".py", ".smk", ".yaml", "") and "egg-info" not in str(p):
                if "shared/" in p.read_text(errors="ignore"):
                    hits.append(str(p.relative_to(ROOT)))
    assert not hits, hits


# ------------------------------------------------------------------ W&B


def test_wandb_ids_are_stable_and_wandb_mode_wins(monkeypatch):
    from teachable.registry.wandb_mirror import resolve_mode, wandb_id

    assert wandb_id("phase2", "Q1_hint", 2) == wandb_id("phase2", "Q1_hint", 2) == "phase2-Q1_hint-seed2"
    assert wandb_id("phase2", "Q1_hint", 2) != wandb_id("selection", "Q1_hint", 2)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_mode("offline") == "disabled"
    monkeypatch.delenv("WANDB_MODE")
    assert resolve_mode("online") == "online"


@pytest.mark.slow
def test_live_logging_during_training_resumes_one_wandb_run(mock_student, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    from test_training import TRAIN
    from training_fixtures import labeled_snapshots

    from teachable.config import load_config
    from teachable.registry.wandb_mirror import live_logger
    from teachable.training import run_data, train_adapter

    from conftest import MOCK_CONFIG

    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    cfg = load_config(MOCK_CONFIG)
    ex = run_data("B2_all", labeled_snapshots(cfg, mock_student, n_rollouts=2, horizon=8), 0).examples
    tracking = {"wandb_live": True, "wandb_project": "t", "wandb_mode": "offline"}
    assert live_logger({**tracking, "wandb_live": False}, stage="phase2", run_id="B2_all", seed=7,
                       config={}, out_dir=tmp_path) is None
    seen = []
    for attempt in range(2):  # a rerun of the same (run_id, seed)
        log, finish = live_logger(tracking, stage="phase2", run_id="B2_all", seed=7, config={"a": 1},
                                  out_dir=tmp_path)
        try:
            res = train_adapter(mock_student, ex, TRAIN, 7, tmp_path / f"a{attempt}", "cpu",
                                log=lambda *_: None, on_row=lambda r: (seen.append(r), log(r)))
        finally:
            finish()
    assert len(seen) == 2 * res["steps"] and all("loss" in r for r in seen)
    runs = sorted((tmp_path / "wandb").glob("offline-run-*"))
    # two local run dirs (offline-run-<time>-<id>, wandb adds "-1" when both start in one second)
    # with one id: `wandb sync` resumes, no duplicate
    one_id = re.compile(r"offline-run-\d{8}_\d{6}-phase2-B2_all-seed7(-\d+)?")
    assert len(runs) == 2 and all(one_id.fullmatch(d.name) for d in runs), runs

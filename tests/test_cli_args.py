"""One argument layer (issue 32, part 5): the options that scripts and `teachable` commands
share are defined once (teachable.workflow.scripting.OPTIONS), and `teachable label` runs the rules'
own stage functions (teachable.labeling.stages), byte for byte."""

import argparse
import filecmp
import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from teachable.workflow import scripting
from teachable.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
MOCK_CONFIG = ROOT / "tests" / "data" / "config_mock.yaml"
SHARED_FLAGS = set(scripting.FLAG_NAMES)
# Every script is checked: none is exempt (check_report.py, a standalone tool taking two
# positional paths, builds an argparse parser too and shares no option).


def command_parsers():
    """Every leaf parser of the `teachable` CLI, by its command line."""
    out, todo = {}, [("teachable", build_parser())]
    while todo:
        name, p = todo.pop()
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            out[name] = p
        for a in subs:
            todo += [(f"{name} {k}", v) for k, v in a.choices.items()]
    return out


class _Captured(Exception):
    pass


def script_parser(path: Path, monkeypatch) -> argparse.ArgumentParser:
    """The parser a script's main() builds, caught at its parse_args (nothing runs)."""
    def catch(self, *a, **kw):
        raise _Captured(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", catch)
    monkeypatch.setattr(sys, "argv", [str(path)])
    ns = runpy.run_path(str(path), run_name="not_main")
    with pytest.raises(_Captured) as e:
        ns["main"]()
    return e.value.args[0]


def script_parsers(monkeypatch):
    return {f"scripts/{f.name}": script_parser(f, monkeypatch) for f in sorted((ROOT / "scripts").glob("*.py"))}


def hand_made(p: argparse.ArgumentParser) -> list[str]:
    return [f for a in p._actions if not hasattr(a, "shared_option") for f in a.option_strings
            if f in SHARED_FLAGS]


def test_no_parser_defines_a_shared_option_by_hand(monkeypatch):
    """Fails where a script or a command spells one of the shared flags itself."""
    parsers = {**command_parsers(), **script_parsers(monkeypatch)}
    assert len(parsers) > 40
    bad = {name: hand_made(p) for name, p in parsers.items() if hand_made(p)}
    assert not bad, f"shared options defined by hand (use teachable.workflow.scripting.add): {bad}"


def test_a_shared_option_reads_the_same_everywhere(monkeypatch):
    """Built from one definition, an option has one help text unless a parser says otherwise
    on purpose (a `changes` keyword), in scripts and commands alike."""
    parsers = {**command_parsers(), **script_parsers(monkeypatch)}
    helps: dict[str, dict[str, set]] = {}
    for name, p in parsers.items():
        for a in p._actions:
            if hasattr(a, "shared_option") and "help" not in a.changed:
                helps.setdefault(a.shared_option, {}).setdefault(a.help, set()).add(name)
    assert {"threads", "student", "verbose", "quiet", "json", "results"} <= set(helps)
    assert {k: v for k, v in helps.items() if len(v) > 1} == {}
    # where a script and a command both use an option unchanged, the help is one string
    threads = helps["threads"][scripting.OPTIONS["threads"][0][1]["help"]]
    assert any(n.startswith("scripts/") for n in threads) and any(n.startswith("teachable ") for n in threads)


@pytest.mark.parametrize("stage", ["shard", "gather", "reliability"])
def test_label_stage_command_and_script_take_the_same_options(monkeypatch, stage):
    cmd = command_parsers()[f"teachable label {stage}"]
    script = script_parser(ROOT / "scripts" / f"label_{stage}.py", monkeypatch)

    def opts(p):
        return {a.dest: (tuple(a.option_strings), a.help, a.required, a.default, a.nargs) for a in p._actions
                if a.dest not in ("help", "verbosity", "cfg")}

    assert opts(cmd) == opts(script)


def _mock_snapshots(cfg: dict, source: str, seeds: range) -> list[dict]:
    """Real snapshot records of the mock env (phase 0's record builder), along the expert's path."""
    from teachable.envs import env_from_config
    from teachable.mining import _snapshot_record

    out = []
    for seed in seeds:
        env = env_from_config(cfg["env"])
        obs, hist = env.reset(seed), []
        for i in range(3):
            out.append(_snapshot_record(env, obs, f"{source}-{seed}-{i}", f"traj-{seed}", seed, i, list(hist),
                                        cfg["student"]["history"], source, None,
                                        {"k": 0, "student_action": obs.valid_actions[0]}))
            a = env.expert_action()
            obs, *_ = env.step(a)
            hist.append(a)
    return out


def test_teachable_label_writes_the_rules_bytes(tmp_path, mock_student, capsys):
    """`teachable label shard` / `gather` and the rules' scripts (run as the rules run them,
    --cfg JSON and all) write the same bytes on the mock env."""
    from teachable.cli import main
    from teachable.config import load_config
    from teachable.io import write_jsonl

    cfg = load_config(MOCK_CONFIG)
    write_jsonl(tmp_path / "failure.jsonl", _mock_snapshots(cfg, "failure", range(0, 4)))
    write_jsonl(tmp_path / "expert.jsonl", _mock_snapshots(cfg, "expert", range(10, 12)))
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    def shard_args(d):
        return ["--student", mock_student, "--failure", str(tmp_path / "failure.jsonl"),
                "--expert", str(tmp_path / "expert.jsonl"), "--shard", "0", "--n-shards", "1",
                "--cache-dir", str(d / "cache"), "--out", str(d / "labels.jsonl"), "--usage", str(d / "usage.json"),
                "--flagged", str(d / "flagged.jsonl"), "--threads", "1"]

    def gather_args(src, d):
        return ["--shards", str(src / "labels.jsonl"), "--usages", str(src / "usage.json"),
                "--flagged", str(src / "flagged.jsonl"), "--out-dir", str(d / "phase1")]

    rule, cli = tmp_path / "rule", tmp_path / "cli"
    cfg_json = json.dumps(cfg)  # what the rules pass
    for script, args in (("label_shard", shard_args(rule)), ("label_gather", gather_args(rule, rule))):
        subprocess.run([sys.executable, str(ROOT / "scripts" / f"{script}.py"), "--cfg", cfg_json, *args],
                       check=True, env=env, capture_output=True, cwd=tmp_path)
    assert main(["label", "shard", "--config", str(MOCK_CONFIG), *shard_args(cli)]) == 0
    assert main(["label", "gather", "--config", str(MOCK_CONFIG), *gather_args(rule, cli)]) == 0
    for f in ("labels.jsonl", "usage.json", "flagged.jsonl"):
        assert (rule / f).read_bytes() == (cli / f).read_bytes(), f
    assert len((rule / "labels.jsonl").read_text().splitlines()) > 0
    files = sorted(p.relative_to(rule / "phase1") for p in (rule / "phase1").rglob("*") if p.is_file())
    assert len(files) >= 8
    _, mismatch, errors = filecmp.cmpfiles(rule / "phase1", cli / "phase1", [str(f) for f in files], shallow=False)
    assert (mismatch, errors) == ([], [])

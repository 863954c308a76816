"""Bad-input corpus (docs/troubleshooting.md): every case stops with exit code 2
and ONE `error:` line that says where (file:line, record, or config key) and what, leaves
no output file, and shows no traceback. Config cases also run through `snakemake -n`.

Most cases run the real `teachable` CLI in-process (cli.main, stderr captured); a few run it,
and the pipeline's scripts, as real subprocesses to prove that no traceback reaches the user."""

from __future__ import annotations

import base64
import json
import os
import pickle
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, copy_workflow, snakemake
from teachable.cli import main as cli_main

SRC = ROOT / "src"


# ---------------------------------------------------------------- fixtures: real snapshots

def _snapshots(n=3):
    """Real BabyAI snapshot records (phase 0's own record builder)."""
    from teachable.envs.babyai import BabyAITextEnv
    from teachable.mining import _snapshot_record

    env, out = BabyAITextEnv(families=["goto"]), []
    for i in range(n):
        obs = env.reset(i * 4)  # seeds 0, 4, 8 are 'goto' with families [goto]
        hist = []
        for _ in range(i):
            a = env.expert_action()
            obs, *_ = env.step(a)
            hist.append(a)
        out.append(_snapshot_record(env, obs, f"s{i}", f"traj{i}", i * 4, i, hist, 2, "failure", None,
                                    {"k": 0, "student_action": obs.valid_actions[0]}))
    return out


SNAPS = None


def snaps():
    global SNAPS
    if SNAPS is None:
        SNAPS = _snapshots()
    return json.loads(json.dumps(SNAPS))


def state_of(payload) -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return base64.b64encode(raw).decode()


def babyai_state(**change) -> str:
    p = json.loads(base64.b64decode(snaps()[1]["state"]))
    p.update(change)
    return state_of(p)


def jsonl(rows) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows)


def with_(i, **kw):
    rows = snaps()
    rows[i].update(kw)
    return rows


def without(i, key):
    rows = snaps()
    del rows[i][key]
    return rows


class Evil:  # a pickle that would run code when loaded
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


# name -> (file name, file bytes, expected message part)
FILE_CASES = {
    "missing_file": ("none.jsonl", None, "none.jsonl: file not found"),
    "directory": ("adir", "DIR", "adir: is a directory"),
    "empty_jsonl": ("s.jsonl", b"", "s.jsonl: no snapshots (empty file)"),
    "blank_lines_only": ("s.jsonl", b"\n  \n\n", "s.jsonl: no snapshots (empty file)"),
    "empty_json": ("s.json", b"", "s.json: file is empty"),
    "empty_json_list": ("s.json", b"[]", "s.json: no snapshots"),
    "non_utf8_jsonl": ("s.jsonl", jsonl(snaps()[:1]) + b'{"snapshot_id": "caf\xe9"}\n', "s.jsonl:2: not UTF-8 text (byte 0xe9"),
    "non_utf8_json": ("s.json", b'[{"snapshot_id": "\xff"}]', "s.json:1: not UTF-8 text (byte 0xff"),
    "utf16_file": ("s.jsonl", jsonl(snaps()).decode().encode("utf-16"), "s.jsonl:1: not UTF-8 text"),
    "malformed_line": ("s.jsonl", jsonl(snaps()[:2]) + b'{"snapshot_id": \n', "s.jsonl:3: malformed JSON line"),
    "truncated_last_line": ("s.jsonl", jsonl(snaps())[:-40], "s.jsonl:3: malformed JSON line"),
    "line_not_object": ("s.jsonl", jsonl([snaps()[0], [1, 2]]), "s.jsonl:2: expected a JSON object, got list"),
    "missing_valid_actions": ("s.jsonl", jsonl(without(1, "valid_actions")), "s.jsonl:2: missing key(s) valid_actions"),
    "missing_state": ("s.jsonl", jsonl(without(2, "state")), "s.jsonl:3: missing key(s) state"),
    "duplicate_id": ("s.jsonl", jsonl(with_(2, snapshot_id="s0")), "s.jsonl:3: duplicate snapshot_id 's0' (first at"),
    "duplicate_id_json_list": ("s.json", json.dumps(with_(1, snapshot_id="s0")).encode(),
                               "s.json: record 1: duplicate snapshot_id 's0'"),
    "empty_valid_actions": ("s.jsonl", jsonl(with_(1, valid_actions=[])), "s.jsonl:2: snapshot s1: 'valid_actions' must be a non-empty list"),
    "valid_actions_string": ("s.jsonl", jsonl(with_(0, valid_actions="go forward")), "s.jsonl:1: snapshot s0: 'valid_actions' must be a non-empty list"),
    "valid_actions_repeated": ("s.jsonl", jsonl(with_(0, valid_actions=["turn left", "turn left"])),
                               "s.jsonl:1: snapshot s0: 'valid_actions' must be distinct"),
    "valid_actions_not_strings": ("s.jsonl", jsonl(with_(0, valid_actions=[1, 2])), "s.jsonl:1: snapshot s0: 'valid_actions' must be distinct non-empty strings"),
    "empty_snapshot_id": ("s.jsonl", jsonl(with_(1, snapshot_id="")), "s.jsonl:2: 'snapshot_id' must be a non-empty string"),
    "int_snapshot_id": ("s.jsonl", jsonl(with_(1, snapshot_id=7)), "s.jsonl:2: 'snapshot_id' must be a non-empty string"),
    "mission_not_string": ("s.jsonl", jsonl(with_(1, mission=["go"])), "s.jsonl:2: snapshot s1: 'mission' must be a string"),
    "state_not_base64": ("s.jsonl", jsonl(with_(1, state="@@not base64@@")), "s.jsonl:2: snapshot s1: 'state' is not valid base64"),
    "state_empty": ("s.jsonl", jsonl(with_(1, state="")), "s.jsonl:2: snapshot s1: 'state' must be a non-empty base64 string"),
    "state_null": ("s.jsonl", jsonl(with_(1, state=None)), "s.jsonl:2: snapshot s1: 'state' must be a non-empty base64 string"),
    "state_random_bytes": ("s.jsonl", jsonl(with_(1, state=state_of(bytes(range(7, 250))))),
                           "s.jsonl:2: snapshot s1: babyai env: not a babyai snapshot state (expected JSON)"),
    "state_of_another_env": ("s.jsonl", jsonl(with_(1, state=state_of({"pos": 0, "east": True, "goal": 3, "t": 0}))),
                             "s.jsonl:2: snapshot s1: babyai env: not a babyai snapshot state (format is not"),
    "state_old_pickle": ("s.jsonl", jsonl(with_(1, state=state_of(zlib.compress(pickle.dumps({"v": 1, "s": {}}), 6)))),
                         "s.jsonl:2: snapshot s1: babyai env: this snapshot state is in the old pickled format"),
    "state_crafted_pickle": ("s.jsonl", jsonl(with_(1, state=state_of(zlib.compress(pickle.dumps(Evil()))))),
                             "old pickled format, which is refused because loading it could run code"),
    "state_raw_pickle": ("s.jsonl", jsonl(with_(1, state=state_of(pickle.dumps(Evil())))),
                         "s.jsonl:2: snapshot s1: babyai env: not a babyai snapshot state (expected JSON)"),
    "state_old_version": ("s.jsonl", jsonl(with_(1, state=babyai_state(v=1))), "snapshot state version 1, this code reads 2"),
    "state_minigrid_mismatch": ("s.jsonl", jsonl(with_(1, state=babyai_state(minigrid="2.0.0"))),
                                "s.jsonl:2: snapshot s1: babyai env: snapshot state was written with minigrid 2.0.0"),
    "state_action_out_of_range": ("s.jsonl", jsonl(with_(1, state=babyai_state(actions=[2, 9]))),
                                  "s.jsonl:2: snapshot s1: babyai env: snapshot state: 'actions' must be action indices"),
    "state_seed_string": ("s.jsonl", jsonl(with_(1, state=babyai_state(seed="4"))),
                          "s.jsonl:2: snapshot s1: babyai env: snapshot state: 'seed' must be a int"),
    "state_other_max_steps": ("s.jsonl", jsonl(with_(1, state=babyai_state(max_steps=40))),
                              "s.jsonl:2: snapshot s1: babyai env: snapshot was taken with max_steps=40, this env has "
                              "max_steps=64"),
    "state_other_family": ("s.jsonl", jsonl(with_(1, state=babyai_state(family="dance"))),
                           "s.jsonl:2: snapshot s1: babyai env: snapshot family 'dance' is not a family of this env"),
    "json_object_not_list": ("s.json", b'{"rows": []}', "s.json: expected a JSON list of records"),
    "json_truncated": ("s.json", json.dumps(snaps(), indent=1).encode()[:-30], "s.json:"),
}

# name -> (config change (dotted key -> value), expected message part)
CONFIG_CASES = {
    "unknown_family": ({"env.families": ["goto", "fly"]}, "env.families[1]: unknown babyai task family 'fly'"),
    "empty_families": ({"env.families": []}, "env.families: empty"),
    "duplicate_training_seeds": ({"training.seeds": [0, 1, 1]}, "training.seeds: duplicate seed 1"),
    "duplicate_k_offsets": ({"phase0.k_offsets": [0, 2, 2]}, "phase0.k_offsets: duplicate offset 2"),
    "manual_without_thresholds": ({"quadrants.method": "manual"}, "quadrants.U_threshold: quadrants.method is 'manual'"),
    "manual_without_L": ({"quadrants.method": "manual", "quadrants.U_threshold": 0.5},
                         "quadrants.L_threshold: quadrants.method is 'manual'"),
    "base_model_path_missing": ({"student.base_model": "./models/nope"},
                                "student.base_model: local model directory './models/nope' does not exist"),
    "base_model_not_a_model": ({"student.base_model": "/tmp"}, "student.base_model: '/tmp' has no config.json"),
    "adapter_missing": ({"student.adapter": "results/nope/adapter"}, "student.adapter: 'results/nope/adapter' is not a LoRA adapter"),
    "baseline_not_a_method": ({"selection.methods": ["random", "entropy"], "selection.baseline": "oracle",
                               "selection.gate_pairs": []}, "selection.baseline: 'oracle' is not one of selection.methods"),
    "gate_pair_not_a_method": ({"selection.methods": ["random", "entropy"], "selection.gate_pairs": [["oracle", "random"]]},
                               "selection.gate_pairs[0]: 'oracle' is not one of selection.methods"),
    "teacher_url_not_http": ({"teacher.base_url": "localhost:8000"}, "teacher.base_url: 'localhost:8000' is not an http(s) URL"),
    "validation_phases_not_increasing": ({"validation.phases": [10, 10]}, "validation.phases: seed counts must increase"),
    "validation_seeds_overlap_training": ({"training.seeds": [0, 1000]}, "validation.seed_start: fresh validation seeds overlap"),
    "unknown_env_name": ({"env.name": "atari"}, "invalid value at 'env.name'"),
    "unknown_key": ({"env.colour": "red"}, "unknown config key 'env.colour'"),
}


def set_dotted(cfg, dotted, value):
    *path, last = dotted.split(".")
    cur = cfg
    for p in path:
        cur = cur.setdefault(p, {})
    cur[last] = value


def write_config(tmp_path: Path, change: dict | None = None) -> Path:
    cfg = {"env": {"name": "babyai", "families": ["goto"], "max_steps": 64}, "teacher": {"backend": "bot"}}
    for k, v in (change or {}).items():
        set_dotted(cfg, k, v)
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def run_cli(capsys, argv):
    capsys.readouterr()  # drop what set-up printed
    rc = cli_main(argv)
    err = capsys.readouterr().err
    # transformers' own progress bars ("Loading weights: 100%|...") are not error lines
    return rc, [ln for ln in err.splitlines() if ln.strip() and "%|" not in ln]


def assert_one_error(rc, lines, expected, out: Path):
    assert rc == 2, lines
    assert len(lines) == 1 and lines[0].startswith("teachable: error: "), lines
    assert expected in lines[0], lines[0]
    assert "Traceback" not in lines[0]
    assert not out.exists(), "an output file was left behind"
    assert not list(out.parent.glob(f".{out.name}.*")), "a temp file was left behind"


# ---------------------------------------------------------------- the corpus

def test_a_good_file_passes(tmp_path, capsys):
    """The control: the same command on the unmodified records writes its output."""
    inp = tmp_path / "s.jsonl"
    inp.write_bytes(jsonl(snaps()))
    out = tmp_path / "out.jsonl"
    rc, lines = run_cli(capsys, ["label", "hints", "--in", str(inp), "--config", str(write_config(tmp_path)),
                                 "--out", str(out), "--cache-dir", str(tmp_path / "c")])
    assert rc == 0 and out.exists() and len(out.read_text().splitlines()) == 3


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_bad_snapshot_file(tmp_path, capsys, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    name, data, expected = FILE_CASES[case]
    inp = tmp_path / name
    if data == "DIR":
        inp.mkdir()
    elif data is not None:
        inp.write_bytes(data)
    out = tmp_path / "out.jsonl"
    rc, lines = run_cli(capsys, ["label", "hints", "--in", str(inp), "--config", str(write_config(tmp_path)),
                                 "--out", str(out), "--cache-dir", str(tmp_path / "c")])
    assert_one_error(rc, lines, expected, out)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_bad_config_value(tmp_path, capsys, case):
    change, expected = CONFIG_CASES[case]
    inp = tmp_path / "s.jsonl"
    inp.write_bytes(jsonl(snaps()))
    cfg = write_config(tmp_path, change)
    out = tmp_path / "out.jsonl"
    rc, lines = run_cli(capsys, ["label", "hints", "--in", str(inp), "--config", str(cfg), "--out", str(out)])
    assert_one_error(rc, lines, expected, out)
    assert str(cfg) in lines[0]  # names the file too


def test_crafted_state_cannot_execute_code(tmp_path, monkeypatch):
    """Straight into set_state (no input check in front): the pickle is refused unread."""
    from teachable.envs.babyai import BabyAITextEnv

    monkeypatch.chdir(tmp_path)
    for blob in (pickle.dumps(Evil()), zlib.compress(pickle.dumps(Evil())),
                 zlib.compress(pickle.dumps(Evil(), protocol=2))):
        with pytest.raises(ValueError, match="pickled format|expected JSON"):
            BabyAITextEnv().set_state(blob)
    assert not (tmp_path / "PWNED").exists()
    # a JSON state cannot smuggle a constructor either: the level must be this env's
    p = json.loads(base64.b64decode(snaps()[1]["state"]))
    for change in ({"level": "os.system"}, {"kwargs": {"room_size": 99}}):
        with pytest.raises(ValueError, match="this env builds"):
            BabyAITextEnv(families=["goto"]).set_state(json.dumps({**p, **change}).encode())


# ---------------------------------------------------------------- checkpoints

def _save_tiny_model(d: Path) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "[PAD]": 1, "go": 2, "forward": 3}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", eos_token="[PAD]").save_pretrained(d)
    cfg = LlamaConfig(vocab_size=4, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64)
    LlamaForCausalLM(cfg).save_pretrained(d)
    return d


@pytest.mark.parametrize("damage", ["truncated", "zeroed", "deleted"])
def test_unreadable_student_checkpoint_names_its_file(tmp_path, capsys, damage):
    d = _save_tiny_model(tmp_path / "student")
    w = d / "model.safetensors"
    data = w.read_bytes()
    if damage == "truncated":
        w.write_bytes(data[: len(data) // 2])
    elif damage == "zeroed":
        w.write_bytes(b"\0" * 64)
    else:
        w.unlink()
    inp = tmp_path / "s.jsonl"
    inp.write_bytes(jsonl(snaps()))
    out = tmp_path / "out.jsonl"
    cfg = write_config(tmp_path, {"student.base_model": str(d)})
    rc, lines = run_cli(capsys, ["label", "uncertainty", "--in", str(inp), "--config", str(cfg), "--out", str(out),
                                 "--student", str(d), "--threads", "1"])
    expected = str(w) if damage != "deleted" else str(d)
    assert_one_error(rc, lines, f"cannot load checkpoint '{d}'", out)
    assert expected in lines[0]


@pytest.mark.parametrize("damage", ["truncated", "not_a_zip"])
def test_unreadable_predictor_names_its_file(tmp_path, damage):
    import torch

    from teachable.io import InputError
    from teachable.predictor.model import Predictor

    p = tmp_path / "model.pt"
    torch.save({"format": "x", "w": torch.ones(100)}, p)
    p.write_bytes(p.read_bytes()[:200] if damage == "truncated" else b"hello")
    with pytest.raises(InputError, match=f"{p}: unreadable predictor checkpoint"):
        Predictor.load(p)


# ---------------------------------------------------------------- real processes

def _run(args, cwd, **env):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(SRC), **env})


def test_script_bad_input_exit_2_one_line_and_debug_shows_the_traceback(tmp_path):
    """A pipeline script (mining_restore_check) on a file with an old pickled state."""
    inp = tmp_path / "snaps.json"
    inp.write_text(json.dumps(with_(2, state=state_of(zlib.compress(pickle.dumps(Evil()))))))
    out = tmp_path / "check.json"
    cfg = json.dumps({"seed": 0, "env": {"name": "babyai", "families": ["goto"], "max_steps": 64},
                      "phase0": {"restore_check_n": 3}})
    args = [str(ROOT / "scripts" / "mining_restore_check.py"), "--cfg", cfg, "--snapshots", str(inp), "--out", str(out)]
    r = _run(args, tmp_path)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert lines[0].startswith(f"error: {inp}: record 2: snapshot s2: babyai env: this snapshot state is in the old")
    assert "snakemake --forcerun mining_snapshots mining_expert" in lines[0]
    assert not out.exists() and not (tmp_path / "PWNED").exists()
    r = _run([*args, "--debug"], tmp_path)
    assert r.returncode == 1 and "Traceback" in r.stderr and "InputError" in r.stderr
    # the control: the good records pass the same script
    inp.write_text(json.dumps(snaps()))
    r = _run(args, tmp_path)
    assert r.returncode == 0 and json.loads(out.read_text())["passed"], r.stderr


def test_cli_bad_input_in_a_real_process(tmp_path):
    inp = tmp_path / "s.jsonl"
    inp.write_bytes(b"\x89PNG\r\n\x1a\n")
    out = tmp_path / "o.jsonl"
    args = ["-m", "teachable.cli", "label", "hints", "--in", str(inp), "--config", str(write_config(tmp_path)),
            "--out", str(out)]
    r = _run(args, tmp_path)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2 and lines == [f"teachable: error: {inp}:1: not UTF-8 text (byte 0x89 at column 1); "
                                           "is this the right file?"], r.stderr
    r = _run(["-m", "teachable.cli", "--debug", *args[2:]], tmp_path)
    assert r.returncode == 1 and "Traceback" in r.stderr
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("case", ["unknown_family", "duplicate_training_seeds", "manual_without_thresholds",
                                  "base_model_path_missing"])
def test_snakemake_dry_run_names_the_key(tmp_path, case):
    """The four config mistakes that used to pass `snakemake -n`."""
    wd = copy_workflow(tmp_path / "wf")
    change, expected = CONFIG_CASES[case]
    cfg = {}
    for k, v in change.items():
        set_dotted(cfg, k, v)
    (wd / "bad.yaml").write_text(yaml.safe_dump(cfg))
    p = snakemake(wd, "-n", "--configfile", "bad.yaml", check=False)
    assert p.returncode != 0
    assert expected in p.stdout + p.stderr
    assert not (wd / "results").exists()


def test_corpus_size():
    n = (len(FILE_CASES) + len(CONFIG_CASES) + 3 + 2 + 1 + 1 + 1 + 1)  # + checkpoints, scripts, crafted state
    assert n >= 40


def test_truncated_adapter_names_its_file(tmp_path, capsys):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    d = _save_tiny_model(tmp_path / "student")
    ad = tmp_path / "adapter"
    get_peft_model(AutoModelForCausalLM.from_pretrained(d), LoraConfig(r=2, target_modules=["q_proj"])).save_pretrained(ad)
    w = ad / "adapter_model.safetensors"
    w.write_bytes(w.read_bytes()[:100])
    inp = tmp_path / "s.jsonl"
    inp.write_bytes(jsonl(snaps()))
    out = tmp_path / "out.jsonl"
    cfg = write_config(tmp_path, {"student.base_model": str(d), "student.adapter": str(ad)})
    rc, lines = run_cli(capsys, ["label", "uncertainty", "--in", str(inp), "--config", str(cfg), "--out", str(out),
                                 "--student", str(d), "--threads", "1"])
    assert_one_error(rc, lines, f"adapter '{ad}': cannot load the checkpoint (weights: {w})", out)

"""`teachable doctor` on CPU (the mock config's built student, and a hub-style student saved
with save_pretrained), and `make setup TORCH_SPEC=...` handing the spec to pip."""

import json
import subprocess
from pathlib import Path

from teachable.cli import main
from test_hub_students import _models, chat_tok  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[1]
MOCK = str(ROOT / "tests/data/config_mock.yaml")


def test_doctor_on_cpu_with_the_bootstrap_student(mock_student, capsys):
    assert main(["doctor", "--configfile", MOCK, "--student", mock_student]) == 0
    out = capsys.readouterr().out
    assert "device: cpu" in out and "dtype: float32" in out and "free memory:" in out
    assert "token budget (student.max_batch_tokens auto): none (CPU" in out
    assert "measured on the env's first prompt" in out and "fits for scoring: yes" in out


def test_doctor_on_a_hub_student_and_a_planned_card(chat_tok, tmp_path, capsys):  # noqa: F811
    model = _models(chat_tok)["qwen2"]
    model.save_pretrained(tmp_path)
    chat_tok.save_pretrained(tmp_path)
    args = ["doctor", "--configfile", MOCK, "--config", f"student={{base_model: {tmp_path}}}", "--json"]
    assert main(args + ["--memory-gib", "24"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["params"] == sum(p.numel() for p in model.parameters())  # from the config alone
    assert d["weights_gib"] < 0.01 and d["fits_scoring"] and d["free_gib"] == 24.0
    assert isinstance(d["token_budget"], int) and d["token_budget"] > 0  # what auto would give on that card
    assert main(args + ["--memory-gib", "0.00001"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert not d["fits_weights"] and not d["fits_scoring"]
    assert main(args[:-1] + ["--memory-gib", "0.00001"]) == 0
    assert "fits for scoring: no: the weights alone do not fit" in capsys.readouterr().out
    assert main(["doctor", "--configfile", MOCK, "--config", f"student={{base_model: {tmp_path}/nope}}"]) == 2


def test_make_setup_passes_torch_spec_to_pip(tmp_path):
    spec = "torch==2.5.1 --index-url https://download.pytorch.org/whl/cu121"
    out = subprocess.run(["make", "-n", "-B", "setup", f"TORCH_SPEC={spec}", f"VENV={tmp_path / 'venv'}"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert f"{tmp_path / 'venv'}/bin/python -m pip install -q {spec}\n" in out
    # uv (its own pip call, not from the torch index) installs the locked rest, compiled to bytecode;
    # INSTALLER=pip leaves uv out
    assert "-m uv pip install --compile-bytecode" in out and "-m pip install -q uv==" in out
    pip_only = subprocess.run(["make", "-n", "-B", "setup", "INSTALLER=pip", f"VENV={tmp_path / 'venv'}"], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout
    assert "uv" not in pip_only.replace(str(tmp_path), "") and '-m pip install \\\n  -q -c requirements/lock-cpu.txt -e ".[dev]"' in pip_only
    # the project install after it leaves that torch alone: pyproject asks only torch>=2.1, the lock pins no torch
    lock = (ROOT / "requirements/lock-cpu.txt").read_text().splitlines()
    assert not [x for x in lock if x.lower().startswith("torch=")]

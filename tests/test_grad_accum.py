"""training.grad_accum: k micro-batches of b per optimizer step == one step on k*b examples."""

import torch

from teachable.prompts import build_prompt
from teachable.training import train_adapter
from teachable.training.formats import SFTExample

LORA = {"lora_rank": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": "all-linear", "epochs": 2, "budget": "epochs",
        "lr": 0.01, "probe_tasks": 0, "probe_examples": 0}


def _examples():
    acts = ("turn around", "go forward", "wait")
    return [SFTExample(f"s{i}", "demo", build_prompt("go to the goal", f"the goal is {i % 5} steps ahead", []),
                       acts[i % 3], acts) for i in range(14)]


def test_accumulated_steps_equal_large_batch_steps(mock_student, tmp_path):
    from safetensors.torch import load_file

    ex = _examples()
    big = train_adapter(mock_student, ex, {**LORA, "batch_size": 8}, 3, tmp_path / "big", "cpu", log=lambda *_: None)
    acc = train_adapter(mock_student, ex, {**LORA, "batch_size": 2, "grad_accum": 4}, 3, tmp_path / "acc", "cpu",
                        log=lambda *_: None)
    small = train_adapter(mock_student, ex, {**LORA, "batch_size": 2}, 3, tmp_path / "small", "cpu",
                          log=lambda *_: None)
    assert big["steps"] == acc["steps"] == 4 and small["steps"] == 14
    a, b, c = (load_file(f"{tmp_path / n}/adapter_model.safetensors") for n in ("big", "acc", "small"))
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    assert any(not torch.allclose(a[k], c[k], atol=1e-5) for k in a)

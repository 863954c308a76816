"""Training that fits a large student: gradient checkpointing (same loss and gradients), and
grad_accum combined with the KL guard (the accumulated step equals the unaccumulated one)."""

import copy

import pytest
import torch

from teachable.io import InputError
from teachable.policy import load_model_and_tokenizer
from teachable.prompts import build_prompt
from teachable.training import train_adapter
from teachable.training.formats import SFTExample
from teachable.training.lora import attach_lora, enable_checkpointing, encode, sft_accum_step, sft_step
from teachable.training.sft import plan_steps, use_checkpointing

LORA = {"lora_rank": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": "all-linear", "lr": 0.01,
        "probe_tasks": 0, "probe_examples": 0}
ACTS = ("turn around", "go forward", "wait")


def _examples(n=8, tag="s"):
    return [SFTExample(f"{tag}{i}", "demo",
                       build_prompt("go to the goal", f"the goal is {i % 5} steps ahead" + " now" * (i % 3), []),
                       ACTS[i % 3], ACTS) for i in range(n)]


def _moved_adapter(mock_student, seed=1):
    """A LoRA model whose adapter is not zero (B drawn at random), so that the KL guard and
    its gradient are not zero."""
    model, tok = load_model_and_tokenizer(mock_student, device="cpu")
    model = attach_lora(model, LORA, seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
    return model, tok


def _params(model):
    return {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}


@pytest.mark.parametrize("kl_rows", [None, slice(5, None)])  # kl_scope batch, and replay (rows 5..7)
def test_grad_accum_with_kl_equals_the_unaccumulated_step(mock_student, kl_rows):
    model, tok = _moved_adapter(mock_student)
    data = encode(tok, _examples())
    results = {}
    for name in ("whole", "accum", "no_kl"):
        m = copy.deepcopy(model)
        opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.5)
        st = {}
        if name == "accum":  # micro-batches of 3, 3, 2 rows: the KL rows fall across two of them
            loss = sft_accum_step(m, opt, [data[0:3], data[3:6], data[6:8]], tok.pad_token_id, "cpu", None,
                                  kl_weight=5.0, stats=st, kl_rows=kl_rows)
        else:
            loss = sft_step(m, opt, data, tok.pad_token_id, "cpu", None, kl_weight=5.0 if name == "whole" else 0.0,
                            stats=st, kl_rows=kl_rows)
        results[name] = (loss, st.get("kl"), _params(m))
    (lw, kw, pw), (la, ka, pa), (_, _, pn) = results["whole"], results["accum"], results["no_kl"]
    assert kw > 1e-6 and abs(lw - la) < 1e-5 and abs(kw - ka) < 1e-6
    for k in pw:
        torch.testing.assert_close(pa[k], pw[k], atol=1e-6, rtol=1e-5)
    assert any(not torch.allclose(pn[k], pw[k], atol=1e-5) for k in pw)  # the KL term moved the step


def test_train_adapter_accepts_grad_accum_with_kl(mock_student, tmp_path):
    from safetensors.torch import load_file

    assert plan_steps({**LORA, "batch_size": 2, "grad_accum": 2, "kl_weight": 1.0, "budget": "steps",
                       "budget_value": 3}, 10)["steps"] == 3  # no longer refused
    ex, rep = _examples(10), _examples(6, "r")
    cfg = {**LORA, "budget": "steps", "budget_value": 3, "kl_weight": 2.0, "kl_scope": "replay",
           "replay_share": 0.5}
    runs = {}
    for name, bs, acc in (("big", 4, 1), ("acc", 2, 2)):
        runs[name] = train_adapter(mock_student, ex, {**cfg, "batch_size": bs, "grad_accum": acc}, 3, tmp_path / name,
                                   "cpu", log=lambda *_: None, replay=rep)
    assert [r.get("kl") is not None for r in runs["acc"]["metrics_rows"] if "loss" in r] == [True] * 3
    a, b = (load_file(f"{tmp_path / n}/adapter_model.safetensors") for n in ("big", "acc"))
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_checkpointing_gives_the_same_loss_and_gradients(mock_student):
    model, tok = _moved_adapter(mock_student)
    data = encode(tok, _examples())
    from teachable.student import collate

    ids, lab, mask = collate(data, tok.pad_token_id)
    out = {}
    for on in (False, True):
        m = copy.deepcopy(model)
        if on:
            enable_checkpointing(m)
            base = m.get_base_model()
            assert getattr(base, "is_activation_checkpointing", None) or base.is_gradient_checkpointing
        m.train()
        loss = m(input_ids=ids, attention_mask=mask, labels=lab).loss
        loss.backward()
        out[on] = (float(loss.detach()), {k: p.grad.clone() for k, p in m.named_parameters() if p.requires_grad})
    assert abs(out[True][0] - out[False][0]) < 1e-6
    for k, g in out[False][1].items():
        torch.testing.assert_close(out[True][1][k], g, atol=1e-6, rtol=1e-5)


def test_checkpointing_default_and_train_adapter(mock_student, tmp_path):
    from safetensors.torch import load_file

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert use_checkpointing("auto", cpu, "hub/model") is False  # CPU: as before
    assert use_checkpointing("auto", cuda, mock_student) is False  # the bootstrap build
    assert use_checkpointing("auto", cuda, str(tmp_path)) is True  # a hub student on CUDA
    assert use_checkpointing(True, cpu, mock_student) is True
    with pytest.raises(InputError, match="gradient_checkpointing"):
        use_checkpointing("sometimes", cpu, mock_student)
    cfg = {**LORA, "batch_size": 4, "budget": "steps", "budget_value": 2, "kl_weight": 1.0}
    for on in (False, True):
        train_adapter(mock_student, _examples(), {**cfg, "gradient_checkpointing": on}, 0, tmp_path / str(on), "cpu",
                      log=lambda *_: None)
    a, b = (load_file(f"{tmp_path / str(n)}/adapter_model.safetensors") for n in (False, True))
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)

"""LoRA adapters on the student (peft), action-token-only SFT batches and optimizer steps.

A fresh adapter has lora_B = 0 (peft's default init), so it starts with exactly zero
effect: the adapted model's outputs equal the base model's bit for bit."""

from __future__ import annotations

import torch

from ..student import collate, encode_examples


def lora_config(cfg: dict):
    """peft LoraConfig from a config section with lora_rank, lora_alpha, lora_dropout,
    target_modules (a list of module names, or 'all-linear')."""
    from peft import LoraConfig

    tm = cfg.get("target_modules", "all-linear")
    return LoraConfig(r=int(cfg["lora_rank"]), lora_alpha=float(cfg["lora_alpha"]),
                      lora_dropout=float(cfg["lora_dropout"]),
                      target_modules=tm if isinstance(tm, str) else list(tm),
                      bias="none", task_type="CAUSAL_LM", init_lora_weights=True)


def attach_lora(model, cfg: dict, seed: int):
    """Wrap `model` in a fresh trainable LoRA adapter (A seeded by `seed`, B = 0)."""
    from peft import get_peft_model

    torch.manual_seed(seed)
    try:
        return get_peft_model(model, lora_config(cfg))
    except ValueError as e:  # e.g. target modules not found in this architecture
        from ..io import InputError

        raise InputError(f"LoRA target_modules {cfg.get('target_modules')!r}: {e}") from None


def reset_lora(peft_model, seed: int) -> None:
    """Re-initialise every LoRA layer in place (A ~ kaiming(seed), B = 0): a fresh,
    zero-effect adapter without reloading the model."""
    from peft.tuners.lora import LoraLayer

    torch.manual_seed(seed)
    for m in peft_model.modules():
        if isinstance(m, LoraLayer):
            for name in list(m.lora_A.keys()):
                m.reset_lora_parameters(name, True)


def trainable_parameters(model) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def encode(tok, examples) -> list[tuple[list[int], list[int]]]:
    """(input_ids, labels) per example; labels are -100 on the prompt (loss on the action
    tokens only). Tokenised exactly as Policy.score does (prompt with special tokens, then
    ' ' + action without)."""
    return encode_examples(tok, examples)


def sft_step(model, opt, batch, pad_id: int, device, max_grad_norm: float | None = 1.0,
             scheduler=None) -> float:
    """One optimizer step on a list of encoded examples; returns the loss."""
    ids, lab, mask = collate(batch, pad_id)
    model.train()
    out = model(input_ids=ids.to(device), attention_mask=mask.to(device), labels=lab.to(device))
    opt.zero_grad(set_to_none=True)
    out.loss.backward()
    if max_grad_norm:
        torch.nn.utils.clip_grad_norm_(trainable_parameters(model), max_grad_norm)
    opt.step()
    if scheduler is not None:
        scheduler.step()
    return float(out.loss.detach().float())


def sft_accum_step(model, opt, batches, pad_id: int, device, max_grad_norm: float | None = 1.0,
                   scheduler=None) -> float:
    """One optimizer step over several micro-batches (training.grad_accum): gradients add up,
    each micro-batch weighted by its share of target tokens, so the step equals one step on
    their union (for models too large for the whole batch at once). Returns the loss."""
    n_target = [sum(1 for _, y in b for t in y[1:] if t != -100) for b in batches]
    total = max(1, sum(n_target))
    model.train()
    opt.zero_grad(set_to_none=True)
    loss_sum = 0.0
    for b, n in zip(batches, n_target):
        ids, lab, mask = collate(b, pad_id)
        out = model(input_ids=ids.to(device), attention_mask=mask.to(device), labels=lab.to(device))
        (out.loss * (n / total)).backward()
        loss_sum += float(out.loss.detach().float()) * n / total
    if max_grad_norm:
        torch.nn.utils.clip_grad_norm_(trainable_parameters(model), max_grad_norm)
    opt.step()
    if scheduler is not None:
        scheduler.step()
    return loss_sum

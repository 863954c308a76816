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


def sort_adapter_config(adapter_dir) -> None:
    """Rewrite adapter_config.json with every list that peft built from a set sorted
    (target_modules, ...): peft writes set order, which differs between processes, so
    otherwise equal adapters would differ in bytes."""
    import json
    from pathlib import Path

    p = Path(adapter_dir) / "adapter_config.json"
    cfg = json.loads(p.read_text())
    for k in ("target_modules", "modules_to_save", "exclude_modules", "layers_to_transform"):
        if isinstance(cfg.get(k), list) and all(isinstance(v, (str, int)) for v in cfg[k]):
            cfg[k] = sorted(cfg[k])
    p.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def trainable_parameters(model) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def encode(tok, examples) -> list[tuple[list[int], list[int]]]:
    """(input_ids, labels) per example; labels are -100 on the prompt (loss on the action
    tokens only). Tokenised exactly as Policy.score does (prompt with special tokens, then
    ' ' + action without)."""
    return encode_examples(tok, examples)


def kl_to_base(model, logits, ids, mask, lab) -> torch.Tensor:
    """Mean KL(BASE || adapted) of the next-token distributions at the target (action)
    positions. BASE logits come from the same peft model with its adapter disabled (no
    second copy of the weights, no gradient)."""
    with torch.no_grad(), model.disable_adapter():
        base = model(input_ids=ids, attention_mask=mask).logits
    sel = lab[:, 1:] != -100  # logits at t predict token t+1
    lp = torch.log_softmax(logits[:, :-1][sel].float(), -1)
    lb = torch.log_softmax(base[:, :-1][sel].float(), -1)
    return torch.sum(lb.exp() * (lb - lp), -1).mean()


def sft_step(model, opt, batch, pad_id: int, device, max_grad_norm: float | None = 1.0,
             scheduler=None, kl_weight: float = 0.0, stats: dict | None = None, kl_rows: slice | None = None) -> float:
    """One optimizer step on a list of encoded examples; returns the cross-entropy loss.
    With kl_weight > 0 the objective adds kl_weight * KL(BASE || adapted) on the action
    positions (a guard against forgetting) of the batch rows `kl_rows` (None: all); its
    value goes to stats['kl']."""
    ids, lab, mask = collate(batch, pad_id)
    ids, lab, mask = ids.to(device), lab.to(device), mask.to(device)
    model.train()
    out = model(input_ids=ids, attention_mask=mask, labels=lab)
    obj = out.loss
    if kl_weight:
        r = kl_rows or slice(None)
        kl = kl_to_base(model, out.logits[r], ids[r], mask[r], lab[r])
        obj = obj + float(kl_weight) * kl
        if stats is not None:
            stats["kl"] = float(kl.detach())
    opt.zero_grad(set_to_none=True)
    obj.backward()
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

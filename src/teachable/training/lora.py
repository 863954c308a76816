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


def enable_checkpointing(model) -> None:
    """Gradient checkpointing of the (peft-wrapped) model (training.gradient_checkpointing):
    a layer's activations are recomputed in the backward pass instead of kept, so a step's
    memory no longer grows with layers x tokens; the loss and gradients are the same (test).
    Non-reentrant checkpoints: the frozen embeddings need no requires_grad trick."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if not getattr(base, "supports_gradient_checkpointing", False):
        from ..io import InputError

        raise InputError(f"training.gradient_checkpointing: {type(base).__name__} does not support it")
    kw = {"use_reentrant": False}
    if hasattr(base, "activation_checkpointing_enable"):  # transformers >= 5.2x's name
        base.activation_checkpointing_enable(activation_checkpointing_kwargs=kw)
    else:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kw)


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


def _targets(rows) -> int:
    """Target (action) positions of encoded examples: the positions the loss and KL average over."""
    return sum(1 for _, y in rows for t in y[1:] if t != -100)


def sft_accum_step(model, opt, batches, pad_id: int, device, max_grad_norm: float | None = 1.0,
                   scheduler=None, kl_weight: float = 0.0, stats: dict | None = None,
                   kl_rows: slice | None = None) -> float:
    """One optimizer step over several micro-batches (training.grad_accum): gradients add up,
    each micro-batch weighted by its share of target tokens, so the step equals one step on
    their union (for models too large for the whole batch at once). Returns the loss.
    kl_weight, stats and kl_rows as in sft_step (kl_rows indexes the union of the
    micro-batches): each micro-batch's KL is weighted by its share of the KL rows' target
    positions, so the KL term too equals the one of the whole batch."""
    n_target = [_targets(b) for b in batches]
    total = max(1, sum(n_target))
    kl_idx: list[list[int]] = [[] for _ in batches]  # per micro-batch, its rows under the KL guard
    if kl_weight:
        sel = set(range(sum(len(b) for b in batches))[kl_rows or slice(None)])
        off = 0
        for k, b in enumerate(batches):
            kl_idx[k] = [i - off for i in range(off, off + len(b)) if i in sel]
            off += len(b)
    n_kl = [_targets([b[i] for i in idx]) for b, idx in zip(batches, kl_idx)]
    kl_total = sum(n_kl)
    model.train()
    opt.zero_grad(set_to_none=True)
    loss_sum, kl_sum = 0.0, 0.0
    for b, n, idx, nk in zip(batches, n_target, kl_idx, n_kl):
        ids, lab, mask = collate(b, pad_id)
        ids, lab, mask = ids.to(device), lab.to(device), mask.to(device)
        out = model(input_ids=ids, attention_mask=mask, labels=lab)
        obj = out.loss * (n / total)
        if nk:  # this micro-batch's share of KL(BASE || adapted) over all KL target positions
            r = torch.tensor(idx, device=ids.device)
            kl = kl_to_base(model, out.logits[r], ids[r], mask[r], lab[r])
            obj = obj + float(kl_weight) * kl * (nk / kl_total)
            kl_sum += float(kl.detach()) * nk / kl_total
        obj.backward()
        loss_sum += float(out.loss.detach().float()) * n / total
    if kl_weight and stats is not None:
        stats["kl"] = kl_sum
    if max_grad_norm:
        torch.nn.utils.clip_grad_norm_(trainable_parameters(model), max_grad_norm)
    opt.step()
    if scheduler is not None:
        scheduler.step()
    return loss_sum

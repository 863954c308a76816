"""LoRA SFT of the student on a list of examples: `train_adapter`, the function phase 2
and the selection stage call. Loss on the action tokens only; epochs over the examples
in a seeded order; AdamW + a transformers LR schedule; bf16 on CUDA (when supported),
float32 on CPU; a greedy probe at the start and the end of every epoch (learning curves)."""

from __future__ import annotations

import math
import time
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..io import InputError, atomic_dir, derive_seed, write_jsonl
from ..policy import Policy, load_model_and_tokenizer, pick_dtype
from ..rollout import EpisodeSpec, run_episodes
from .formats import SFTExample
from .lora import attach_lora, encode, sft_accum_step, sft_step, trainable_parameters

TRAIN_KEYS = ("lora_rank", "lora_alpha", "lora_dropout", "target_modules", "epochs", "batch_size", "lr")


def check_train_cfg(cfg: dict, where: str = "training") -> None:
    missing = [k for k in TRAIN_KEYS if k not in cfg]
    if missing:
        raise InputError(f"{where}: missing config key(s) {', '.join(missing)}")


def make_probe(make_env: Callable | None, n_tasks: int, seed: int, max_steps: int, history_len: int,
               examples: list[SFTExample] = (), max_examples: int = 64) -> Callable[[Policy], dict]:
    """A cheap probe of a policy: greedy success on `n_tasks` fixed probe tasks (seeds from
    (seed, 'probe_tasks', i): not the phase-3 evaluation tasks) and greedy accuracy on the
    first `max_examples` training examples (argmax over their valid actions == target)."""
    task_seeds = [derive_seed(seed, "probe_tasks", i) for i in range(n_tasks)]
    exs = list(examples)[:max_examples]

    def probe(policy: Policy) -> dict:
        out = {}
        if make_env is not None and task_seeds:
            specs = [EpisodeSpec(f"probe{i}", seed=s, max_steps=max_steps) for i, s in enumerate(task_seeds)]
            res = run_episodes(policy, make_env, specs, temperature=0.0, history_len=history_len)
            out["probe_success"] = float(np.mean([r.success for r in res]))
        if exs:
            scores = policy.score([e.prompt for e in exs], [list(e.valid_actions) for e in exs])
            out["probe_train_acc"] = float(np.mean([e.valid_actions[int(np.argmax(s))] == e.action
                                                    for e, s in zip(exs, scores)]))
        return out

    return probe


def _schedule(opt, cfg: dict, total: int):
    from transformers import get_scheduler

    name = cfg.get("lr_schedule", "constant")
    warm = int(round(float(cfg.get("warmup_ratio", 0.0)) * total))
    try:
        return get_scheduler(name, opt, num_warmup_steps=warm, num_training_steps=total)
    except ValueError as e:
        raise InputError(f"training.lr_schedule: {e}") from None


def train_adapter(student_path: str, examples: list[SFTExample], train_cfg: dict, seed: int,
                  out_dir: str | Path, device: str = "auto", probe: Callable[[Policy], dict] | None = None,
                  metrics_path: str | Path | None = None, log: Callable[[str], None] = print,
                  batch_size_eval: int = 256) -> dict:
    """Train a fresh LoRA adapter on `examples` and save it to `out_dir` (peft
    `save_pretrained`, written atomically). Deterministic for a seed on CPU.

    train_cfg keys: lora_rank, lora_alpha, lora_dropout, target_modules, epochs,
    batch_size, lr, and optionally weight_decay (0), lr_schedule ('constant'),
    warmup_ratio (0), max_grad_norm (1.0). Returns a summary dict (n_examples, n_tokens,
    n_target_tokens, steps, final_loss, metrics rows, wall_time_s, device, dtype, ...)."""
    check_train_cfg(train_cfg)
    if not examples:
        raise InputError("train_adapter: no training examples")
    t0 = time.perf_counter()
    model, tok = load_model_and_tokenizer(student_path, None, device)
    dev = next(model.parameters()).device
    model = attach_lora(model, train_cfg, seed)
    data = encode(tok, examples)
    n_tokens = sum(len(x) for x, _ in data)
    n_target = sum(sum(1 for t in y if t != -100) for _, y in data)
    bs = int(train_cfg["batch_size"])
    accum = int(train_cfg.get("grad_accum", 1))  # micro-batches of bs per optimizer step
    epochs = int(train_cfg["epochs"])
    per_epoch = math.ceil(len(data) / (bs * accum))
    total = epochs * per_epoch
    opt = torch.optim.AdamW(trainable_parameters(model), lr=float(train_cfg["lr"]),
                            weight_decay=float(train_cfg.get("weight_decay", 0.0)))
    sched = _schedule(opt, train_cfg, total)
    gen = torch.Generator().manual_seed(int(seed))
    clip = train_cfg.get("max_grad_norm", 1.0)
    rows: list[dict] = []

    def write_metrics():
        if metrics_path is not None:
            write_jsonl(metrics_path, rows)

    def run_probe(step: int, epoch: int):
        if probe is None:
            return
        pr = probe(Policy(model, tok, batch_size_eval))
        rows.append({"step": step, "epoch": epoch, **pr})
        log(f"probe step {step} epoch {epoch}: " + " ".join(f"{k} {v:.3f}" for k, v in pr.items()))

    log(f"train_adapter: {len(data)} examples, {n_tokens} tokens ({n_target} target), {epochs} epochs x "
        f"{per_epoch} steps, device {dev}, dtype {pick_dtype(dev)}")
    run_probe(0, 0)
    step = 0
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(data), generator=gen).tolist()
        losses = []
        for i in range(0, len(order), bs * accum):
            lr = float(sched.get_last_lr()[0])
            if accum == 1:
                loss = sft_step(model, opt, [data[j] for j in order[i : i + bs]], tok.pad_token_id, dev, clip, sched)
            else:
                chunk = order[i : i + bs * accum]
                micro = [[data[j] for j in chunk[k : k + bs]] for k in range(0, len(chunk), bs)]
                loss = sft_accum_step(model, opt, micro, tok.pad_token_id, dev, clip, sched)
            if not math.isfinite(loss):
                raise RuntimeError(f"non-finite loss at step {step + 1} (lr {lr})")
            step += 1
            losses.append(loss)
            rows.append({"step": step, "epoch": epoch, "loss": loss, "lr": lr})
        log(f"epoch {epoch}: mean loss {np.mean(losses):.4f}")
        run_probe(step, epoch)
        write_metrics()
    model.eval()
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
    losses_last = [r["loss"] for r in rows if "loss" in r and r["epoch"] == epochs]
    probes = [r for r in rows if "loss" not in r]
    return {
        "n_examples": len(data), "n_tokens": n_tokens, "n_target_tokens": n_target,
        "n_tokens_processed": n_tokens * epochs, "steps": step, "epochs": epochs,
        "final_loss": losses_last[-1] if losses_last else None,
        "mean_loss_last_epoch": float(np.mean(losses_last)) if losses_last else None,
        "probe_first": {k: v for k, v in probes[0].items() if k.startswith("probe")} if probes else {},
        "probe_final": {k: v for k, v in probes[-1].items() if k.startswith("probe")} if probes else {},
        "metrics_rows": rows, "device": str(dev), "dtype": str(pick_dtype(dev)).replace("torch.", ""),
        "n_trainable_params": sum(p.numel() for p in trainable_parameters(model)),
        "adapter_path": str(out_dir), "wall_time_s": round(time.perf_counter() - t0, 3),
    }


def env_probe(cfg: dict, examples: list[SFTExample]) -> Callable[[Policy], dict] | None:
    """The probe of a phase-2 run from the config (training.probe_tasks tasks derived from
    the master seed, so every run and seed is probed on the same tasks; env,
    student.history, env.max_steps); None when probes are off."""
    from ..envs import env_from_config

    n = int(cfg["training"].get("probe_tasks", 0))
    n_ex = int(cfg["training"].get("probe_examples", 64))
    if n <= 0 and n_ex <= 0:
        return None
    return make_probe(partial(env_from_config, cfg["env"], expert=False) if n > 0 else None, n, cfg["seed"],
                      cfg["env"]["max_steps"], cfg["student"]["history"], examples, n_ex)

"""LoRA SFT of the student on a list of examples: `train_adapter`, the function phase 2
and the selection stage call. Loss on the action tokens only; epochs over the examples
in a seeded order; AdamW + a transformers LR schedule; bf16 on CUDA (when supported),
float32 on CPU; a greedy probe at the start and the end of every epoch (learning curves)."""

from __future__ import annotations

import logging
import math
import time
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..io import InputError, atomic_dir, derive_seed, write_jsonl
from ..workflow.logs import progress
from ..policy import Policy, load_model_and_tokenizer, pick_dtype
from ..prompts import DEFAULT_LAYOUT, layout_of
from ..engine import EpisodeSpec, run_episodes
from .formats import SFTExample
from .lora import (attach_lora, enable_checkpointing, encode, sft_accum_step, sft_step, sort_adapter_config,
                   trainable_parameters)

_log = logging.getLogger(__name__)  # progress lines (timestamps/levels from teachable.workflow.logs)

TRAIN_KEYS = ("lora_rank", "lora_alpha", "lora_dropout", "target_modules", "batch_size", "lr")
BUDGETS = ("steps", "examples", "epochs")
CHECKPOINTS = ("best_probe", "last")
KL_SCOPES = ("batch", "replay")


def check_train_cfg(cfg: dict, where: str = "training") -> None:
    missing = [k for k in TRAIN_KEYS if k not in cfg]
    budget = cfg.get("budget", "epochs")
    if budget not in BUDGETS:
        raise InputError(f"{where}.budget: '{budget}' is not one of {', '.join(BUDGETS)}")
    if budget == "epochs" and "epochs" not in cfg:
        missing.append("epochs")
    if budget != "epochs" and "budget_value" not in cfg:
        missing.append("budget_value")
    if cfg.get("checkpoint", "last") not in CHECKPOINTS:
        raise InputError(f"{where}.checkpoint: '{cfg['checkpoint']}' is not one of {', '.join(CHECKPOINTS)}")
    if not 0 <= float(cfg.get("replay_share", 0.0)) < 1:
        raise InputError(f"{where}.replay_share: {cfg['replay_share']} is not in [0, 1)")
    scope = cfg.get("kl_scope", "batch")
    if scope not in KL_SCOPES:
        raise InputError(f"{where}.kl_scope: '{scope}' is not one of {', '.join(KL_SCOPES)}")
    if scope == "replay" and float(cfg.get("kl_weight", 0.0)) and not float(cfg.get("replay_share", 0.0)):
        raise InputError(f"{where}.kl_scope: replay needs replay items in each batch ({where}.replay_share > 0)")
    if missing:
        raise InputError(f"{where}: missing config key(s) {', '.join(missing)}")


def plan_steps(cfg: dict, n_examples: int) -> dict:
    """The optimizer-step budget of a run: `budget: steps` -> budget_value steps whatever
    the data size; `examples` -> enough steps to show budget_value run examples (replay
    items not counted); `epochs` -> epochs x ceil(n / new examples per batch) (grows with
    the data: only comparable across runs of equal size)."""
    accum = int(cfg.get("grad_accum", 1))  # micro-batches of batch_size per optimizer step
    bs = int(cfg["batch_size"]) * accum  # examples per optimizer step
    n_replay = int(round(bs * float(cfg.get("replay_share", 0.0))))
    n_new = bs - n_replay
    if n_new < 1:
        raise InputError(f"training.replay_share {cfg.get('replay_share')} leaves no run example in a batch of {bs}")
    budget = cfg.get("budget", "epochs")
    if budget == "steps":
        steps = int(cfg["budget_value"])
    elif budget == "examples":
        steps = math.ceil(int(cfg["budget_value"]) / n_new)
    else:
        steps = int(cfg["epochs"]) * math.ceil(n_examples / n_new)
    if steps < 1:
        raise InputError(f"training.budget_value gives {steps} optimizer steps")
    return {"budget": budget, "budget_value": cfg.get("budget_value", cfg.get("epochs")), "steps": steps,
            "batch_size": bs, "grad_accum": accum, "micro_batch": int(cfg["batch_size"]), "run_examples_per_step": n_new, "replay_per_step": n_replay,
            "run_examples_seen": steps * n_new, "epochs_over_run_examples": steps * n_new / n_examples}


def use_checkpointing(value, device: torch.device, student_path: str) -> bool:
    """training.gradient_checkpointing: true | false | auto = on for a student that is not
    the bootstrap build (no bootstrap_report.json beside it) on a CUDA device, else off
    (the tiny bootstrap student gains nothing from it, and CPU runs stay as they were)."""
    if value in (True, False):
        return value
    if value != "auto":
        raise InputError(f"training.gradient_checkpointing: {value!r} is not true, false or auto")
    from ..prompts import BUILD_REPORT

    return device.type == "cuda" and not (Path(student_path) / BUILD_REPORT).exists()


def make_probe(make_env: Callable | None, n_tasks: int, seed: int, max_steps: int, history_len: int,
               examples: list[SFTExample] = (), max_examples: int = 64,
               base_success: float | None = None, layout: str = DEFAULT_LAYOUT) -> Callable[..., dict]:
    """A cheap probe of a policy: greedy success on `n_tasks` fixed probe tasks (seeds from
    (seed, 'probe_tasks', i): not the phase-3 evaluation tasks) and greedy accuracy on the
    first `max_examples` training examples (argmax over their valid actions == target).
    `base_success`: BASE's probe success, measured once for every run (rule replay_set,
    base_probe_success), taken for step 0, where the zero-initialised adapter is BASE.
    `layout`: the prompt layout of the probe episodes (student.prompt_layout; the examples'
    prompts are built already)."""
    task_seeds = [derive_seed(seed, "probe_tasks", i) for i in range(n_tasks)]
    exs = list(examples)[:max_examples]

    def probe(policy: Policy, step: int | None = None) -> dict:
        out = {}
        if step == 0 and base_success is not None and task_seeds:
            out["probe_success"] = float(base_success)
        elif make_env is not None and task_seeds:
            specs = [EpisodeSpec(f"probe{i}", seed=s, max_steps=max_steps) for i, s in enumerate(task_seeds)]
            res = run_episodes(policy, make_env, specs, temperature=0.0, history_len=history_len, layout=layout)
            out["probe_success"] = float(np.mean([r.success for r in res]))
        if exs:
            scores = policy.score([e.prompt for e in exs], [list(e.valid_actions) for e in exs])
            out["probe_train_acc"] = float(np.mean([e.valid_actions[int(np.argmax(s))] == e.action
                                                    for e, s in zip(exs, scores)]))
        return out

    return probe


def probe_interval(cfg: dict, total: int) -> int:
    """Steps between probes: probe_every (0 = only at the end), spaced out so that a run of
    `total` steps probes at most max_probes times after step 0 (0 = no cap). Long runs (the
    controls: about 500 steps) would otherwise spend most of their time in probe episodes."""
    every = int(cfg.get("probe_every", 0)) or total
    cap = int(cfg.get("max_probes", 0))
    return max(every, math.ceil(total / cap)) if cap else every


def _schedule(opt, cfg: dict, total: int):
    from transformers import get_scheduler

    name = cfg.get("lr_schedule", "constant")
    warm = int(round(float(cfg.get("warmup_ratio", 0.0)) * total))
    try:
        return get_scheduler(name, opt, num_warmup_steps=warm, num_training_steps=total)
    except ValueError as e:
        raise InputError(f"training.lr_schedule: {e}") from None


class _Cycler:
    """Endless seeded passes over range(n): a fresh permutation every pass."""

    def __init__(self, n: int, gen: torch.Generator):
        self.n, self.gen, self.order, self.passes = n, gen, [], 0

    def take(self, k: int) -> list[int]:
        out = []
        while len(out) < k:
            if not self.order:
                self.order = torch.randperm(self.n, generator=self.gen).tolist()
                self.passes += 1
            out.append(self.order.pop())
        return out


def _probe_score(row: dict) -> tuple:
    return (row.get("probe_success", 0.0), row.get("probe_train_acc", 0.0), row["step"])


def train_adapter(student_path: str, examples: list[SFTExample], train_cfg: dict, seed: int,
                  out_dir: str | Path, device: str = "auto", probe: Callable[[Policy], dict] | None = None,
                  metrics_path: str | Path | None = None, log: Callable[[str], None] = _log.info,
                  batch_size_eval: int = 256, replay: list[SFTExample] = (),
                  on_row: Callable[[dict], None] | None = None) -> dict:
    """Train a fresh LoRA adapter on `examples` and save it to `out_dir` (peft
    `save_pretrained`, written atomically). Deterministic for a seed on CPU.

    train_cfg keys: lora_rank, lora_alpha, lora_dropout, target_modules, batch_size, lr;
    the budget (plan_steps: budget steps|examples|epochs, budget_value or epochs);
    optionally weight_decay (0), lr_schedule ('constant'), warmup_ratio (0), max_grad_norm
    (1.0), kl_weight (0: KL(BASE || adapted) on the action positions; kl_scope 'batch' = of
    every example, 'replay' = of the replay items only), replay_share (0:
    share of each batch drawn from `replay`, the student's own solved behaviour),
    probe_every (0 = only at the end), max_probes (0: probe_interval), grad_accum (1: micro-batches of batch_size per step,
    KL guard included), gradient_checkpointing ('auto': use_checkpointing), checkpoint ('last' | 'best_probe': keep the
    probed checkpoint with the best probe success, ties -> probe train accuracy -> later).
    `on_row(row)` sees each metrics row as it is made (the live W&B hook,
    registry/wandb_mirror.live_logger). Returns a summary dict (n_examples, steps, budget plan, final_loss, probe rows,
    chosen checkpoint, wall_time_s, device, dtype, ...)."""
    check_train_cfg(train_cfg)
    if not examples:
        raise InputError("train_adapter: no training examples")
    plan = plan_steps(train_cfg, len(examples))
    if plan["replay_per_step"] and not replay:
        raise InputError("training.replay_share > 0 but the replay set is empty (results/phase2/replay_set.json "
                         "says why: BASE solved no replay task, or no train snapshot reaches training.replay_min_p)")
    t0 = time.perf_counter()
    model, tok = load_model_and_tokenizer(student_path, None, device)
    dev = next(model.parameters()).device
    model = attach_lora(model, train_cfg, seed)
    checkpointing = use_checkpointing(train_cfg.get("gradient_checkpointing", "auto"), dev, student_path)
    if checkpointing:
        enable_checkpointing(model)
    data = encode(tok, examples)
    rep = encode(tok, list(replay)) if plan["replay_per_step"] else []
    n_tokens = sum(len(x) for x, _ in data)
    n_target = sum(sum(1 for t in y if t != -100) for _, y in data)
    total = plan["steps"]
    opt = torch.optim.AdamW(trainable_parameters(model), lr=float(train_cfg["lr"]),
                            weight_decay=float(train_cfg.get("weight_decay", 0.0)))
    sched = _schedule(opt, train_cfg, total)
    gen = torch.Generator().manual_seed(int(seed))
    main_c = _Cycler(len(data), gen)
    rep_c = _Cycler(len(rep), torch.Generator().manual_seed(derive_seed(int(seed), "replay"))) if rep else None
    clip = train_cfg.get("max_grad_norm", 1.0)
    kl_w = float(train_cfg.get("kl_weight", 0.0))
    # kl_scope replay: the guard holds BASE on the replay rows (after the run's rows in a
    # batch) and leaves the run's own examples to the cross-entropy
    kl_rows = slice(plan["run_examples_per_step"], None) if train_cfg.get("kl_scope", "batch") == "replay" else None
    every = probe_interval(train_cfg, total)
    keep_best = train_cfg.get("checkpoint", "last") == "best_probe" and probe is not None
    rows: list[dict] = []
    best: dict = {}

    def write_metrics():
        if metrics_path is not None:
            write_jsonl(metrics_path, rows)

    def run_probe(step: int):
        if probe is None:
            return
        pr = probe(Policy(model, tok, batch_size_eval), step)
        row = {"step": step, "epoch": main_c.passes, **pr}
        rows.append(row)
        if on_row:
            on_row(row)
        log(f"probe step {step}: " + " ".join(f"{k} {v:.3f}" for k, v in pr.items()))
        # step 0 is BASE itself (zero-effect adapter): never a candidate, so the rule can
        # not "win" by not training
        if keep_best and step > 0 and (not best or _probe_score(row) > _probe_score(best["row"])):
            best.update(row=row, state={k: v.detach().clone() for k, v in model.named_parameters()
                                        if v.requires_grad})

    log(f"train_adapter: {len(data)} examples, {n_tokens} tokens ({n_target} target), {total} steps "
        f"(budget {plan['budget']} {plan['budget_value']}; {plan['run_examples_per_step']} run + "
        f"{plan['replay_per_step']} replay per step, {len(rep)} replay items), kl_weight {kl_w}, "
        f"device {dev}, dtype {pick_dtype(dev)}, gradient checkpointing {'on' if checkpointing else 'off'}")
    run_probe(0)
    # a bar in a terminal only (disable=None): Snakemake logs stay free of bar redraws
    bar = progress(total=total, desc="train", unit="step", leave=False)
    for step in range(1, total + 1):
        batch = [data[j] for j in main_c.take(plan["run_examples_per_step"])]
        if rep_c is not None:
            batch += [rep[j] for j in rep_c.take(plan["replay_per_step"])]
        lr = float(sched.get_last_lr()[0])
        st: dict = {}
        if plan["grad_accum"] == 1:
            loss = sft_step(model, opt, batch, tok.pad_token_id, dev, clip, sched, kl_weight=kl_w, stats=st,
                            kl_rows=kl_rows)
        else:  # the same step, in micro-batches of batch_size (memory of large students)
            mb = plan["micro_batch"]
            loss = sft_accum_step(model, opt, [batch[k : k + mb] for k in range(0, len(batch), mb)],
                                  tok.pad_token_id, dev, clip, sched, kl_weight=kl_w, stats=st, kl_rows=kl_rows)
        if not math.isfinite(loss):
            raise RuntimeError(f"non-finite loss at step {step} (lr {lr})")
        rows.append({"step": step, "epoch": main_c.passes, "loss": loss, "lr": lr, **st})
        bar.update(1)
        if on_row:
            on_row(rows[-1])
        if step % every == 0 or step == total:
            recent = [r["loss"] for r in rows[-every:] if "loss" in r]
            log(f"step {step}/{total}: mean loss {np.mean(recent):.4f}")
            run_probe(step)
            write_metrics()
    bar.close()
    chosen = {"rule": "last", "step": total}
    if keep_best and best:
        with torch.no_grad():
            params = dict(model.named_parameters())
            for k, v in best["state"].items():
                params[k].copy_(v)
        chosen = {"rule": "best_probe", "step": best["row"]["step"],
                  **{k: v for k, v in best["row"].items() if k.startswith("probe")}}
        log(f"checkpoint: best probe at step {chosen['step']} of {total}")
    model.eval()
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        sort_adapter_config(tmp)  # set order differs per process: sorted for byte-equal reruns
    losses = [r["loss"] for r in rows if "loss" in r]
    tail = losses[-min(len(losses), max(1, math.ceil(len(data) / plan["run_examples_per_step"]))):]
    probes = [r for r in rows if "loss" not in r]
    return {
        "n_examples": len(data), "n_tokens": n_tokens, "n_target_tokens": n_target, "n_replay": len(rep),
        "n_tokens_processed": sum(len(x) for x, _ in data) * plan["epochs_over_run_examples"],
        "steps": total, "epochs": plan["epochs_over_run_examples"], "budget": plan, "checkpoint": chosen,
        "final_loss": losses[-1] if losses else None, "first_loss": losses[0] if losses else None,
        "mean_loss_last_epoch": float(np.mean(tail)) if tail else None,
        "probe_first": {k: v for k, v in probes[0].items() if k.startswith("probe")} if probes else {},
        "probe_final": {k: v for k, v in probes[-1].items() if k.startswith("probe")} if probes else {},
        "metrics_rows": rows, "device": str(dev), "dtype": str(pick_dtype(dev)).replace("torch.", ""),
        "n_trainable_params": sum(p.numel() for p in trainable_parameters(model)),
        "adapter_path": str(out_dir), "wall_time_s": round(time.perf_counter() - t0, 3),
    }


def env_probe(cfg: dict, examples: list[SFTExample], base_success: float | None = None) -> Callable[..., dict] | None:
    """The probe of a phase-2 run from the config (training.probe_tasks tasks derived from
    the master seed, so every run and seed is probed on the same tasks; env,
    student.history, student.prompt_layout, env.max_steps); None when probes are off.
    `base_success`: BASE's probe success (base_probe_success), used at step 0 instead of
    rolling BASE out again."""
    from ..envs import env_from_config

    n = int(cfg["training"].get("probe_tasks", 0))
    n_ex = int(cfg["training"].get("probe_examples", 64))
    if n <= 0 and n_ex <= 0:
        return None
    return make_probe(partial(env_from_config, cfg["env"], expert=False) if n > 0 else None, n, cfg["seed"],
                      cfg["env"]["max_steps"], cfg["student"]["history"], examples, n_ex, base_success,
                      layout_of(cfg["student"]))


def base_probe_success(cfg: dict, student_path: str, device: str = "cpu", batch_size_eval: int = 256) -> float | None:
    """BASE's greedy success on the probe tasks, as train_adapter's step-0 probe measures it
    (the student loaded the same way, the same batch size): the same for every run and
    seed, so rule replay_set measures it once; None when probe_tasks is 0."""
    if int(cfg["training"].get("probe_tasks", 0)) <= 0:
        return None
    model, tok = load_model_and_tokenizer(student_path, None, device)
    return env_probe(cfg, [])(Policy(model, tok, batch_size_eval))["probe_success"]


def read_base_probe(info_path: str | Path | None) -> float | None:
    """base_probe_success from rule replay_set's summary JSON (None: not given or absent)."""
    if not info_path:
        return None
    from ..io import read_json

    return read_json(info_path).get("base_probe_success")

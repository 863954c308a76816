#!/usr/bin/env python
"""GPU check: can a hub-size student score and train on this card, and how fast?

Random-init models of hub architectures (Qwen2 shapes of 0.5B, 1.5B and 7B parameters),
built here on the device: no download. The tokenizer is a byte-level BPE trained on the
env's own prompts (teachable.student.build_subword_tokenizer: multi-token actions, as a hub
tokenizer gives); the model keeps the hub vocabulary size, so embeddings and logits cost
what they cost there. Per model size it measures:

  scoring   - episode-steps/s of the rollout engine (run_episodes, prefix reuse on), of the
              naive loop (one full forward per (prompt, action)) and of the pure forward
              (one forward over exactly the prompt batches the engine scored)
  budget    - peak device memory and engine throughput per student.max_batch_tokens
              (a few fixed budgets and 'auto')
  largest   - the most prompts one scoring forward holds before a CUDA OOM (doubling), and
              the largest LoRA micro-batch a training step holds
  lora      - LoRA step time and peak memory with and without gradient checkpointing, with
              and without the KL guard (its base forward doubles a step's forwards)

Writes one JSON (--out) and a markdown table beside it (.md). On a GPU: a few minutes
(`python benchmarks/gpu_check.py`); `--cpu-tiny` runs every measurement on a tiny model on
CPU in seconds (the test suite does; memory is then not measured). Timings are this
machine's; nothing here is asserted by the tests."""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rollout_throughput import naive  # noqa: E402  (the naive loop of the throughput benchmark)

from teachable.config import load_config  # noqa: E402
from teachable.envs import env_from_config  # noqa: E402
from teachable.io import derive_seed  # noqa: E402
from teachable.policy import OOM_ERRORS, Policy, auto_token_budget, model_shape, token_bytes  # noqa: E402
from teachable.prompts import layout_of  # noqa: E402
from teachable.engine import EpisodeSpec, run_episodes  # noqa: E402
from teachable.training.formats import SFTExample  # noqa: E402
from teachable.training.lora import attach_lora, enable_checkpointing, encode, sft_step  # noqa: E402

# Qwen2.5 shapes (config.json of the hub models); "tiny" is the CPU mode's
SIZES = {
    "0.5B": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                 num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "1.5B": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                 num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "7B": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
               num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=None, tie_word_embeddings=True),
}
LORA = {"lora_rank": 16, "lora_alpha": 32, "lora_dropout": 0.0, "target_modules": "all-linear"}


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def peak_reset(dev):
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)


def peak_gib(dev) -> float | None:
    return round(torch.cuda.max_memory_allocated(dev) / 2**30, 3) if dev.type == "cuda" else None


def timed(fn, dev):
    sync(dev)
    t = time.perf_counter()
    out = fn()
    sync(dev)
    return time.perf_counter() - t, out


def build_model(size: str, tok, dev, dtype):
    """A random-init Qwen2 model of the hub shape `size`, built on the device (seeded)."""
    from transformers import AutoModelForCausalLM, Qwen2Config

    shape = dict(SIZES[size])
    shape["vocab_size"] = shape["vocab_size"] or len(tok)
    conf = Qwen2Config(**shape, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                       pad_token_id=tok.pad_token_id, max_position_embeddings=4096)
    torch.manual_seed(0)
    with torch.device(dev):
        model = AutoModelForCausalLM.from_config(conf, dtype=dtype)
    return model.eval()


def workload(cfg, n_episodes: int, max_steps: int):
    """Expert episodes of the env (their prompts train the tokenizer and make the LoRA
    examples) and the benchmark's episode specs."""
    mk = partial(env_from_config, cfg["env"])
    seeds = [derive_seed(cfg["seed"], "gpu_check", i) for i in range(n_episodes)]
    specs = [EpisodeSpec(f"g{i}", seed=s, max_steps=max_steps, sample_seed=s) for i, s in enumerate(seeds)]
    demo = run_episodes(None, mk, [EpisodeSpec(f"d{i}", seed=s, mode="expert", max_steps=max_steps)
                                   for i, s in enumerate(seeds)],
                        history_len=cfg["student"]["history"], record_steps=True, layout=layout_of(cfg["student"]))
    examples = [SFTExample(f"d{i}_{r.t}", "demo", r.prompt, r.action, tuple(r.valid_actions))
                for i, res in enumerate(demo) for r in res.records]
    return specs, seeds, examples


def scoring(model, tok, cfg, specs, seeds, args, dev) -> dict:
    """Engine vs naive loop vs pure forward, episode-steps/s (engine at 'auto' budget)."""
    hist, layout = cfg["student"]["history"], layout_of(cfg["student"])
    mk = partial(env_from_config, cfg["env"], expert=False)
    pol = Policy(model, tok, batch_size=len(specs), max_batch_tokens="auto")
    run_episodes(pol, mk, specs[:2], temperature=1.0, history_len=hist, layout=layout)  # warm-up
    scored: list[list[str]] = []
    score = pol.score
    pol.score = lambda p, c, *reuse: scored.append(list(p)) or score(p, c, *reuse)
    t_eng, res = timed(lambda: run_episodes(pol, mk, specs, temperature=1.0, history_len=hist, layout=layout), dev)
    pol.score = score
    steps = sum(r.steps for r in res)
    t_naive, (steps_naive, prompts, cands) = timed(
        lambda: naive(pol, mk, seeds[: args.naive_episodes], args.naive_steps, hist, 1.0, layout), dev)
    encoded = []
    for batch in scored:
        ids = [pol._prompt_ids(p) for p in batch]
        w = max(map(len, ids))
        encoded.append((torch.tensor([[tok.pad_token_id] * (w - len(x)) + x for x in ids], device=dev),
                        torch.tensor([[0] * (w - len(x)) + [1] * len(x) for x in ids], device=dev)))

    def forward_all():
        with torch.no_grad():
            for ids, mask in encoded:
                model(input_ids=ids, attention_mask=mask, logits_to_keep=1)

    t_fwd, _ = timed(forward_all, dev)
    eng, nai, fwd = steps / t_eng, steps_naive / t_naive, steps / t_fwd
    return {"engine_steps_per_s": round(eng, 2), "naive_steps_per_s": round(nai, 2),
            "forward_steps_per_s": round(fwd, 2), "engine_vs_naive": round(eng / nai, 2),
            "engine_vs_forward": round(eng / fwd, 3), "steps": steps, "naive_steps": steps_naive,
            "auto_budget": pol.max_batch_tokens, "oom_halvings": pol.oom_halvings,
            "prompt_tokens_mean": round(float(np.mean([len(pol._prompt_ids(p)) for p in prompts])), 1),
            "candidates_mean": round(float(np.mean([len(c) for c in cands])), 2),
            "candidate_tokens_mean": round(float(np.mean([len(pol._cand_ids(a)) for c in cands for a in c])), 2)}


def budgets(model, tok, cfg, specs, args, dev) -> list[dict]:
    """Peak memory and engine throughput per student.max_batch_tokens."""
    hist, layout = cfg["student"]["history"], layout_of(cfg["student"])
    mk = partial(env_from_config, cfg["env"], expert=False)
    rows = []
    for b in [*args.budgets, "auto"]:
        pol = Policy(model, tok, batch_size=len(specs), max_batch_tokens=b)
        peak_reset(dev)
        t, res = timed(lambda: run_episodes(pol, mk, specs, temperature=1.0, history_len=hist, layout=layout), dev)
        rows.append({"max_batch_tokens": b, "resolved": pol.max_batch_tokens, "peak_gib": peak_gib(dev),
                     "engine_steps_per_s": round(sum(r.steps for r in res) / t, 2), "oom_halvings": pol.oom_halvings})
    return rows


def largest_scoring_batch(model, tok, prompts, cands, cap: int, dev) -> dict:
    """Doubling the prompts of one scoring call (no token budget) until a CUDA OOM halves it."""
    best, n = None, 8
    while n <= cap:
        pol = Policy(model, tok, batch_size=n, max_batch_tokens=None)
        reps = -(-n // len(prompts))
        try:
            pol.score((prompts * reps)[:n], (cands * reps)[:n])
        except OOM_ERRORS:
            break
        if pol.oom_halvings:
            break
        best, n = n, 2 * n
        peak_reset(dev)
    return {"largest_prompts": best, "cap": cap, "hit_oom": n <= cap}


def lora(model, tok, examples, args, dev) -> dict:
    """LoRA step time (median of --lora-steps after one warm-up) and peak memory with and
    without gradient checkpointing and the KL guard; then the largest micro-batch (doubling)."""
    pm = attach_lora(model, LORA, 0)
    data = encode(tok, examples)
    batch = (data * (-(-args.lora_batch // len(data))))[: args.lora_batch]
    rows = []
    for ckpt in (False, True):
        if ckpt:
            enable_checkpointing(pm)
        for kl in (0.0, 5.0):
            opt = torch.optim.AdamW([p for p in pm.parameters() if p.requires_grad], lr=1e-4)
            sft_step(pm, opt, batch, tok.pad_token_id, dev, 1.0, kl_weight=kl)  # warm-up
            peak_reset(dev)
            times = [timed(lambda: sft_step(pm, opt, batch, tok.pad_token_id, dev, 1.0, kl_weight=kl), dev)[0]
                     for _ in range(args.lora_steps)]
            rows.append({"checkpointing": ckpt, "kl_weight": kl, "batch": len(batch),
                         "step_s": round(float(np.median(times)), 4), "peak_gib": peak_gib(dev)})
    largest, n = None, args.lora_batch
    while n <= args.max_lora_batch:
        opt = torch.optim.AdamW([p for p in pm.parameters() if p.requires_grad], lr=1e-4)
        try:
            sft_step(pm, opt, (data * (-(-n // len(data))))[:n], tok.pad_token_id, dev, 1.0, kl_weight=5.0)
        except OOM_ERRORS:
            break
        largest, n = n, 2 * n
        del opt
        peak_reset(dev)
    pm.unload()  # the plain model again
    return {"steps": rows, "largest_micro_batch": largest, "largest_cap": args.max_lora_batch,
            "largest_with": "checkpointing on, kl_weight 5"}


def na(v, text: str = "n/a"):
    """A value for the table; None (not measured: memory on CPU) as `text`."""
    return text if v is None else v


def table(res: dict) -> str:
    out = [f"GPU check on {res['device_name']} ({res['dtype']}, torch {res['torch']}); "
           f"{res['episodes']} episodes of <= {res['max_steps']} steps on {res['env']}", "",
           "| model | params | engine steps/s | engine / naive | engine / forward | auto budget (tokens) | "
           "peak GiB per budget | largest scoring batch | LoRA step s (ckpt off / on) | same + KL guard | "
           "peak GiB (off / on, KL) | largest LoRA batch |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in res["models"]:
        if "error" in m:
            out.append(f"| {m['size']} | - | {m['error']} |" + " |" * 10)
            continue
        s, lo = m["scoring"], {(r["checkpointing"], r["kl_weight"]): r for r in m["lora"]["steps"]}
        pk = ", ".join(f"{b['max_batch_tokens']}: {na(b['peak_gib'])}" for b in m["budgets"])
        n = m["params"]
        params = f"{n / 1e9:.2f}B" if n >= 1e8 else f"{n / 1e6:.2f}M"
        out.append(
            f"| {m['size']} | {params} | {s['engine_steps_per_s']} | {s['engine_vs_naive']}x | "
            f"{100 * s['engine_vs_forward']:.0f}% | {na(s['auto_budget'], 'none (CPU)')} | {pk} | {m['largest']['largest_prompts']} | "
            f"{lo[(False, 0.0)]['step_s']} / {lo[(True, 0.0)]['step_s']} | "
            f"{lo[(False, 5.0)]['step_s']} / {lo[(True, 5.0)]['step_s']} | "
            f"{na(lo[(False, 5.0)]['peak_gib'])} / {na(lo[(True, 5.0)]['peak_gib'])} | {m['lora']['largest_micro_batch']} |")
    return "\n".join(out) + "\n"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="config/config.yaml", help="the env the episodes come from")
    ap.add_argument("--sizes", nargs="+", default=["0.5B", "1.5B", "7B"], choices=list(SIZES))
    ap.add_argument("--cpu-tiny", action="store_true",
                    help="the tiny model on CPU with small workloads (the test suite's mode; seconds)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--episodes", type=int, default=64)
    ap.add_argument("--max-steps", type=int, default=32)
    ap.add_argument("--naive-episodes", type=int, default=2)
    ap.add_argument("--naive-steps", type=int, default=8)
    ap.add_argument("--budgets", nargs="*", type=int, default=[4096, 16384, 65536])
    ap.add_argument("--max-scoring-batch", type=int, default=4096)
    ap.add_argument("--lora-batch", type=int, default=8)
    ap.add_argument("--max-lora-batch", type=int, default=256)
    ap.add_argument("--lora-steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="results/gpu_check/gpu_check.json")
    args = ap.parse_args(argv)
    if args.cpu_tiny:
        args.sizes, args.device = ["tiny"], "cpu"
        args.episodes, args.max_steps, args.naive_episodes, args.naive_steps = 6, 6, 1, 4
        args.budgets, args.max_scoring_batch, args.max_lora_batch, args.lora_steps = [256], 32, 8, 1
        args.lora_batch = 4
    torch.set_num_threads(args.threads)
    from teachable.policy import pick_device, pick_dtype
    from teachable.student import build_subword_tokenizer

    dev = pick_device(args.device)
    dtype = pick_dtype(dev)
    cfg = load_config(args.config)
    specs, seeds, examples = workload(cfg, args.episodes, args.max_steps)
    tok = build_subword_tokenizer([e.prompt + " " + e.action for e in examples] * 2, vocab_size=2000)
    prompts = [e.prompt for e in examples]
    cands = [list(e.valid_actions) for e in examples]
    res = {"device": str(dev), "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU",
           "dtype": str(dtype).replace("torch.", ""), "torch": torch.__version__, "env": cfg["env"]["name"],
           "episodes": args.episodes, "max_steps": args.max_steps, "models": []}
    t_all = time.perf_counter()
    for size in args.sizes:
        t0 = time.perf_counter()
        row: dict = {"size": size}
        try:
            model = build_model(size, tok, dev, dtype)
            row["params"] = sum(p.numel() for p in model.parameters())
            row["token_bytes"] = token_bytes(model_shape(model.config), next(model.parameters()).element_size())
            row["auto_budget"] = auto_token_budget(model)
            parts = {"scoring": lambda: scoring(model, tok, cfg, specs, seeds, args, dev),
                     "budgets": lambda: budgets(model, tok, cfg, specs, args, dev),
                     "largest": lambda: largest_scoring_batch(model, tok, prompts, cands, args.max_scoring_batch, dev),
                     "lora": lambda: lora(model, tok, examples, args, dev)}
            row["section_s"] = {}
            for name, fn in parts.items():
                t1 = time.perf_counter()
                row[name] = fn()
                row["section_s"][name] = round(time.perf_counter() - t1, 2)
        except OOM_ERRORS as e:  # the model itself does not fit: recorded, the next size still runs
            row["error"] = f"out of memory ({' '.join(str(e).split())[:120]})"
        row["wall_s"] = round(time.perf_counter() - t0, 1)
        res["models"].append(row)
        print(json.dumps(row), flush=True)
        model = None
        peak_reset(dev)
    res["wall_s"] = round(time.perf_counter() - t_all, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    out.with_suffix(".md").write_text(table(res))
    print(table(res))
    print(f"-> {out}, {out.with_suffix('.md')}")
    return res


if __name__ == "__main__":
    main()

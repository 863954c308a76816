#!/usr/bin/env python
"""Rollout throughput, measured side by side in one run on the same model and tasks:

  batched  - the lock-step engine (one batched forward per step for all live episodes
             and their candidate actions, prompt KV cache reused for candidates, each
             episode's prompt prefix reused from its last step), on the env as phase 0 and
             labeling use it (BabyAI's bot replanned every step) and as evaluation uses it
             (expert=False: no bot); and without the prefix reuse (student.reuse_prefix:
             false), no bot
  naive    - one episode at a time, one full forward per (prompt, action), no bot
  forward  - the pure forward-pass limit: one forward over exactly the prompt batches the
             engine scored (recorded from one engine run), no env, no tokenization, no
             candidates

Prints episode-steps per second for each and the ratios batched/naive and
batched/forward, for the pilot student and for a wider model of the same architecture.
Any config works: `--config config/textworld.yaml` (after that config's student is built)
measures TextWorld, with 5-30 admissible commands of several tokens per step."""

import argparse
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

from teachable.config import load_config
from teachable.envs import env_from_config
from teachable.io import derive_seed
from teachable.policy import Policy, load_model_and_tokenizer, softmax
from teachable.prompts import check_student_layout, layout_of
from teachable import engine
from teachable.engine import EpisodeSpec, inverse_cdf, run_episodes


def naive(policy, mk, seeds, max_steps, history_len, temperature, layout):
    from teachable.prompts import build_prompt

    steps = 0
    prompts, cands = [], []
    for s in seeds:
        env = mk()
        obs, hist = env.reset(s), []
        rng = np.random.default_rng(s)
        for _ in range(max_steps):
            prompt = build_prompt(obs.mission, obs.text, hist[-history_len:] if history_len else [], "", layout)
            prompts.append(prompt)
            cands.append(list(obs.valid_actions))
            lp = np.array([policy.score_unbatched(prompt, [a])[0] for a in obs.valid_actions])
            if temperature > 0:
                a = obs.valid_actions[inverse_cdf(softmax(lp, temperature), rng.random())]
            else:
                a = obs.valid_actions[int(np.argmax(lp))]
            obs, _, done, _ = env.step(a)
            hist.append(a)
            steps += 1
            if done:
                break
    return steps, prompts, cands


def measure(model, tok, cfg, args) -> dict:
    """Episode-steps per second of the engine (bot tracked / no bot), the naive loop and
    the pure forward, for one model on the same tasks."""
    policy = Policy(model, tok, batch_size=max(args.episodes, 1))
    mk = partial(env_from_config, cfg["env"])
    mk_free = partial(env_from_config, cfg["env"], expert=False)
    hist, max_steps = cfg["student"]["history"], cfg["env"]["max_steps"]
    layout = layout_of(cfg["student"])  # the student's prompt layout (student.prompt_layout)
    seeds = [derive_seed(cfg["seed"], "bench", i) for i in range(args.episodes)]
    specs = [EpisodeSpec(f"b{i}", seed=s, max_steps=max_steps, sample_seed=s) for i, s in enumerate(seeds)]
    temp = args.temperature

    run_episodes(policy, mk, specs[:4], temperature=temp, history_len=hist, layout=layout)  # warm-up

    def best(fn):
        """Best (shortest) of `repeats` timings: the machine's noise only ever adds time."""
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t)
        return min(times), out

    t_batched, res = best(lambda: run_episodes(policy, mk, specs, temperature=temp, history_len=hist, layout=layout))
    steps_batched = sum(r.steps for r in res)
    live_per_step = [sum(r.steps > k for r in res) for k in range(max(r.steps for r in res))]
    t_free, res_free = best(lambda: run_episodes(policy, mk_free, specs, temperature=temp, history_len=hist,
                                                 layout=layout))
    assert [r.steps for r in res_free] == [r.steps for r in res], "the bot changed the dynamics"
    engine.REUSE_PREFIX = False
    t_whole, res_whole = best(lambda: run_episodes(policy, mk_free, specs, temperature=temp, history_len=hist,
                                                   layout=layout))
    engine.REUSE_PREFIX = True
    assert [r.actions for r in res_whole] == [r.actions for r in res_free], "prefix reuse changed the rollouts"
    policy.prompt_tokens = {"encoded": 0, "reused": 0}
    run_episodes(policy, mk_free, specs, temperature=temp, history_len=hist, layout=layout)
    reused_share = policy.prompt_tokens["reused"] / sum(policy.prompt_tokens.values())
    t_naive, (steps_naive, prompts, cands) = best(
        lambda: naive(policy, mk_free, seeds[: args.naive_episodes], max_steps, hist, temp, layout))
    workload = {"prompt_tokens": float(np.mean([len(policy._prompt_ids(p)) for p in prompts])),
                "candidates": float(np.mean([len(c) for c in cands])),
                "candidate_tokens": float(np.mean([len(policy._cand_ids(a)) for c in cands for a in c]))}

    # pure forward over exactly the prompt batches the engine scored (one engine run
    # recorded; episodes in the same situation share one prompt there), left-padded as the
    # engine pads them
    scored: list[list[str]] = []
    score = policy.score
    policy.score = lambda p, c, *reuse: scored.append(list(p)) or score(p, c, *reuse)
    run_episodes(policy, mk_free, specs, temperature=temp, history_len=hist, layout=layout)
    policy.score = score
    encoded = []
    for batch in scored:
        ids = [policy._prompt_ids(p) for p in batch]
        width = max(map(len, ids))
        encoded.append({"input_ids": torch.tensor([[tok.pad_token_id] * (width - len(x)) + x for x in ids]),
                        "attention_mask": torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids])})
    workload["scored_per_step"] = float(np.mean([len(b) for b in scored]))
    workload["live_per_step"] = float(np.mean(live_per_step))

    def forward_all():
        with torch.no_grad():
            for enc in encoded:
                model(**{k: v.to(policy.device) for k, v in enc.items()}, logits_to_keep=1)

    t_fwd, _ = best(forward_all)
    return {"params": sum(p.numel() for p in model.parameters()), "device": str(policy.device),
            "steps": steps_batched, "naive_steps": steps_naive, **workload, "batched": steps_batched / t_batched,
            "no_bot": steps_batched / t_free, "no_reuse": steps_batched / t_whole, "reused_share": reused_share,
            "naive": steps_naive / t_naive, "forward": steps_batched / t_fwd}


def report(name: str, r: dict, episodes: int, threads: int) -> None:
    print(f"\n{name}: {r['params']:,} parameters on {r['device']}; {episodes} episodes, {r['steps']} steps, "
          f"{threads} threads")
    print(f"  per step (naive loop's states): {r['prompt_tokens']:.0f} prompt tokens, {r['candidates']:.1f} "
          f"candidates of {r['candidate_tokens']:.1f} tokens; engine: {r['live_per_step']:.1f} live episodes, "
          f"{r['scored_per_step']:.1f} distinct prompts scored")
    print(f"  batched engine, bot tracked : {r['batched']:9.1f} episode-steps/s")
    print(f"  batched engine, no bot      : {r['no_bot']:9.1f} episode-steps/s "
          f"({100 * r['reused_share']:.0f}% of prompt tokens reused from the last step)")
    print(f"  same, no prefix reuse       : {r['no_reuse']:9.1f} episode-steps/s")
    print(f"  naive loop, no bot          : {r['naive']:9.1f} episode-steps/s ({r['naive_steps']} steps)")
    print(f"  pure forward                : {r['forward']:9.1f} episode-steps/s")
    print(f"  batched / naive   = {r['batched'] / r['naive']:.1f}x with the bot, {r['no_bot'] / r['naive']:.1f}x "
          "without (target >= 10x)")
    print(f"  batched / forward = {100 * r['batched'] / r['forward']:.0f}% with the bot, "
          f"{100 * r['no_bot'] / r['forward']:.0f}% without (target >= 70%); without prefix reuse "
          f"{100 * r['no_reuse'] / r['forward']:.0f}% (the forward encodes every prompt whole)")
    print(f"  prefix reuse      = {r['no_bot'] / r['no_reuse']:.2f}x (no bot)")


def wider(model, hidden: int, layers: int):
    """A randomly initialised model of the student's architecture and tokenizer, wider and
    deeper (seeded): where the forward pass, not the environment, dominates a step, as it
    does for hub-size LMs. Weights do not matter for throughput; all four measurements use
    the same model."""
    from transformers import AutoModelForCausalLM

    cfg = model.config.to_dict()
    cfg.update(hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers,
               num_attention_heads=hidden // 64, num_key_value_heads=hidden // 64, head_dim=64)
    torch.manual_seed(0)
    conf = type(model.config).from_dict(cfg)
    return AutoModelForCausalLM.from_config(conf).to(model.device).eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="config/config.yaml")
    ap.add_argument("--student", default="results/student/base")
    ap.add_argument("--episodes", type=int, default=64)
    ap.add_argument("--naive-episodes", type=int, default=8, help="the naive loop is slow: fewer episodes")
    ap.add_argument("--repeats", type=int, default=3, help="each measurement's best of this many runs")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--wide", default="", help="HIDDEN:LAYERS of a wider model measured too, e.g. 512:8 (slow)")
    ap.add_argument("--max-steps", type=int, default=None, help="episode length cap (default: env.max_steps)")
    ap.add_argument("--temperature", type=float, default=0.0,
                    help="0: greedy episodes; > 0: sampled ones (each episode its own sample seed). With a small "
                         "pool of games (TextWorld) greedy episodes of one game are identical and the engine scores "
                         "them once, which the forward limit does not; sample there (1.0)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config)
    if args.max_steps:
        cfg["env"]["max_steps"] = args.max_steps
    if not Path(args.student).exists():
        raise SystemExit(f"{args.student}: no student; run `make pilot` (or the build_student rule) first")
    check_student_layout(args.student, cfg["student"])
    model, tok = load_model_and_tokenizer(args.student, device=cfg["student"]["device"])
    print(f"best of {args.repeats} runs per measurement")
    print(f"prompt layout {layout_of(cfg['student'])} (student.prompt_layout)")
    report("pilot student", measure(model, tok, cfg, args), args.episodes, args.threads)
    if args.wide:
        hidden, layers = (int(v) for v in args.wide.split(":"))
        big = wider(model, hidden, layers)
        report(f"wider model ({hidden} hidden, {layers} layers, random init)", measure(big, tok, cfg, args),
               args.episodes, args.threads)


if __name__ == "__main__":
    main()

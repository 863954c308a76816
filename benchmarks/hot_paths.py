#!/usr/bin/env python
"""Three hot paths of the pilot, each timed side by side with what it replaced, in one run:

  rankdata   - teachable.stats._util.rankdata against scipy.stats.rankdata on a 24-value
               vector (one call per cluster-bootstrap resample in cpt_correlation and
               label_reliability)
  resamples  - the two-level bootstrap's count weights (stats.hierarchical.resamples) drawn
               once and reused against drawn on every call (a phase-3 table draws the same
               design's weights for each of its comparisons)
  adapter    - a scoring forward of a pilot-size model (random init) with a LoRA adapter
               folded into its weights (an acting load) against peft's unmerged forward
  env step   - a BabyAI episode step with render 'slots', the level's image skipped, against
               the plain minigrid level (its egocentric image built every step)

Prints microseconds per call (or per step) and the ratio; checks that both sides agree."""

import argparse
import random
import time

import numpy as np
from scipy import stats as sstats

from teachable.envs import babyai
from teachable.stats import hierarchical
from teachable.stats._util import rankdata


def per_call(fn, n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e6


def play(env, n_seeds: int) -> tuple[list, int]:
    rng, out, steps = random.Random(0), [], 0
    for seed in range(n_seeds):
        o = env.reset(seed)
        for _ in range(40):
            o, r, done, _ = env.step(rng.choice(o.valid_actions))
            steps += 1
            out.append((o.text, r, None if done else env.expert_action()))
            if done:
                break
    return out, steps


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--episodes", type=int, default=200, help="BabyAI episodes per side")
    args = p.parse_args()
    rows = []

    x = np.random.default_rng(0).integers(0, 6, 24).astype(float)
    assert np.array_equal(rankdata(x), sstats.rankdata(x))
    rows.append(("rankdata (24 values)", per_call(lambda: rankdata(x), 5000),
                 per_call(lambda: sstats.rankdata(x), 5000), "us/call"))

    def drawn_each_time():
        hierarchical._resamples.cache_clear()
        return hierarchical.resamples(3, 64, 9999, 0)

    hierarchical.resamples(3, 64, 9999, 0)
    rows.append(("resamples (3 seeds x 64 tasks, 9999)", per_call(lambda: hierarchical.resamples(3, 64, 9999, 0), 20),
                 per_call(drawn_each_time, 20), "us/call"))

    plain_fn = babyai._without_image
    t = time.perf_counter()
    fast, n_fast = play(babyai.BabyAITextEnv(max_steps=40), args.episodes)
    t_fast = (time.perf_counter() - t) / n_fast * 1e6
    babyai._without_image = lambda level: level
    try:
        t = time.perf_counter()
        plain, n_plain = play(babyai.BabyAITextEnv(max_steps=40), args.episodes)
        t_plain = (time.perf_counter() - t) / n_plain * 1e6
    finally:
        babyai._without_image = plain_fn
    assert fast == plain, "the image-free level changed an episode"
    rows.append((f"BabyAI step, slots + shortest teacher ({n_fast} steps)", t_fast, t_plain, "us/step"))

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=400, hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512)
    lora = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], init_lora_weights=False)
    unmerged = get_peft_model(LlamaForCausalLM(cfg), lora).eval()
    merged = get_peft_model(LlamaForCausalLM(cfg), lora).eval()
    merged.load_state_dict(unmerged.state_dict())
    merged = merged.merge_and_unload()
    ids = torch.randint(4, 400, (32, 60))
    with torch.inference_mode():
        assert torch.allclose(unmerged(input_ids=ids).logits, merged(input_ids=ids).logits, atol=1e-4)
        fwd = [per_call(lambda m=m: m(input_ids=ids), 20) for m in (merged, unmerged, merged, unmerged)]
    rows.append(("scoring forward with a LoRA adapter (32 x 60 tokens)", min(fwd[0], fwd[2]), min(fwd[1], fwd[3]),
                 "us/call"))

    print(f"| path | new | old | old / new |\n|---|---|---|---|")
    for name, new, old, unit in rows:
        print(f"| {name} | {new:.1f} {unit} | {old:.1f} {unit} | {old / new:.2f} |")


if __name__ == "__main__":
    main()

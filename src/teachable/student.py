"""The offline default student (`student.base_model: bootstrap`).

A small Llama-architecture model is built from scratch with a word-level tokenizer fitted
to the environment's language and the patch templates, then warm-started by behaviour
cloning on expert demonstrations until it is partly competent. A share of the examples
carries in-context supervision (demo / hint / contrast text, and placebo text) so that
in-context patches can move it, as they move instruction-tuned LLMs; some of those patches
come from other states of the episode or are shams, so it learns to use advice that fits
the situation rather than copy any action a patch names (docs/labeling.md)."""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np
import torch

from .envs import TextEnv
from .io import atomic_dir, derive_seed, write_json
from .policy import Policy, pick_dtype
from .prompts import BUILD_REPORT, DEFAULT_LAYOUT, build_prompt, check_layout, patch_text
from .engine import EpisodeSpec, run_episodes

_log = logging.getLogger(__name__)  # progress lines (timestamps/levels from teachable.workflow.logs)

SPECIAL = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]


@dataclass
class Example:
    prompt: str
    action: str
    patch_kind: str = ""  # "", or one of PATCH_KINDS
    patch_action: str = ""  # the action the patch names ("" for none / placebo)


def default_diagnosis(mission: str, obs_text: str, action: str, subgoal: str | None,
                      student_action: str | None = None) -> str:
    """The bot teacher's diagnosis: the same language the hint patch uses later."""
    from .teacher.bot import bot_diagnosis

    return bot_diagnosis(mission, obs_text, action, subgoal, student_action)


PATCH_KINDS = ("here", "other_state", "sham", "placebo")  # warm-start patch sources
PATCH_KIND_WEIGHTS = (0.4, 0.3, 0.2, 0.1)


def _patch(kind: str, rng, here: dict, other: dict | None, diagnose: Callable) -> tuple[str, str]:
    """(patch text, the action it names) for one warm-start state.

    here: the patch is about this very state (its action is right now). other_state: the
    patch was written for another state of the same episode and carries that state's
    observation (its action is often not right now). sham: this state's observation, a
    random wrong action. The example's label stays this state's expert action, so the
    student learns to use advice that fits the situation, not to copy any action named."""
    src = here if kind in ("here", "sham") or other is None else other
    a, valid = src["action"], src["valid"]
    if kind == "placebo":
        return patch_text("placebo", situation=here["obs"]), ""
    wrong = [v for v in valid if v != a]
    cond = ("demo", "contrast", "hint")[int(rng.integers(3))]
    if kind == "sham":
        if not wrong:
            return patch_text("placebo", situation=here["obs"]), ""
        a = wrong[int(rng.integers(len(wrong)))]
        cond = ("demo", "contrast")[int(rng.integers(2))]  # a hint names no action to fake
        wrong = [here["action"]]
    wrong_a = wrong[int(rng.integers(len(wrong)))] if wrong else ""
    diag = diagnose(src["mission"], src["obs"], a, src["subgoal"], wrong_a) if cond == "hint" else ""
    return patch_text(cond, action=a, wrong_action=wrong_a, diagnosis=diag, situation=src["obs"]), a


def demo_states(make_env: Callable[[], TextEnv], n_tasks: int, seed: int, history_len: int, noise: float,
                max_steps: int, family_share: dict | None = None, advice_share: float = 0.0) -> list[list[dict]]:
    """Expert-labelled states, one list per task, from noisy expert rollouts (DAgger-style:
    a random valid action is executed with prob `noise`, the label is always the expert's).
    family_share {family: p} keeps a drawn task of that family with probability p (the
    warm-start's skill gap, bootstrap.family_share); other families are always kept, so
    fewer than n_tasks episodes come back when some p < 1. A task the gap drops is kept
    instead with probability `advice_share` as an advice-only episode: each of its states is
    marked `advice_only`, and add_patches gives every such state a right-now patch, so the
    gap's actions are known as advice, not as a policy (bootstrap.gap_advice_share)."""
    env = make_env()
    episodes = []
    share = dict(family_share or {})
    for i in range(n_tasks):
        rng = np.random.default_rng(derive_seed(seed, "bootstrap_demo", i))
        obs = env.reset(derive_seed(seed, "bootstrap_task", i))
        p_keep = float(share.get(getattr(env, "family", ""), 1.0))
        advice_only = False
        if p_keep < 1.0 and rng.random() >= p_keep:
            if not (advice_share > 0 and rng.random() < advice_share):
                continue
            advice_only = True
        hist: list[str] = []
        states = []
        for _ in range(max_steps):
            info = env.expert_info() if hasattr(env, "expert_info") else {"action": env.expert_action(), "subgoal": None}
            a = info["action"]
            states.append({"mission": obs.mission, "obs": obs.text, "valid": list(obs.valid_actions), "action": a,
                           "subgoal": info.get("subgoal"), "hist": hist[-history_len:] if history_len else []})
            if advice_only:
                states[-1]["advice_only"] = True
            act = a
            if rng.random() < noise:
                act = obs.valid_actions[int(rng.integers(len(obs.valid_actions)))]
            obs, _, done, _ = env.step(act)
            hist.append(act)
            if done:
                break
        episodes.append(states)
    return episodes


def add_patches(episodes: list[list[dict]], seed: int, patch_share: float, diagnose: Callable = default_diagnosis,
                weights: tuple[float, ...] = PATCH_KIND_WEIGHTS, layout: str = DEFAULT_LAYOUT) -> list[Example]:
    """Examples from demo_states: a share `patch_share` of the states carries a patch whose
    source is drawn from PATCH_KINDS with probabilities `weights` (see `_patch`);
    Example.patch_kind / patch_action record it. Prompts in `layout` (student.prompt_layout)."""
    w = np.asarray(weights, dtype=float)
    if w.shape != (len(PATCH_KINDS),) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"patch mix weights {list(weights)} must be {len(PATCH_KINDS)} non-negative numbers "
                         f"({', '.join(PATCH_KINDS)}) with a positive sum")
    w = w / w.sum()
    out: list[Example] = []
    for i, states in enumerate(episodes):
        prng = np.random.default_rng(derive_seed(seed, "bootstrap_patch", i))
        for t, st in enumerate(states):
            patch, named, kind = "", "", ""
            if st.get("advice_only"):  # a gap-family state: always a patch about itself
                patch, named = _patch("here", prng, st, None, diagnose)
                kind = "here"
            elif prng.random() < patch_share:
                kind = PATCH_KINDS[int(prng.choice(len(PATCH_KINDS), p=w))]
                others = [o for u, o in enumerate(states) if u != t]
                other = others[int(prng.integers(len(others)))] if others else None
                patch, named = _patch(kind, prng, st, other, diagnose)
            out.append(Example(build_prompt(st["mission"], st["obs"], st["hist"], patch, layout), st["action"],
                               kind, named))
    return out


def collect_demos(make_env: Callable[[], TextEnv], n_tasks: int, seed: int, history_len: int,
                  noise: float, patch_share: float, max_steps: int,
                  diagnose: Callable = default_diagnosis,
                  weights: tuple[float, ...] = PATCH_KIND_WEIGHTS, layout: str = DEFAULT_LAYOUT) -> list[Example]:
    """Warm-start examples: demo_states, then add_patches."""
    return add_patches(demo_states(make_env, n_tasks, seed, history_len, noise, max_steps), seed, patch_share,
                       diagnose, weights, layout)


def follow_states(make_env, seeds: list[int], max_steps: int, history_len: int, seed: int,
                  max_states: int = 300) -> list[tuple]:
    """States of expert rollouts of `seeds` (not the warm-start tasks) with at least two valid
    actions: (mission, obs, history, valid, expert action, a random other valid action,
    stale) where stale = (obs, action) of another state of the same episode whose action is
    valid and wrong here (a patch that was right there and is stale now, as a contextual
    patch is at later steps of a rollout), or None where the episode has none."""
    env = make_env()
    rng = np.random.default_rng(derive_seed(seed, "bootstrap_follow"))
    rows = []
    for s in seeds:
        obs, hist = env.reset(s), []
        ep = []
        for _ in range(max_steps):
            a = env.expert_action()
            ep.append((obs.mission, obs.text, hist[-history_len:] if history_len else [], list(obs.valid_actions), a))
            obs, _, done, _ = env.step(a)
            hist.append(a)
            if done:
                break
        for t, (m, o, h, valid, a) in enumerate(ep):
            wrong = [v for v in valid if v != a]
            if not wrong:
                continue
            stale = [(o2, a2) for u, (_, o2, _, _, a2) in enumerate(ep) if u != t and a2 != a and a2 in valid and o2 != o]
            pick = stale[int(rng.integers(len(stale)))] if stale else None
            rows.append((m, o, h, valid, a, wrong[int(rng.integers(len(wrong)))], pick))
            if len(rows) >= max_states:
                return rows
    return rows


def follow_rates_on(policy: Policy, rows: list[tuple], layout: str = DEFAULT_LAYOUT) -> dict:
    """How often the greedy student picks the action a patch names, for patches whose
    action is right now (demo/contrast naming the expert action) and patches whose action
    is wrong now (naming a random other valid action), beside how often it picks that same
    action without a patch. `follow_gain` = follow_right_now - no_patch_picks_right. Prompts
    in `layout` (student.prompt_layout)."""
    prompts, cands = [], []
    k = 7
    for m, o, h, valid, a, w, *rest in rows:
        stale = rest[0] if rest else None
        so, sa = stale if stale else (o, a)
        for patch in ("", patch_text("demo", a, situation=o), patch_text("contrast", a, wrong_action=w, situation=o),
                      patch_text("demo", w, situation=o), patch_text("contrast", w, wrong_action=a, situation=o),
                      patch_text("demo", sa, situation=so), patch_text("contrast", sa, wrong_action=a, situation=so)):
            prompts.append(build_prompt(m, o, h, patch, layout))
            cands.append(valid)
    if not rows:
        return {"n_states": 0, "follow_right_now": None, "follow_wrong_now": None, "no_patch_picks_right": None,
                "no_patch_picks_wrong": None, "follow_gain": None, "discrimination": None, "follow_stale": None,
                "no_patch_picks_stale": None, "right_now_share": None, "wrong_now_move": None, "stale_move": None}
    scores = policy.score(prompts, cands)
    pick = [c[int(np.argmax(sc))] for sc, c in zip(scores, cands)]
    right = float(np.mean([pick[i * k + j] == r[4] for i, r in enumerate(rows) for j in (1, 2)]))
    wrong = float(np.mean([pick[i * k + j] == r[5] for i, r in enumerate(rows) for j in (3, 4)]))
    base_right = float(np.mean([pick[i * k] == r[4] for i, r in enumerate(rows)]))
    base_wrong = float(np.mean([pick[i * k] == r[5] for i, r in enumerate(rows)]))
    st = [(i, r[6][1]) for i, r in enumerate(rows) if len(r) > 6 and r[6]]
    stale = float(np.mean([pick[i * k + j] == sa for i, sa in st for j in (5, 6)])) if st else None
    base_stale = float(np.mean([pick[i * k] == sa for i, sa in st])) if st else None
    return {
        "n_states": len(rows),
        "follow_right_now": right,
        "follow_wrong_now": wrong,
        "no_patch_picks_right": base_right,
        "no_patch_picks_wrong": base_wrong,
        "follow_gain": right - base_right,
        # gain on right-now patches minus the gain on wrong-now ones (copying scores ~0)
        "discrimination": (right - base_right) - (wrong - base_wrong),
        # the targets of docs/design.md §4: of the states it gets wrong alone, the share a
        # right-now patch puts right (>= 0.5); how far a wrong-now patch moves it (<= 0.05)
        "right_now_share": (right - base_right) / (1 - base_right) if base_right < 1 else None,
        "wrong_now_move": wrong - base_wrong,
        # stale: a patch about another state of the episode, right there and wrong here
        "n_stale": len(st), "follow_stale": stale, "no_patch_picks_stale": base_stale,
        "stale_move": None if stale is None else stale - base_stale,
        "patches": "demo and contrast, framed as advice from a similar situation: right now and wrong now carry "
                   "this state's observation (wrong now names a random other valid action), stale carries the "
                   "other state's",
    }


def follow_rates(policy: Policy, make_env, seeds: list[int], max_steps: int, history_len: int,
                 seed: int, max_states: int = 300, layout: str = DEFAULT_LAYOUT) -> dict:
    """follow_rates_on the states of expert rollouts of `seeds` (see follow_states)."""
    return follow_rates_on(policy, follow_states(make_env, seeds, max_steps, history_len, seed, max_states), layout)


def build_tokenizer(texts: list[str], actions: tuple[str, ...] = ()):
    """Word-level tokenizer over the corpus; every action string is one token, so scoring
    all candidates of a state costs one forward pass (no continuation pass)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=SPECIAL, min_frequency=1))
    tk.post_processor = processors.TemplateProcessing(single="[BOS] $A", special_tokens=[("[BOS]", tk.token_to_id("[BOS]"))])
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="[BOS]", eos_token="[EOS]",
                                  pad_token="[PAD]", unk_token="[UNK]", padding_side="left")
    tok.add_tokens([a for a in actions if " " in a])
    return tok


def build_subword_tokenizer(texts: list[str], vocab_size: int = 2000):
    """Byte-level BPE over the corpus (open vocabularies such as TextWorld's): a game word
    never seen in the warm-start splits into known pieces instead of one unknown token;
    multi-token actions are scored through the KV-cache continuation path of Policy.score."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL, min_frequency=2,
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tk.post_processor = processors.TemplateProcessing(single="[BOS] $A", special_tokens=[("[BOS]", tk.token_to_id("[BOS]"))])
    return PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="[BOS]", eos_token="[EOS]",
                                   pad_token="[PAD]", unk_token="[UNK]", padding_side="left")


def make_bootstrap_tokenizer(cfg: dict, corpus: list[str], actions: tuple[str, ...]):
    """bootstrap.tokenizer: word (BabyAI's default: one token per action) | subword (BPE)."""
    kind = cfg.get("tokenizer", "word")
    if kind == "subword":
        return build_subword_tokenizer(corpus, int(cfg.get("vocab_size", 2000)))
    if kind != "word":
        from .io import InputError

        raise InputError(f"bootstrap.tokenizer: {kind!r} is not one of word, subword")
    return build_tokenizer(corpus, actions)


def build_model(tok, cfg: dict, seed: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    conf = LlamaConfig(
        vocab_size=len(tok), hidden_size=cfg["hidden_size"], intermediate_size=cfg["intermediate_size"],
        num_hidden_layers=cfg["num_layers"], num_attention_heads=cfg["num_heads"],
        num_key_value_heads=cfg["num_heads"], max_position_embeddings=cfg["max_positions"],
        tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    return LlamaForCausalLM(conf)


def encode_examples(tok, examples: list[Example]) -> list[tuple[list[int], list[int]]]:
    """(input_ids, labels) with the loss on the action tokens only."""
    from .policy import encode_action, encode_prompt  # the same encoding as Policy.score (raw or chat)

    out = []
    for ex in examples:
        p = encode_prompt(tok, ex.prompt)
        c = encode_action(tok, ex.action)
        out.append((p + c, [-100] * len(p) + c))
    return out


def collate(batch, pad_id: int):
    n = max(len(x) for x, _ in batch)
    ids = torch.full((len(batch), n), pad_id, dtype=torch.long)
    lab = torch.full((len(batch), n), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.long)
    for i, (x, y) in enumerate(batch):
        ids[i, : len(x)] = torch.tensor(x)
        lab[i, : len(y)] = torch.tensor(y)
        mask[i, : len(x)] = 1
    return ids, lab, mask


def evaluate_student(policy: Policy, make_env, seeds: list[int], max_steps: int, history_len: int,
                     layout: str = DEFAULT_LAYOUT) -> dict:
    """Greedy success rate and the warm-start ratio mean(H / ln|A|) over visited states."""
    specs = [EpisodeSpec(f"eval{i}", seed=s, max_steps=max_steps) for i, s in enumerate(seeds)]
    res = run_episodes(policy, make_env, specs, temperature=0.0, history_len=history_len, record_steps=True,
                       layout=layout)
    ratios = [r.entropy / math.log(len(r.valid_actions)) for e in res for r in e.records
              if r.entropy is not None and len(r.valid_actions) > 1]
    return {
        "success_rate": float(np.mean([e.success for e in res])),
        "entropy_ratio": float(np.mean(ratios)) if ratios else float("nan"),
        "n_episodes": len(res),
        "mean_steps": float(np.mean([e.steps for e in res])),
    }


def _lr_schedule(opt, kind: str, total: int):
    """constant, or cosine decay to 10% with a 5% linear warm-up (transformers' schedule)."""
    if kind == "constant":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    if kind == "cosine":
        warm = max(1, total // 20)
        return torch.optim.lr_scheduler.LambdaLR(
            opt, lambda t: min(1.0, (t + 1) / warm) * (0.1 + 0.45 * (1 + math.cos(math.pi * min(1.0, t / total)))))
    raise ValueError(f"bootstrap.lr_schedule: {kind!r} is not one of constant, cosine")


def bootstrap_student(make_env, cfg: dict, seed: int, out_dir: str, history_len: int, max_steps: int,
                      device: str = "cpu", log=_log.info, diagnose: Callable = default_diagnosis,
                      layout: str = DEFAULT_LAYOUT) -> dict:
    """Build, warm-start and save the bootstrap student; returns its report. Every prompt
    (warm-start data, competence checks) is in `layout` (student.prompt_layout), which the
    report records: the student is scored in that layout only (check_student_layout)."""
    t0 = time.time()
    check_layout(layout)
    mix = cfg.get("patch_mix") or dict(zip(PATCH_KINDS, PATCH_KIND_WEIGHTS))
    episodes = demo_states(make_env, cfg["n_demo_tasks"], seed, history_len, cfg["demo_noise"], max_steps,
                           cfg.get("family_share"), float(cfg.get("gap_advice_share", 0.0)))
    examples = add_patches(episodes, seed, cfg["patch_share"], diagnose, tuple(mix[k] for k in PATCH_KINDS),
                           layout)
    # curriculum: the first advice_warmup_steps train on states whose patches are all about
    # this very state (the copy signal a small model needs to learn to read a patch at all);
    # the mix above then teaches it which advice applies (docs/labeling.md)
    warm_steps = int(cfg.get("advice_warmup_steps", 0))
    warm = add_patches(episodes, derive_seed(seed, "bootstrap_warmup"), cfg.get("advice_warmup_share", 1.0),
                       diagnose, (1.0, 0.0, 0.0, 0.0), layout) if warm_steps else []
    corpus = [ex.prompt + " " + ex.action for ex in examples + warm]
    env0 = make_env()
    actions = tuple(env0.actions)
    corpus += [" ".join(sorted(getattr(env0, "vocabulary", ())))]  # words a skill gap may keep out of the demos
    corpus += [patch_text("contrast", a, wrong_action=b) for a in actions for b in actions]
    corpus += [patch_text(c, "x", "x", "x", situation="x") for c in ("placebo", "demo", "contrast", "hint")]
    tok = make_bootstrap_tokenizer(cfg, corpus, actions)
    model = build_model(tok, cfg, seed).to(device)
    data = encode_examples(tok, examples)
    data_warm = encode_examples(tok, warm)
    log(f"bootstrap: {len(examples)} demo states, vocab {len(tok)}, "
        f"{sum(p.numel() for p in model.parameters())} parameters")

    # bf16 autocast where the device supports it (CUDA); fp32 weights and CPU runs unchanged
    dtype = pick_dtype(torch.device(device))
    amp = (lambda: torch.autocast(device_type="cuda", dtype=dtype)) if dtype != torch.float32 \
        else contextlib.nullcontext
    log(f"bootstrap: device {device}, compute dtype {str(dtype).replace('torch.', '')}")
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=0.0)
    sched = _lr_schedule(opt, cfg.get("lr_schedule", "constant"), cfg["max_steps"])
    eval_seeds = [derive_seed(seed, "bootstrap_eval", i) for i in range(cfg["eval_tasks"])]
    # the reported competence is measured on tasks no checkpoint was selected on
    final_seeds = [derive_seed(seed, "bootstrap_final", i) for i in range(cfg.get("final_eval_tasks", 48))]
    # competence checks need no expert: skip it where the env factory takes the flag
    # (env_from_config partials; TextWorld's walkthrough costs ~4x a step)
    eval_env = partial(make_env, expert=False) if isinstance(make_env, partial) else make_env
    # the curve's follow rates are a diagnostic (selection never reads them): 100 states a
    # checkpoint keep them cheap; the reported ones use up to 300 states of fresh tasks
    rows = follow_states(make_env, eval_seeds, max_steps, history_len, seed, max_states=100)
    lo, hi = cfg.get("success_window", [0.0, 1.0])
    curve, step, best, best_key = [], 0, None, None
    order = torch.randperm(len(data), generator=gen).tolist()
    pos = 0
    while step < cfg["max_steps"]:
        model.train()
        for _ in range(min(cfg["eval_every"], cfg["max_steps"] - step)):
            if pos + cfg["batch_size"] > len(order):
                order, pos = torch.randperm(len(data), generator=gen).tolist(), 0
            src = data_warm if step < warm_steps else data  # same states, same order
            batch = [src[j] for j in order[pos : pos + cfg["batch_size"]]]
            pos += cfg["batch_size"]
            ids, lab, mask = collate(batch, tok.pad_token_id)
            with amp():
                loss = model(input_ids=ids.to(device), attention_mask=mask.to(device), labels=lab.to(device)).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
        pol = Policy(model.eval(), tok)
        ev = evaluate_student(pol, eval_env, eval_seeds, max_steps, history_len, layout)
        fr = follow_rates_on(pol, rows, layout)
        curve.append({"step": step, "loss": float(loss.detach()), **ev,
                      **{k: fr[k] for k in ("follow_right_now", "follow_wrong_now", "no_patch_picks_right", "no_patch_picks_wrong",
                                             "follow_gain", "discrimination")}})
        log(f"bootstrap step {step}: loss {float(loss.detach()):.3f} success {ev['success_rate']:.2f} "
            f"H/lnA {ev['entropy_ratio']:.2f} follow right {fr['follow_right_now']:.2f} "
            f"wrong {fr['follow_wrong_now']:.2f} no-patch right {fr['no_patch_picks_right']:.2f}")
        # select 'best': prefer checkpoints inside the success window, then the highest
        # success on the competence tasks (later steps win ties). Never by advice
        # discrimination: the contextual patch test would then be selected for (docs/design.md
        # §4). 'last' keeps the final checkpoint.
        inside = lo <= ev["success_rate"] <= hi
        key = (inside, ev["success_rate"] if inside else -abs(ev["success_rate"] - (lo + hi) / 2), step)
        if cfg.get("select", "last") == "last" or best_key is None or key > best_key:
            best_key, best = key, {"step": step, "state": {k: v.detach().clone() for k, v in model.state_dict().items()}}
        if ev["success_rate"] >= cfg["target_success"]:
            break
    model.load_state_dict(best["state"])
    pol = Policy(model.eval(), tok)
    report = evaluate_student(pol, eval_env, final_seeds, max_steps, history_len, layout)
    follow = follow_rates_on(pol, follow_states(make_env, final_seeds, max_steps, history_len, seed), layout)
    log(f"bootstrap: kept step {best['step']} of {step}; on {len(final_seeds)} fresh tasks success "
        f"{report['success_rate']:.2f} H/lnA {report['entropy_ratio']:.2f}; follow rates: right-now patch "
        f"{follow['follow_right_now']:.2f} (no patch {follow['no_patch_picks_right']:.2f}), "
        f"wrong-now patch {follow['follow_wrong_now']:.2f} (no patch {follow['no_patch_picks_wrong']:.2f})")
    kinds = {k: sum(ex.patch_kind == k for ex in examples) for k in PATCH_KINDS}
    kinds["right_now"] = sum(bool(ex.patch_action) and ex.patch_action == ex.action for ex in examples)
    kinds["wrong_now"] = sum(bool(ex.patch_action) and ex.patch_action != ex.action for ex in examples)
    report = {
        **report, "follow": follow, "warm_start_patches": kinds, "advice_warmup_steps": warm_steps, "steps": step, "selected_step": best["step"],
        "select": cfg.get("select", "last"), "eval_tasks": "bootstrap_final (fresh; checkpoints were checked on bootstrap_eval)", "n_demo_states": len(examples), "vocab_size": len(tok),
        "n_parameters": sum(p.numel() for p in model.parameters()), "curve": curve,
        "ratio_in_range": bool(0.1 < report["entropy_ratio"] < 0.9),
        "target_success": cfg["target_success"], "seed": seed, "wall_time_s": time.time() - t0,
        # the prompt the student was built with (check_student_layout compares the config's)
        "prompt_layout": layout, "history": history_len,
    }
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        write_json(f"{tmp}/{BUILD_REPORT}", report)
    return report

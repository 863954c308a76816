"""Can the student learn its teacher at all? A learning curve (docs/training.md).

A student of the bootstrap architecture is trained from scratch on the teacher's noisy
rollouts of n warm-start tasks (every family, no skill gap, no patches), for several n, and
scored on held-out states of tasks of their own: agreement with the teacher (greedy pick ==
the teacher's action) and greedy task success. If the curve stays far below 1, the teacher
decides from something the prompt does not carry (docs/design.md §4: realizable), and no
supervision of this student can show an effect.

`ceiling` is the best agreement any function of the prompt can reach on the held-out
states: prompts that recur with different teacher labels cap it below 1.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from functools import partial

import numpy as np
import torch

from .io import derive_seed
from .policy import Policy
from .student import add_patches, build_model, collate, demo_states, encode_examples, evaluate_student, \
    make_bootstrap_tokenizer


def ceiling(examples) -> float:
    """Best agreement of any deterministic function of the prompt on `examples`."""
    by_prompt: dict[str, Counter] = defaultdict(Counter)
    for ex in examples:
        by_prompt[ex.prompt][ex.action] += 1
    return float(sum(c.most_common(1)[0][1] for c in by_prompt.values()) / max(1, len(examples)))


def learning_curve(make_env, boot_cfg: dict, sizes: list[int], steps: int, seed: int, history_len: int,
                   max_steps: int, held_tasks: int, eval_tasks: int, layout: str, log=print,
                   device: str = "cpu") -> dict:
    """One row per warm-start size (module doc); deterministic given the seed."""
    noise = boot_cfg["demo_noise"]
    held = demo_states(make_env, held_tasks, derive_seed(seed, "learnability_held"), history_len, noise, max_steps)
    held_ex = add_patches(held, seed, 0.0, layout=layout)
    held_valid = [list(s["valid"]) for st in held for s in st]
    held_fam = [fam for st, fam in zip(held, _families(make_env, held_tasks, seed)) for _ in st]
    eval_seeds = [derive_seed(seed, "learnability_eval", i) for i in range(eval_tasks)]
    eval_env = partial(make_env, expert=False) if isinstance(make_env, partial) else make_env
    env0 = make_env()
    actions = tuple(env0.actions)
    rows = []
    for n in sizes:
        t0 = time.time()
        eps = demo_states(make_env, n, derive_seed(seed, "learnability_train"), history_len, noise, max_steps)
        ex = add_patches(eps, seed, 0.0, layout=layout)
        corpus = [e.prompt + " " + e.action for e in ex + held_ex] + [" ".join(sorted(getattr(env0, "vocabulary", ())))]
        tok = make_bootstrap_tokenizer(boot_cfg, corpus, actions)
        model = build_model(tok, boot_cfg, seed).to(device)
        data = encode_examples(tok, ex)
        opt = torch.optim.AdamW(model.parameters(), lr=boot_cfg["lr"], weight_decay=0.0)
        gen = torch.Generator().manual_seed(seed)
        bs = int(boot_cfg["batch_size"])
        model.train()
        loss = torch.tensor(float("nan"))
        for _ in range(steps):
            idx = torch.randint(len(data), (min(bs, len(data)),), generator=gen).tolist()
            ids, lab, mask = collate([data[j] for j in idx], tok.pad_token_id)
            loss = model(input_ids=ids.to(device), attention_mask=mask.to(device), labels=lab.to(device)).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
        pol = Policy(model.eval(), tok)
        scores = pol.score([e.prompt for e in held_ex], held_valid)
        hit = [v[int(np.argmax(s))] == e.action for s, v, e in zip(scores, held_valid, held_ex)]
        per_family = {f: float(np.mean([h for h, g in zip(hit, held_fam) if g == f]))
                      for f in sorted(set(held_fam))}
        ev = evaluate_student(pol, eval_env, eval_seeds, max_steps, history_len, layout)
        row = {"n_tasks": n, "n_states": len(ex), "steps": steps, "train_loss": float(loss.detach()),
               "heldout_agreement": float(np.mean(hit)), "device": str(device), "agreement_by_family": per_family,
               "greedy_success": ev["success_rate"], "wall_time_s": round(time.time() - t0, 1)}
        log(f"learnability: {n} tasks ({len(ex)} states): held-out agreement {row['heldout_agreement']:.3f}, "
            f"greedy success {row['greedy_success']:.3f}")
        rows.append(row)
    return {"rows": rows, "heldout_states": len(held_ex), "heldout_tasks": held_tasks, "eval_tasks": eval_tasks,
            "ceiling": ceiling(held_ex), "seed": seed, "history": history_len, "prompt_layout": layout,
            "unit": "held-out states (agreement), tasks (success)"}


def _families(make_env, n_tasks: int, seed: int) -> list[str]:
    """The family of each held-out task, as demo_states draws them."""
    env = make_env()
    out = []
    for i in range(n_tasks):
        env.reset(derive_seed(derive_seed(seed, "learnability_held"), "bootstrap_task", i))
        out.append(getattr(env, "family", ""))
    return out

"""student.max_batch_tokens: scoring batches sized by tokens, and a CUDA out-of-memory error
(injected here: the model's forward raises torch.OutOfMemoryError above N rows) halves the
batch and retries. Scores are the same whatever the batching."""

import functools
import logging

import numpy as np
import pytest
import torch

from teachable.envs import make_env
from teachable.io import InputError
from teachable.policy import (OOM_ERRORS, Policy, auto_token_budget, load_model_and_tokenizer, model_shape,
                              resolve_token_budget, token_bytes)
from teachable.prompts import build_prompt, patch_text
from teachable.engine import EpisodeSpec, run_episodes
from test_hub_students import ACTIONS, _models, chat_tok  # noqa: F401  (fixture)


def _spy(model, max_rows: int | None = None, calls: list | None = None):
    """model.forward recording each forward's input shape; above `max_rows` rows it raises
    torch.OutOfMemoryError instead of running (a GPU that holds max_rows rows)."""
    forward = model.forward

    @functools.wraps(forward)  # keeps the signature (the cache argument's name)
    def fwd(*a, **k):
        rows = k["input_ids"].shape[0]
        if calls is not None:
            calls.append((tuple(k["input_ids"].shape), k.get("logits_to_keep") == 1))
        if max_rows is not None and rows > max_rows:
            raise torch.OutOfMemoryError(f"injected: {rows} rows > {max_rows}")
        return forward(*a, **k)

    model.forward = fwd
    return model


def _prompts():
    prompts = [build_prompt("take the red apple", f"-= Kitchen =- room {i}" + " x" * (3 * i), ["go east"] * (i % 3))
               for i in range(7)]
    cands = [ACTIONS[: 2 + i % 4] for i in range(7)]
    return prompts, cands


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
def test_token_budget_scores_equal_fixed_batches(chat_tok, arch):
    model = _models(chat_tok)[arch]
    prompts, cands = _prompts()
    fixed = Policy(model, chat_tok, batch_size=8, prompt_format="raw", max_batch_tokens=None).score(prompts, cands)
    calls = []
    pol = Policy(_spy(model, calls=calls), chat_tok, batch_size=8, prompt_format="raw", max_batch_tokens=250)
    budget = pol.score(prompts, cands)
    prompt_forwards = [shape for shape, first in calls if first]
    assert len(prompt_forwards) >= 3  # the budget split the 7 prompts (38-74 tokens) into several forwards
    assert all(r * w <= 250 for r, w in prompt_forwards)
    for a, b, p, c in zip(budget, fixed, prompts, cands):
        np.testing.assert_allclose(a, b, atol=1e-5)
        np.testing.assert_allclose(a, pol.score_unbatched(p, c), atol=1e-5)


def test_injected_oom_halves_and_recovers_with_identical_scores(chat_tok, caplog):
    model = _models(chat_tok)["qwen2"]
    prompts, cands = _prompts()
    fixed = Policy(model, chat_tok, batch_size=8, prompt_format="raw", max_batch_tokens=None).score(prompts, cands)
    pol = Policy(_spy(model, max_rows=2), chat_tok, batch_size=8, prompt_format="raw", max_batch_tokens=None)
    with caplog.at_level(logging.WARNING, logger="teachable.policy"):
        got = pol.score(prompts, cands)
        pol.score(prompts, cands)  # a second call: the lowered budget fits at once, nothing new logged
    assert pol.oom_halvings > 0 and pol.max_batch_tokens is not None
    assert len([r for r in caplog.records if "out of memory" in r.getMessage()]) == 1
    for a, b in zip(got, fixed):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_a_batch_of_one_that_still_ooms_raises_a_clear_error(chat_tok):
    model = _spy(_models(chat_tok)["qwen2"], max_rows=0)
    pol = Policy(model, chat_tok, batch_size=8, prompt_format="raw", max_batch_tokens=None)
    prompts, cands = _prompts()
    with pytest.raises(OOM_ERRORS, match="ONE prompt .*max_live_episodes"):
        pol.score(prompts[:3], cands[:3])


def test_engine_rollouts_unchanged_by_token_budget_and_oom(mock_student):
    """The rollout engine (prefix reuse on) under a small token budget, and under an injected
    OOM above 3 rows: the same actions and (to float rounding) the same distributions as
    batches of student.batch_size prompts."""
    patch = patch_text("demo", "go forward", situation="the goal is 3 steps ahead . you face east")
    specs = [EpisodeSpec(f"e{i}", seed=i, max_steps=12, sample_seed=100 + i, patch=patch if i % 2 else "")
             for i in range(10)]
    runs = {}
    for name, budget, max_rows in (("fixed", None, None), ("budget", 200, None), ("oom", None, 3)):
        m, tok = load_model_and_tokenizer(mock_student, device="cpu")
        pol = Policy(_spy(m, max_rows), tok, batch_size=16, max_batch_tokens=budget)
        runs[name] = run_episodes(pol, lambda: make_env("mock"), specs, temperature=1.0, record_steps=True)
        if name == "oom":
            assert pol.oom_halvings > 0
    for name in ("budget", "oom"):
        assert [r.actions for r in runs[name]] == [r.actions for r in runs["fixed"]]
        for a, b in zip(runs[name], runs["fixed"]):
            for x, y in zip(a.records, b.records):
                np.testing.assert_allclose(x.probs, y.probs, atol=1e-5)


def test_auto_is_no_limit_on_cpu_and_sized_by_memory_given(chat_tok, monkeypatch):
    from teachable import engine
    from teachable.workflow import scripting

    model = _models(chat_tok)["qwen2"]
    assert resolve_token_budget(model, "auto") is None  # CPU: batches of student.batch_size, as before
    assert Policy(model, chat_tok).max_batch_tokens is None
    assert resolve_token_budget(model, 512) == 512
    for bad in (0, -3, "lots", 2.5, True):
        with pytest.raises(InputError, match="student.max_batch_tokens"):
            resolve_token_budget(model, bad)
    shape = model_shape(model.config)
    assert shape["kv_heads"] == 2 and shape["layers"] == 2
    per = token_bytes(shape, 4)
    assert auto_token_budget(model, free_bytes=per * 1000) == 500  # half the free memory
    # scripting.setup carries the config value to every Policy built after it
    monkeypatch.setattr(engine, "MAX_BATCH_TOKENS", engine.MAX_BATCH_TOKENS)
    monkeypatch.setattr(engine, "MAX_LIVE_EPISODES", engine.MAX_LIVE_EPISODES)
    monkeypatch.setattr(engine, "REUSE_PREFIX", engine.REUSE_PREFIX)
    monkeypatch.setattr(scripting, "cli_config", lambda _: {"student": {"max_batch_tokens": 777}})

    class A:
        cfg, threads, verbosity = "x", 1, 0

    scripting.setup(A())
    assert Policy(model, chat_tok).max_batch_tokens == 777

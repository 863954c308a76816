"""Hub-style students built here (random weights, tiny): GPT-2 and Qwen2 architectures with a
byte-level BPE tokenizer carrying a chat template; multi-token actions; the current cache API."""

import warnings

import numpy as np
import pytest
import torch

from teachable.io import InputError
from teachable.policy import Policy, encode_action, encode_prompt, load_model_and_tokenizer, resolve_prompt_format
from teachable.prompts import build_prompt
from teachable.student import Example, build_subword_tokenizer, encode_examples

CHAT = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}")
CORPUS = ["mission: take the red apple from the counter", "observation: -= Kitchen =- you see a fridge",
          "go east go west open fridge take carrot from fridge take red apple from counter"] * 20
ACTIONS = ["go east", "take carrot from fridge", "take red apple from counter", "open fridge", "take carrot"]


@pytest.fixture(scope="module")
def chat_tok():
    tok = build_subword_tokenizer(CORPUS, vocab_size=400)
    tok.chat_template = CHAT
    tok.add_special_tokens({"additional_special_tokens": ["<|user|>", "<|assistant|>", "<|end|>"]})
    return tok


def _models(tok):
    from transformers import (GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, Qwen2Config,
                              Qwen2ForCausalLM)

    torch.manual_seed(0)
    ids = dict(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    small = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, **ids)
    return {
        "gpt2": GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=2, n_head=2, **ids)),
        "qwen2": Qwen2ForCausalLM(Qwen2Config(**small)),
        "llama": LlamaForCausalLM(LlamaConfig(**small)),  # the bootstrap student's architecture
        # the eager attention path takes the packed candidates' 4D mask as an additive float mask
        "llama_eager": LlamaForCausalLM(LlamaConfig(**small, attn_implementation="eager")),
    }


def test_subword_tokenizer_splits_unseen_words_and_actions_are_multi_token():
    tok = build_subword_tokenizer(CORPUS, vocab_size=400)
    ids = tok("take the purple mango", add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in ids and tok.decode(ids) == "take the purple mango"
    assert all(len(tok(" " + a, add_special_tokens=False)["input_ids"]) >= 2 for a in ACTIONS)


def test_auto_is_chat_with_a_template(chat_tok):
    assert resolve_prompt_format(chat_tok, "auto") == "chat"
    plain = build_subword_tokenizer(CORPUS, vocab_size=400)
    assert resolve_prompt_format(plain, "auto") == "raw"
    with pytest.raises(InputError, match="no chat template"):
        resolve_prompt_format(plain, "chat")
    with pytest.raises(InputError, match="prompt_format"):
        resolve_prompt_format(plain, "json")


def test_chat_prompt_and_action_are_the_assistant_reply(chat_tok):
    p = chat_tok.decode(encode_prompt(chat_tok, "mission: x", "chat"))
    assert p.startswith("<|user|>") and p.endswith("<|assistant|>") and "mission: x" in p
    a = chat_tok.decode(encode_action(chat_tok, "take carrot", "chat"))
    assert a == "take carrot<|end|>"  # the end of turn: 'take carrot' is not a free prefix of a longer command
    raw = chat_tok.decode(encode_prompt(chat_tok, "mission: x", "raw"))
    assert "<|user|>" not in raw


@pytest.mark.parametrize("arch", ["gpt2", "qwen2", "llama", "llama_eager"])
@pytest.mark.parametrize("fmt", ["chat", "raw"])
def test_batched_scores_equal_unbatched_and_no_deprecated_cache(chat_tok, arch, fmt):
    model = _models(chat_tok)[arch]
    pol = Policy(model, chat_tok, batch_size=3, prompt_format=fmt)
    prompts = [build_prompt("take the red apple", f"-= Kitchen =- room {i}", ["go east"] * i) for i in range(5)]
    # prompts of several lengths (left padding), candidates of 1-6 tokens mixed in one
    # prompt, and a prompt whose raw candidates are all one token (an empty packed row)
    cands = [ACTIONS, ["go", *ACTIONS[:2]], ACTIONS[1:], ACTIONS[2:4], ["go", "east"]]
    if fmt == "raw":
        assert [len(encode_action(chat_tok, a, "raw")) for a in ("go", "east")] == [1, 1]
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        batched = pol.score(prompts, cands)
    assert not [x for x in w if "past_key_values" in str(x.message)]
    for p, c, b in zip(prompts, cands, batched):
        np.testing.assert_allclose(b, pol.score_unbatched(p, c), atol=1e-5)


def test_sft_encoding_uses_the_scoring_template(chat_tok, tmp_path):
    model = _models(chat_tok)["qwen2"]
    model.save_pretrained(tmp_path)
    chat_tok.save_pretrained(tmp_path)
    m, tok = load_model_and_tokenizer(str(tmp_path), device="cpu", dtype="float32")
    assert tok.teachable_prompt_format == "chat" and m.dtype == torch.float32
    (ids, labels), = encode_examples(tok, [Example("mission: x", "take carrot")])
    n = len(encode_prompt(tok, "mission: x"))
    assert ids[:n] == encode_prompt(tok, "mission: x") and ids[n:] == encode_action(tok, "take carrot")
    assert labels[:n] == [-100] * n and labels[n:] == ids[n:]
    _, raw_tok = load_model_and_tokenizer(str(tmp_path), device="cpu", prompt_format="raw")
    (raw_ids, _), = encode_examples(raw_tok, [Example("mission: x", "take carrot")])
    assert raw_ids != ids
    # the loss on the encoded example is the negative summed log-prob Policy.score gives it
    pol = Policy(m, tok)
    lp = pol.score(["mission: x"], [["take carrot"]])[0][0]
    with torch.no_grad():
        out = m(input_ids=torch.tensor([ids]), labels=torch.tensor([labels]))
    assert abs(float(out.loss) * (len(ids) - n) + lp) < 1e-4
    with pytest.raises(InputError, match="dtype"):
        load_model_and_tokenizer(str(tmp_path), device="cpu", dtype="float8")


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
def test_a_prompt_with_many_candidates_spreads_over_packed_rows(chat_tok, arch):
    """One prompt with many multi-token candidates beside prompts with one each: its
    candidates go to several packed rows (so it does not pad every row to its length), each
    on a copy of its cache row, and every score still equals one forward per candidate."""
    model = _models(chat_tok)[arch]
    pol = Policy(model, chat_tok, batch_size=8, prompt_format="raw")
    prompts = [build_prompt("take the red apple", f"-= Kitchen =- room {i}", []) for i in range(3)]
    cands = [ACTIONS + ["open fridge then go east", "take red apple from fridge"], ["go east"], ["open fridge"]]
    shapes = []
    forward = model.forward

    def spy(*a, **k):
        shapes.append(tuple(k["input_ids"].shape))
        return forward(*a, **k)

    model.forward = spy
    batched = pol.score(prompts, cands)
    assert len(shapes) == 2 and shapes[1][0] > len(prompts)  # the big prompt took several packed rows
    for p, c, b in zip(prompts, cands, batched):
        np.testing.assert_allclose(b, pol.score_unbatched(p, c), atol=1e-5)


@pytest.mark.parametrize("arch", ["gpt2", "qwen2", "llama", "llama_eager"])
@pytest.mark.parametrize("fmt", ["chat", "raw"])
def test_prefix_reuse_across_steps_scores_as_a_fresh_forward(chat_tok, arch, fmt):
    """Three steps of five episodes through one PrefixCache: each prompt re-encodes only what
    follows the prefix it shares with its episode's last prompt (mission and patch), an
    episode that starts late or has no usable prefix is encoded whole in its own forward,
    two episodes in one situation share a prompt, and every score equals one plain forward
    per candidate."""
    from teachable.engine import PrefixCache

    model = _models(chat_tok)[arch]
    pol = Policy(model, chat_tok, batch_size=4, prompt_format=fmt)
    patch = "advice from a similar situation ( you see a fridge ) : the expert chose open fridge there ."
    reuse = PrefixCache()
    for step in range(3):
        hist = ["go east", "take carrot"][:step]
        prompts = [build_prompt("take the red apple from the counter", f"-= Kitchen =- room {i + step}" + " x" * i,
                                hist, patch if i % 2 else "") for i in range(4)]
        prompts.append(build_prompt("open the fridge", "-= Pantry =-", hist))  # short prefix: encoded whole
        owners = [[0], [1, 5], [2], [3], [4]] if step else [[0], [1, 5], [3], [4]]  # episode 2 starts at step 1
        if not step:
            del prompts[2]
        cands = [ACTIONS[: 2 + i % 3] for i in range(len(prompts))]
        batched = pol.score(prompts, cands, reuse, owners)
        for p, c, b in zip(prompts, cands, batched):
            np.testing.assert_allclose(b, pol.score_unbatched(p, c), atol=1e-5)
    assert pol.prompt_tokens["reused"] > pol.prompt_tokens["encoded"] / 4

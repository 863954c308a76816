import numpy as np
import pytest

from teachable.envs import make_env
from teachable.policy import Policy, load_model_and_tokenizer
from teachable.prompts import build_prompt, patch_text
from teachable.engine import EpisodeSpec, run_episodes


@pytest.fixture(scope="module")
def policy(mock_student):
    m, tok = load_model_and_tokenizer(mock_student, device="cpu")
    return Policy(m, tok, batch_size=4)  # small batch size: also exercises chunking


def test_batched_scores_equal_unbatched(policy):
    prompts, cands = [], []
    for i in range(9):  # prompts of different lengths (left padding) and candidate sets
        patch = patch_text(("base", "demo", "hint", "contrast", "placebo")[i % 5], "go forward", "face east", "wait")
        prompts.append(build_prompt("go to the goal", f"the goal is {i} steps ahead", ["go forward"] * (i % 3), patch))
        cands.append([["turn around", "go forward", "wait"], ["go forward", "wait"], ["wait"]][i % 3])
    batched = policy.score(prompts, cands)
    for p, c, s in zip(prompts, cands, batched):
        np.testing.assert_allclose(s, policy.score_unbatched(p, c), atol=1e-4)


def test_missing_checkpoint_is_named(tmp_path):
    from teachable.io import InputError

    with pytest.raises(InputError, match="not found"):
        load_model_and_tokenizer(str(tmp_path / "results" / "nope"))


def _specs(mode="policy", sample=True):
    return [EpisodeSpec(f"e{i}", seed=i, mode=mode, max_steps=12, sample_seed=100 + i if sample else None)
            for i in range(10)]


def test_rollouts_deterministic_and_independent_of_batch(policy):
    mk = lambda: make_env("mock")
    a = run_episodes(policy, mk, _specs(), temperature=1.0, record_steps=True)
    b = run_episodes(policy, mk, _specs(), temperature=1.0, record_steps=True)
    assert [r.actions for r in a] == [r.actions for r in b]
    # the first episodes do not change when more are added (per-episode sampling seeds)
    c = run_episodes(policy, mk, _specs()[:3], temperature=1.0)
    assert [r.actions for r in c] == [r.actions for r in a[:3]]


def test_prefix_reuse_leaves_rollouts_unchanged(policy, monkeypatch):
    """The engine's PrefixCache (student.reuse_prefix) re-encodes only what follows an
    episode's shared prompt prefix: same actions and (to float rounding) same
    distributions as encoding every prompt whole, with fewer tokens encoded."""
    from teachable import engine

    patch = patch_text("demo", "go forward", situation="the goal is 3 steps ahead . you face east")
    specs = [EpisodeSpec(f"e{i}", seed=i, max_steps=12, sample_seed=100 + i, patch=patch if i % 2 else "")
             for i in range(10)]
    runs, counts = {}, {}
    for on in (False, True):
        monkeypatch.setattr(engine, "REUSE_PREFIX", on)
        policy.prompt_tokens = {"encoded": 0, "reused": 0}
        runs[on] = run_episodes(policy, lambda: make_env("mock"), specs, temperature=1.0, record_steps=True)
        counts[on] = dict(policy.prompt_tokens)
    assert [r.actions for r in runs[True]] == [r.actions for r in runs[False]]
    for a, b in zip(runs[True], runs[False]):
        for x, y in zip(a.records, b.records):
            np.testing.assert_allclose(x.probs, y.probs, atol=1e-5)
    assert counts[False]["reused"] == 0 and counts[True]["reused"] > 0
    assert counts[True]["encoded"] + counts[True]["reused"] == counts[False]["encoded"]


def test_expert_mode_succeeds_and_force_takes_expert_first(policy):
    mk = lambda: make_env("mock")
    ex = run_episodes(None, mk, _specs("expert"))
    assert all(r.success for r in ex)
    fo = run_episodes(policy, mk, _specs("force"))
    env = mk()
    for i, r in enumerate(fo):
        env.reset(i)
        assert r.actions[0] == env.expert_action()


def test_loop_detection():
    class Turner:
        def score(self, prompts, cands):
            return [np.array([0.0 if a == "turn around" else -9.0 for a in c]) for c in cands]

    res = run_episodes(Turner(), lambda: make_env("mock"), [EpisodeSpec("t", seed=3, max_steps=6)], temperature=0)
    assert res[0].loop_step == 1 and not res[0].success and res[0].repeat_rate > 0.5


def test_rows_are_grouped_by_input_length():
    """A forward pads every row to its longest: short and long prompts go to separate
    forwards when that saves padding, every row exactly once, similar lengths stay one."""
    from teachable.policy import _split_by_length

    need = [10, 100] * 8
    groups = _split_by_length(list(range(16)), need)
    assert sorted(b for g in groups for b in g) == list(range(16))
    assert sorted({need[b] for b in g} for g in groups) == [{10}, {100}]
    assert len(_split_by_length(list(range(8)), [50, 52, 55, 51, 53, 54, 50, 56])) == 1
    assert _split_by_length([], []) == []


def test_acting_load_folds_the_adapter_into_the_weights(mock_student, tmp_path):
    """An adapter loaded to act (not to train) is merged into the weights: a plain model,
    the same log-probs as peft's unmerged forward (to float32 rounding), and a trainable
    load keeps the adapter apart."""
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    peft_model = get_peft_model(AutoModelForCausalLM.from_pretrained(mock_student),
                                LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "adapter")
    merged, _ = load_model_and_tokenizer(mock_student, str(tmp_path / "adapter"), "cpu")
    apart, _ = load_model_and_tokenizer(mock_student, str(tmp_path / "adapter"), "cpu", trainable_adapter=True)
    plain, _ = load_model_and_tokenizer(mock_student, None, "cpu")
    assert not isinstance(merged, PeftModel) and isinstance(apart, PeftModel)
    ids = torch.randint(4, merged.config.vocab_size, (4, 12))
    with torch.no_grad():
        a = merged(input_ids=ids).logits.log_softmax(-1)
        b = apart(input_ids=ids).logits.log_softmax(-1)
        c = plain(input_ids=ids).logits.log_softmax(-1)
    assert torch.allclose(a, b, atol=1e-4)
    assert not torch.allclose(a, c, atol=1e-3)  # the adapter does change the model

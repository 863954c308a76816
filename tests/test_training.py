"""Training: supervision formats, run data sets, zero-effect adapters, micro-training,
deterministic SFT, correlation/gate. Labeled snapshots come from real phase-0/labeling
code on the mock env with a stand-in teacher (tests/training_fixtures.py)."""

import copy
from functools import partial

import numpy as np
import pytest
import torch

from teachable.envs import env_from_config
from teachable.io import InputError
from teachable.labeling.branches import patches_for
from teachable.labeling.validity import correlation_report
from teachable.policy import Policy, load_model_and_tokenizer
from teachable.prompts import build_prompt
from teachable.engine import run_episodes
from teachable.stats.correlation import correlation
from teachable.student import encode_examples
from teachable.training import examples_for, parse_run_id, run_data, train_adapter
from teachable.training.micro import MicroTrainer, micro_train_panel, select_panel, validation_specs
from teachable.training.runs import check_no_heldout
from teachable.vocab import QUADRANTS, RUN_IDS

from conftest import MOCK_CONFIG
from training_fixtures import labeled_snapshots

LORA = {"lora_rank": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": "all-linear"}
TRAIN = {**LORA, "lora_dropout": 0.1, "epochs": 2, "batch_size": 4, "lr": 0.01}


@pytest.fixture(scope="module")
def cfg():
    from teachable.config import load_config

    return load_config(MOCK_CONFIG)


@pytest.fixture(scope="module")
def snaps(cfg, mock_student):
    return labeled_snapshots(cfg, mock_student, n_rollouts=2, horizon=8)


# ------------------------------------------------------------------ formats


def test_formats_prompts_targets_and_loss_mask(snaps, mock_student):
    train = [s for s in snaps if not s["heldout"]]
    s = copy.deepcopy(train[0])
    s["teacher"]["suggested_action"] = next(a for a in s["valid_actions"] if a != s["expert_action"])
    s["teacher"]["diagnosis"] = "you face away from the goal ; turn first ."
    ex = {f: examples_for([s], f)[0][0] for f in ("demo", "hint", "contrast")}
    assert ex["demo"].prompt == build_prompt(s["mission"], s["obs_text"], s["history"])
    patches = patches_for(s)  # the very texts the contextual patch test used
    for f in ("hint", "contrast"):
        assert ex[f].prompt == build_prompt(s["mission"], s["obs_text"], s["history"], patches[f])
    assert "hint: you face away from the goal ; turn first ." in ex["hint"].prompt
    # the target is always the teacher's action, not the expert's
    assert {e.action for e in ex.values()} == {s["teacher"]["suggested_action"]}
    # route format follows route_net
    s["route_net"] = "contrast"
    assert examples_for([s], "route")[0][0] == ex["contrast"].__class__(**{**ex["contrast"].__dict__})
    # loss on the action tokens only
    _, tok = load_model_and_tokenizer(mock_student, device="cpu")
    (ids, labels), = encode_examples(tok, [ex["hint"]])
    kept = [t for t in labels if t != -100]
    assert tok.decode(kept).strip() == ex["hint"].action
    assert labels[: len(ids) - len(kept)] == [-100] * (len(ids) - len(kept))


def test_invalid_teacher_skipped_and_counted_heldout_refused(snaps):
    train = copy.deepcopy([s for s in snaps if not s["heldout"]][:4])
    train[1]["teacher"]["valid"] = False
    train[2]["teacher"]["suggested_action"] = "fly away"  # not a valid action: unusable too
    ex, skipped = examples_for(train, "demo")
    assert skipped == [train[1]["snapshot_id"], train[2]["snapshot_id"]] and len(ex) == 2
    held = next(s for s in snaps if s["heldout"])
    with pytest.raises(InputError, match="held-out"):
        examples_for([held], "demo")
    with pytest.raises(InputError, match="unknown supervision format"):
        examples_for(train, "poem")


# ------------------------------------------------------------------ run matrix


def test_run_ids_and_no_heldout_in_any_training_set(snaps):
    assert len(RUN_IDS) == 14 and "B1_uniform" in RUN_IDS and "B2_all" in RUN_IDS
    assert parse_run_id("Q3_lowU_lowL_hint") == ("Q3_lowU_lowL", "hint")
    heldout = {s["snapshot_id"] for s in snaps if s["heldout"]}
    assert heldout, "fixture needs held-out snapshots"
    train = [s for s in snaps if not s["heldout"]]
    counts = [sum(s["quadrant"] == q for s in train) for q in QUADRANTS]
    for rid in RUN_IDS:
        q, fmt = parse_run_id(rid)
        if q is not None and counts[QUADRANTS.index(q)] == 0:
            with pytest.raises(InputError, match=f"run {rid}: empty training set"):
                run_data(rid, snaps, 0)
            continue
        d = run_data(rid, snaps, 0, train_seed=0)
        assert not heldout & set(d.snapshot_ids), rid
        assert {e.fmt for e in d.examples} == {fmt}
        if q is not None:
            assert sorted(d.snapshot_ids) == sorted(s["snapshot_id"] for s in train if s["quadrant"] == q)
    assert len(run_data("B2_all", snaps, 0).examples) == len(train)
    assert len(run_data("B1_uniform", snaps, 0, train_seed=0).examples) == int(np.floor(np.median(counts) + 0.5))
    with pytest.raises(RuntimeError, match="held-out"):
        check_no_heldout([sorted(heldout)[0]], snaps, "X")


def test_b1_uniform_is_redrawn_per_training_seed(snaps):
    """B1's subset comes from (master seed, 'B1', training seed): different training seeds
    draw different subsets (so the seed spread includes the draw), the same seed the same."""
    draws = [frozenset(run_data("B1_uniform", snaps, 0, train_seed=t).snapshot_ids) for t in range(6)]
    assert len({len(d) for d in draws}) == 1
    assert len(set(draws)) > 1
    assert frozenset(run_data("B1_uniform", snaps, 0, train_seed=3).snapshot_ids) == draws[3]
    assert run_data("B1_uniform", snaps, 0, train_seed=3).info["draw_seed"] != \
        run_data("B1_uniform", snaps, 0, train_seed=4).info["draw_seed"]
    with pytest.raises(InputError, match="training seed"):
        run_data("B1_uniform", snaps, 0)


def test_empty_quadrant_fails_naming_the_run(snaps):
    only = [s for s in snaps if s["quadrant"] != "Q1_highU_highL" or s["heldout"]]
    with pytest.raises(InputError, match="run Q1_highU_highL_demo: empty training set"):
        run_data("Q1_highU_highL_demo", only, 0)


def test_max_samples_cap_is_nested(snaps):
    a = run_data("B2_all", snaps, 0, max_samples=3).snapshot_ids
    b = run_data("B2_all", snaps, 0, max_samples=5).snapshot_ids
    assert len(a) == 3 and len(b) == 5 and set(a) <= set(b)


# ------------------------------------------------------------------ adapters


def _score_all(policy, snaps):
    prompts = [build_prompt(s["mission"], s["obs_text"], s["history"]) for s in snaps]
    return np.concatenate(policy.score(prompts, [s["valid_actions"] for s in snaps]))


@pytest.fixture(scope="module")
def trainer(mock_student):
    model, tok = load_model_and_tokenizer(mock_student, device="cpu")
    return MicroTrainer(model, tok, LORA, seed=0)


def test_fresh_adapter_has_exactly_zero_effect(trainer, snaps, mock_student, cfg):
    base_m, base_tok = load_model_and_tokenizer(mock_student, device="cpu")
    base = Policy(base_m, base_tok)
    loaded = _score_all(base, snaps)
    # peft freezes the base weights; torch's lm_head kernel on the last position
    # (logits_to_keep=1) differs by ~2e-7 between requires_grad True/False weights, so the
    # bit-for-bit reference is the base model with frozen weights
    base_m.requires_grad_(False)
    ref = _score_all(base, snaps)
    np.testing.assert_allclose(ref, loaded, rtol=0, atol=1e-5)
    assert np.array_equal(_score_all(trainer.policy, snaps), ref)  # fresh adapter: bit-identical
    with trainer.model.disable_adapter():
        assert np.array_equal(_score_all(trainer.policy, snaps), ref)
    ex, _ = examples_for([s for s in snaps if not s["heldout"]][:1], "demo")
    trainer.train(ex[0], n_steps=3, lr=0.05)
    assert not np.array_equal(_score_all(trainer.policy, snaps), ref)  # training moved it
    trainer.reset(seed=123)
    assert np.array_equal(_score_all(trainer.policy, snaps), ref)  # reset: zero effect again
    # and rollouts under a fresh adapter equal the base model's, seed for seed
    mk = partial(env_from_config, cfg["env"])
    specs = validation_specs(snaps[0], 6, 8, 0)
    a = run_episodes(trainer.policy, mk, specs, 1.0, cfg["student"]["history"])
    b = run_episodes(base, mk, specs, 1.0, cfg["student"]["history"])
    assert [r.actions for r in a] == [r.actions for r in b]


def test_micro_training_evaluates_the_tuned_adapter(trainer, snaps, cfg):
    """A case built to change: the 'teacher' insists on 'wait' (never reaches the goal);
    after training, pi(wait) is high and success from the snapshot drops."""
    mk = partial(env_from_config, cfg["env"])
    train = [s for s in snaps if not s["heldout"]]
    s = copy.deepcopy(max(train, key=lambda s: (s["p_policy"], s["snapshot_id"])))
    s["teacher"]["suggested_action"] = "wait"
    s["route_net"] = "demo"
    p1b = {"n_steps": 25, "lr": 0.05, "n_validation_rollouts": 8}
    rec, = micro_train_panel(trainer, mk, [s], p1b, 0, 10, 1.0, cfg["student"]["history"], log=lambda *_: None)
    assert rec["success_before"] > 0
    # (the 32-wide mock model's logits are capped by its final norm: pi(wait) tops out ~0.64)
    assert rec["pi_target_after"] > rec["pi_target_before"] + 0.3
    assert rec["success_after"] < rec["success_before"] and rec["utility"] < 0
    assert rec["losses"][-1] < rec["losses"][0] and len(rec["losses"]) == 25
    # the before-score is the base model's, with the same sample seeds
    base_m, tok = load_model_and_tokenizer(trainer.model.peft_config["default"].base_model_name_or_path, device="cpu")
    res = run_episodes(Policy(base_m, tok), mk, validation_specs(s, 8, 10, 0), 1.0, cfg["student"]["history"])
    assert rec["successes_before"] == [r.success for r in res]


def test_panel_is_stratified_train_only_and_nested(snaps):
    p3, info = select_panel(snaps, 3, 0)
    assert not any(s["heldout"] for s in p3)
    for q in QUADRANTS:
        assert info["chosen"][q] == min(3, info["available"][q])
    p1, _ = select_panel(snaps, 1, 0)
    assert {s["snapshot_id"] for s in p1} <= {s["snapshot_id"] for s in p3}
    assert [s["snapshot_id"] for s in select_panel(snaps, 3, 0)[0]] == [s["snapshot_id"] for s in p3]


def _adapter_state(path):
    from safetensors.torch import load_file

    return load_file(f"{path}/adapter_model.safetensors")


def test_same_seed_identical_adapter_weights(snaps, mock_student, tmp_path):
    ex = run_data("B2_all", snaps, 0).examples
    r1 = train_adapter(mock_student, ex, TRAIN, 7, tmp_path / "a", "cpu", log=lambda *_: None)
    train_adapter(mock_student, ex, TRAIN, 7, tmp_path / "b", "cpu", log=lambda *_: None)
    train_adapter(mock_student, ex, TRAIN, 8, tmp_path / "c", "cpu", log=lambda *_: None)
    a, b, c = (_adapter_state(tmp_path / x) for x in "abc")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)
    assert any(k.endswith("lora_B.weight") and a[k].abs().sum() > 0 for k in a)  # it trained
    assert r1["n_examples"] == len(ex) and r1["n_target_tokens"] == len(ex)  # one token per action here
    assert r1["steps"] == 2 * int(np.ceil(len(ex) / 4))
    assert [r["step"] for r in r1["metrics_rows"]] == list(range(1, r1["steps"] + 1))


# ------------------------------------------------------------------ correlation and gate


def test_correlation_matches_scipy_and_handles_degenerate_data():
    from scipy import stats

    rng = np.random.default_rng(0)
    x = rng.normal(size=30)
    y = x + rng.normal(size=30)
    c = correlation(x, y, seed=0, n_resamples=999)
    assert c["pearson"]["r"] == pytest.approx(stats.pearsonr(x, y).statistic)
    assert c["spearman"]["r"] == pytest.approx(stats.spearmanr(x, y).statistic)
    ci = c["spearman"]["ci"]
    assert ci["low"] < c["spearman"]["r"] < ci["high"]
    const = correlation([0.0, 0.0, 0.0, 0.0], [0.1, 0.2, 0.0, 0.3])
    assert const["spearman"]["r"] is None and "constant" in const["spearman"]["note"]
    # coarse values (multiples of 1/4) with ties: CI is still finite
    xs = np.array([0, 0, 0.25, 0.5, 0, 0.25, 0, 0, 0.75, 0.25, 0, 0])
    ys = np.array([0, 0.25, 0, 0.5, 0, 0.25, 0, -0.25, 0.5, 0, 0, 0])
    cs = correlation(xs, ys, n_resamples=999)["spearman"]
    assert np.isfinite(cs["ci"]["low"]) and np.isfinite(cs["ci"]["high"])


def test_correlation_report_gate_record():
    recs = [{"snapshot_id": f"s{i}_step0001_k0", "quadrant": QUADRANTS[i % 4], "ELP_net": i / 10,
             "ELP_net_xfit": i / 10, "utility": i / 20}
            for i in range(12)]
    rep = correlation_report(recs, seed=0, threshold=0.3, n_resamples=999)
    g = rep["gate"]
    assert g["name"] == "cpt_spearman" and g["value"] == pytest.approx(1.0) and g["passed"] is True
    assert set(g) >= {"name", "value", "ci", "threshold", "passed"}
    assert set(rep["per_quadrant"]) == set(QUADRANTS) and rep["mean_utility_per_quadrant"][QUADRANTS[0]]["n"] == 3
    for r in recs:
        r["utility"] = -r["utility"]
    assert correlation_report(recs, 0, 0.3, n_resamples=999)["gate"]["passed"] is False

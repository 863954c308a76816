"""Issue 10: common random numbers, the cross-fitted ELP on a null, faithful patches."""

import json

import numpy as np
import pytest

from teachable.labeling.rollouts import crn_seed, elp_estimates, rollout_specs
from teachable.rollout import inverse_cdf


def test_inverse_cdf_one_uniform():
    p = np.array([0.2, 0.5, 0.3])
    assert [inverse_cdf(p, u) for u in (0.0, 0.19, 0.2, 0.69, 0.7, 0.999)] == [0, 0, 1, 1, 2, 2]
    # close distributions map most uniforms to the same action (streams couple)
    q = np.array([0.25, 0.45, 0.3])
    us = np.random.default_rng(0).random(2000)
    assert np.mean([inverse_cdf(p, u) == inverse_cdf(q, u) for u in us]) > 0.9


def test_conditions_share_one_stream_per_rollout():
    from teachable.phase0 import encode_state  # noqa: F401  (the state codec the specs decode)

    snap = {"snapshot_id": "t_step0001_k0", "state": None, "history": [],
            "teacher": {"suggested_action": "go forward", "diagnosis": "you must go to the red ball ."},
            "student_greedy_action": "turn left", "obs_text": "you face a wall .", "mission": "go to the red ball"}
    import teachable.labeling.rollouts as R

    orig = R.decode_state
    R.decode_state = lambda s: b"x"
    try:
        specs = rollout_specs([snap], n=3, horizon=5, seed=7)
    finally:
        R.decode_state = orig
    by_j: dict = {}
    for sp in specs:
        _, cond, j = sp.episode_id.split("|")
        if cond != "expert":
            by_j.setdefault(int(j), set()).add(sp.sample_seed)
    assert all(len(v) == 1 for v in by_j.values())  # one stream per j, shared by conditions
    assert len({next(iter(v)) for v in by_j.values()}) == 3  # distinct across j
    assert by_j[0] == {crn_seed(7, snap["snapshot_id"], 0)}


def _bootstrap_ci(x, rng, n=2000):
    means = [rng.choice(x, len(x)).mean() for _ in range(n)]
    return np.quantile(means, [0.025, 0.975])


def test_null_elp_plugin_biased_crossfit_not():
    """Null: every condition has the same success probability, drawn per snapshot. The
    plug-in max is clearly > 0; the cross-fitted mean's 95% CI holds 0 and |mean| <= 0.02.
    A cross-fit that reused the choosing half (or the plug-in itself) fails this test."""
    rng = np.random.default_rng(2026)
    n_snap, n = 1000, 8
    plug, xfit = [], []
    for _ in range(n_snap):
        p = rng.uniform(0.1, 0.9)
        out = {c: list(rng.random(n) < p) for c in ("placebo", "demo", "hint", "contrast")}
        e = elp_estimates(out)
        plug.append(e["ELP_net"])
        xfit.append(e["ELP_net_xfit"])
    plug, xfit = np.array(plug), np.array(xfit)
    lo, hi = _bootstrap_ci(xfit, rng)
    assert plug.mean() > 0.1
    assert lo <= 0 <= hi and abs(xfit.mean()) <= 0.02
    # and it still sees a real effect: demo helps by 0.3
    same = [True, True, False, False] * 2
    out = {"placebo": same, "demo": [True] * 7 + [False], "hint": same, "contrast": same}
    assert elp_estimates(out)["ELP_net_xfit"] == pytest.approx(0.375)


# ---------------------------------------------------------------- CRN on real rollouts


@pytest.fixture(scope="module")
def policy(mock_student):
    from teachable.policy import Policy, load_model_and_tokenizer

    m, tok = load_model_and_tokenizer(mock_student, device="cpu")
    return Policy(m, tok, batch_size=16)


def test_identical_patches_give_identical_rollouts_and_force_aligns(policy):
    """With common random numbers, two conditions whose patches are the same text run the
    same rollout j step for step; and a forced first step uses up its draw, so once the
    forced action is the one the policy sampled, the rest of the episode is the same.
    The old seeding (condition in the seed) fails both."""
    from teachable.envs import make_env
    from teachable.rollout import EpisodeSpec, run_episodes

    mk = lambda: make_env("mock")
    specs = []
    for i in range(6):
        for cond in ("placebo", "demo", "policy", "force"):
            mode = "force" if cond == "force" else "policy"
            patch = "" if cond in ("policy", "force") else "advice from a similar situation : look ."
            specs.append(EpisodeSpec(f"s{i}|{cond}", seed=i, mode=mode, patch=patch, max_steps=12,
                                     sample_seed=crn_seed(0, f"s{i}", 0)))
    res = {r.episode_id: r for r in run_episodes(policy, mk, specs, temperature=1.0)}
    env = mk()
    aligned = 0
    for i in range(6):
        assert res[f"s{i}|placebo"].actions == res[f"s{i}|demo"].actions
        pol, frc = res[f"s{i}|policy"].actions, res[f"s{i}|force"].actions
        env.reset(i)
        if pol[0] == env.expert_action():
            assert pol == frc
            aligned += 1
    assert aligned >= 1


def test_force_rollouts_copied_where_they_cannot_differ_labels_unchanged(policy, monkeypatch):
    """label_rollouts skips force rollout j when policy rollout j already took the expert's
    first action (then the two are the same episode); the labels equal running every spec."""
    import teachable.labeling.rollouts as R
    from teachable.envs import make_env
    from teachable.phase0 import encode_state
    from teachable.rollout import run_episodes

    mk = lambda: make_env("mock")
    env, snaps = mk(), []
    for i in range(8):
        obs = env.reset(i)
        snaps.append({"snapshot_id": f"t{i}_step0000_k0", "state": encode_state(env.get_state()), "history": [],
                      "teacher": {"suggested_action": env.expert_action(), "diagnosis": "the goal is ahead ."},
                      "student_greedy_action": obs.valid_actions[0], "obs_text": obs.text, "mission": obs.mission})
    full = R.success_rates(run_episodes(policy, mk, R.rollout_specs(snaps, 6, 12, 0), 1.0, 2))
    ran = []
    monkeypatch.setattr(R, "run_episodes", lambda p, m, specs, *a, **k: ran.extend(specs) or run_episodes(p, m, specs, *a, **k))
    out = R.label_rollouts(policy, mk, [dict(s) for s in snaps], 6, 12, 0, 1.0, 2)
    for s in out:
        f = full[s["snapshot_id"]]
        assert s["p_force"] == np.mean(f["force"]) and s["p_policy"] == np.mean(f["policy"])
        assert s["p_demo"] == np.mean(f["demo"]) and s["n_force"] == 6
    n_force_run = sum(sp.mode == "force" for sp in ran)
    assert 0 < n_force_run < 8 * 6  # some copied, and the run specs exist only once
    assert len({sp.episode_id for sp in ran}) == len(ran)


# ---------------------------------------------------------------- faithful patches


def test_patches_are_advice_from_a_similar_situation():
    from teachable.labeling.rollouts import patches_for
    from teachable.prompts import situation_brief

    obs = ("you carry nothing. you face a wall. wall 1 step forward. you see a red key 2 steps left, "
           "a blue ball 3 steps right and 2 steps forward.")
    snap = {"obs_text": obs, "student_greedy_action": "go forward",
            "teacher": {"suggested_action": "turn left", "diagnosis": "you must get the red key ; the red key is 2 steps left ."}}
    p = patches_for(snap)
    brief = situation_brief(obs)
    assert "wall 1 step forward" not in brief and brief.startswith("you carry nothing , you face a wall")
    for c in ("placebo", "demo", "contrast", "hint"):
        assert p[c].startswith(f"advice from a similar situation ( {brief} ) :"), p[c]
    assert "in this situation" not in p["demo"] and "turn left" in p["demo"]
    assert "turn left was right there , go forward was wrong" in p["contrast"]  # the student's own action
    assert p["hint"].endswith(snap["teacher"]["diagnosis"])
    assert p["base"] == ""


def test_sft_formats_use_the_cpt_texts():
    """training/formats.py builds its patches with labeling.rollouts.patches_for."""
    import inspect

    from teachable.training import formats

    assert "patches_for(snap)" in inspect.getsource(formats)


# ---------------------------------------------------------------- warm-start


def test_warm_start_patches_do_not_bake_in_the_answer():
    from teachable.envs import make_env
    from teachable.student import collect_demos

    ex = collect_demos(lambda: make_env("babyai", max_steps=20), 30, 0, 2, 0.2, 0.6, 20)
    kinds = {k: [e for e in ex if e.patch_kind == k] for k in ("here", "other_state", "sham", "placebo")}
    assert all(kinds.values()), {k: len(v) for k, v in kinds.items()}
    assert all(e.patch_action == e.action for e in kinds["here"])
    assert all(e.patch_action != e.action for e in kinds["sham"] if e.patch_action)
    wrong_now = [e for e in kinds["other_state"] if e.patch_action != e.action]
    assert len(wrong_now) >= 0.2 * len(kinds["other_state"])
    # the label is always the expert's action; a patch from another state carries that state's view
    assert all("advice from a similar situation" in e.prompt for k in kinds for e in kinds[k])
    share_wrong = sum(bool(e.patch_action) and e.patch_action != e.action for e in ex) / sum(bool(e.patch_action) for e in ex)
    assert 0.2 < share_wrong < 0.8


def test_bootstrap_report_carries_follow_rates_and_patch_kinds(tmp_path):
    """Mock env, tiny model: the report holds the follow rates (measured on fresh tasks),
    the warm-start patch-kind counts, the kept checkpoint and its selection rule."""
    from functools import partial

    from teachable.config import load_config
    from teachable.envs import env_from_config
    from teachable.io import read_json
    from teachable.student import PATCH_KINDS, bootstrap_student

    cfg = load_config("tests/data/config_mock.yaml", {"bootstrap": {
        "patch_share": 0.5, "patch_mix": {"here": 0.5, "other_state": 0.2, "sham": 0.2, "placebo": 0.1},
        "select": "best", "success_window": [0.2, 0.8], "final_eval_tasks": 6}})
    rep = bootstrap_student(partial(env_from_config, cfg["env"]), cfg["bootstrap"], 0, str(tmp_path / "s"),
                            cfg["student"]["history"], cfg["env"]["max_steps"])
    assert read_json(tmp_path / "s" / "bootstrap_report.json") == json.loads(json.dumps(rep))
    f = rep["follow"]
    assert f["n_states"] > 0
    for k in ("follow_right_now", "follow_wrong_now", "no_patch_picks_right", "no_patch_picks_wrong"):
        assert 0.0 <= f[k] <= 1.0
    assert f["follow_gain"] == pytest.approx(f["follow_right_now"] - f["no_patch_picks_right"])
    kinds = rep["warm_start_patches"]
    assert set(PATCH_KINDS) <= set(kinds) and all(kinds[k] > 0 for k in PATCH_KINDS)
    assert kinds["right_now"] >= kinds["here"] and kinds["wrong_now"] > 0
    assert rep["n_episodes"] == 6 and rep["select"] == "best"
    assert rep["selected_step"] in [c["step"] for c in rep["curve"]]
    assert all("follow_gain" in c for c in rep["curve"])


# ---------------------------------------------------------------- label reliability


def test_cohen_kappa_hand_values():
    from teachable.labeling.reliability import cohen_kappa

    a = ["Q1_highU_highL"] * 5 + ["Q3_lowU_lowL"] * 5
    assert cohen_kappa(a, a) == 1.0
    b = ["Q1_highU_highL"] * 4 + ["Q3_lowU_lowL"] * 6
    # p_o = 0.9, p_e = 0.5*0.4 + 0.5*0.6 = 0.5 -> 0.8
    assert cohen_kappa(a, b) == pytest.approx(0.8)
    assert cohen_kappa(["Q1_highU_highL"] * 3, ["Q1_highU_highL"] * 3) is None


def test_reliability_report_and_gate(tmp_path):
    from teachable.gates import label_reliability
    from teachable.io import write_json
    from teachable.labeling.reliability import LABELS, fresh_copy, report, subset

    rng = np.random.default_rng(0)
    first, second = [], []
    for i in range(40):
        s = {"snapshot_id": f"t{i}_step0001_k0", "U": float(rng.random()), "teacher": {"x": 1}}
        truth = rng.random()
        a = {**s, **{k: float(truth + 0.1 * rng.standard_normal()) for k in LABELS}}
        b = {**fresh_copy(a), **{k: float(truth + 0.1 * rng.standard_normal()) for k in LABELS}}
        a["quadrant"] = "Q1_highU_highL" if a["L_local"] > 0.5 and a["U"] > 0.5 else "Q3_lowU_lowL"
        first.append(a)
        second.append(b)
    assert "L_local" not in fresh_copy(first[0]) and fresh_copy(first[0])["teacher"] == {"x": 1}
    sub = subset(first, 30, 0.0, seed=1)
    assert len(sub) == 30 and sub == subset(first, 30, 0.0, seed=1) and sub != subset(first, 30, 0.0, seed=2)
    assert len(subset(first, 3, 0.5, seed=1)) == 20
    th = {"U_threshold": 0.5, "L_threshold": 0.5}
    rep = report(first, second, th, {"L_local": 0.6, "ELP_net": 0.5}, 6, 40)
    assert rep["spearman"]["L_local"] > 0.8 and rep["gate"]["passed"] is True
    assert rep["quadrant_kappa"] is not None and rep["quadrant_kappa"] > 0.2
    # independent noise only: the gate fails
    noise = [{**b, **{k: float(rng.random()) for k in LABELS}} for b in second]
    bad = report(first, noise, th, {"L_local": 0.6, "ELP_net": 0.5}, 6, 40)
    assert bad["gate"]["passed"] is False
    write_json(tmp_path / "r.json", rep)
    g = label_reliability(tmp_path / "r.json")[0]
    assert g["name"] == "label_reliability" and g["passed"] is True and g["value"] == rep["spearman"]["L_local"]


def test_reliability_by_n_from_rollout_prefixes():
    """Labels from the first k rollouts are what n_rollouts = k gives (stream j does not
    depend on n); at k = n they are the labels themselves."""
    from teachable.labeling.reliability import by_n
    from teachable.labeling.rollouts import apply_rates, prefix_labels

    rng = np.random.default_rng(3)
    pairs = []
    for i in range(30):
        p = rng.random(6)  # per condition success prob, shared by both labelings (signal)
        conds = ("policy", "force", "placebo", "demo", "contrast", "hint")
        mk = lambda: {**{c: list(rng.random(6) < p[k]) for k, c in enumerate(conds)}, "expert": [True]}
        a, b = apply_rates({"snapshot_id": f"s{i}"}, mk()), apply_rates({"snapshot_id": f"s{i}"}, mk())
        pairs.append((a, b))
    a0 = pairs[0][0]
    assert prefix_labels(a0["rollout_outcomes"], 6)["L_local"] == a0["L_local"]
    assert prefix_labels(a0["rollout_outcomes"], 6)["ELP_net"] == a0["ELP_net"]
    assert prefix_labels(a0["rollout_outcomes"], 2)["L_local"] == (
        np.mean(a0["rollout_outcomes"]["force"][:2]) - np.mean(a0["rollout_outcomes"]["policy"][:2]))
    res = by_n(pairs, 6, n_resamples=200)
    assert set(res) == {"2", "4", "6"}
    from teachable.labeling.reliability import _spearman

    assert res["6"]["L_local"]["spearman"] == pytest.approx(
        _spearman([a["L_local"] for a, _ in pairs], [b["L_local"] for _, b in pairs]))
    assert res["6"]["L_local"]["low"] <= res["6"]["L_local"]["spearman"]


def test_drop_expert_stops_the_bot_for_this_episode_only():
    """BabyAI: after drop_expert() the episode steps the same (observations, success) but
    the bot no longer replans; expert_action() then refuses; reset brings it back."""
    from teachable.envs import make_env

    a, b = make_env("babyai", max_steps=20), make_env("babyai", max_steps=20)
    a.reset(3), b.reset(3)
    b.drop_expert()
    with pytest.raises(RuntimeError, match="drop_expert"):
        b.expert_action()
    for _ in range(8):
        act = a.expert_action()
        oa, _, da, ia = a.step(act)
        ob, _, db, ib = b.step(act)
        assert (oa.text, oa.valid_actions, da, ia["success"]) == (ob.text, ob.valid_actions, db, ib["success"])
        if da:
            break
    b.reset(3)
    c = make_env("babyai", max_steps=20)
    c.reset(3)
    assert b.expert_action() == c.expert_action()

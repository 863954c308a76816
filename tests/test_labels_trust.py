"""Issue 10: common random numbers, the cross-fitted ELP on a null, faithful patches."""

import json

import numpy as np
import pytest

from teachable.labeling.branches import crn_seed, elp_estimates, rollout_specs
from teachable.engine import inverse_cdf


def test_inverse_cdf_one_uniform():
    p = np.array([0.2, 0.5, 0.3])
    assert [inverse_cdf(p, u) for u in (0.0, 0.19, 0.2, 0.69, 0.7, 0.999)] == [0, 0, 1, 1, 2, 2]
    # close distributions map most uniforms to the same action (streams couple)
    q = np.array([0.25, 0.45, 0.3])
    us = np.random.default_rng(0).random(2000)
    assert np.mean([inverse_cdf(p, u) == inverse_cdf(q, u) for u in us]) > 0.9


def test_conditions_share_one_stream_per_rollout():
    from teachable.snapshot import encode_state  # noqa: F401  (the state codec the specs decode)

    snap = {"snapshot_id": "t_step0001_k0", "state": None, "history": [],
            "teacher": {"suggested_action": "go forward", "diagnosis": "you must go to the red ball ."},
            "student_greedy_action": "turn left", "obs_text": "you face a wall .", "mission": "go to the red ball"}
    import teachable.labeling.branches as R

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
    from teachable.engine import EpisodeSpec, run_episodes

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


def _mock_snaps(n: int):
    from teachable.envs import make_env
    from teachable.snapshot import encode_state

    env, snaps = make_env("mock"), []
    for i in range(n):
        obs = env.reset(i)
        snaps.append({"snapshot_id": f"t{i}_step0000_k0", "state": encode_state(env.get_state()), "history": [],
                      "teacher": {"suggested_action": env.expert_action(), "diagnosis": "the goal is ahead ."},
                      "student_greedy_action": obs.valid_actions[0], "obs_text": obs.text, "mission": obs.mission,
                      "valid_actions": list(obs.valid_actions)})
    return snaps


def test_force_and_deviate_rollouts_copied_where_they_cannot_differ_labels_unchanged(policy, monkeypatch):
    """label_rollouts runs force rollout j only where policy rollout j did not take the
    expert's first action, and deviate rollout j only where it did (the others are the
    policy's own episode); the labels equal running every spec."""
    import teachable.labeling.branches as R
    from teachable.envs import make_env
    from teachable.labeling.uncertainty import add_uncertainty
    from teachable.engine import run_episodes

    mk = lambda: make_env("mock")
    snaps = _mock_snaps(8)
    add_uncertainty(policy, snaps)
    full_res = run_episodes(policy, mk, R.rollout_specs(snaps, 6, 12, 0), 1.0, 2)
    full = R.success_rates(full_res)
    ran = []
    monkeypatch.setattr(R, "run_episodes", lambda p, m, specs, *a, **k: ran.extend(specs) or run_episodes(p, m, specs, *a, **k))
    out = R.label_rollouts(policy, mk, [dict(s) for s in snaps], 6, 12, 0, 1.0, 2)
    for s in out:
        f = full[s["snapshot_id"]]
        assert s["p_force"] == np.mean(f["force"]) and s["p_policy"] == np.mean(f["policy"])
        assert s["p_deviate"] == np.mean(f["deviate"]) and s["p_demo"] == np.mean(f["demo"]) and s["n_force"] == 6
        assert s["L_local"] == pytest.approx((1 - s["pi_expert"]) * (s["p_force"] - s["p_deviate"]))
        assert s["L_local_plugin"] == s["p_force"] - s["p_policy"]
    n_force_run = sum(sp.mode == "force" for sp in ran)
    n_dev_run = sum(sp.mode == "deviate" for sp in ran)
    assert 0 < n_force_run < 8 * 6 and 0 < n_dev_run < 8 * 6 and n_force_run + n_dev_run <= 8 * 6
    assert len({sp.episode_id for sp in ran}) == len(ran)
    # a deviate rollout never opens with the expert's action, and pi* is the engine's own
    by = {r.episode_id: r for r in full_res}
    env = mk()
    for s in snaps:
        env.reset(int(s["snapshot_id"][1:].split("_")[0]))
        a_star = env.expert_action()
        assert all(by[f"{s['snapshot_id']}|deviate|{j}"].actions[0] != a_star for j in range(6))
        assert out[snaps.index(s)]["pi_expert"] == pytest.approx(s["pi"][a_star])


def test_coupled_deviation_is_exact_and_keeps_the_policys_draw():
    from teachable.engine import coupled_deviation

    p = np.array([0.1, 0.45, 0.3, 0.15])
    us = (np.arange(200_000) + 0.5) / 200_000  # a fine grid of uniforms: exact frequencies
    for avoid in range(4):
        dev = np.array([coupled_deviation(p, u, avoid) for u in us[::10]])
        pol = np.array([inverse_cdf(p, u) for u in us[::10]])
        assert not (dev == avoid).any()
        assert (dev[pol != avoid] == pol[pol != avoid]).all()  # the policy's own draw where it can
        freq = np.bincount(dev, minlength=4) / len(dev)
        want = np.where(np.arange(4) == avoid, 0.0, p / (1 - p[avoid]))
        assert np.abs(freq - want).max() < 1e-3
    assert coupled_deviation(np.array([1.0]), 0.3, 0) == 0  # nothing to deviate to


def test_rao_blackwell_leverage_same_mean_less_noise(policy):
    """Over independent master seeds, the Rao-Blackwellised L_local has the plug-in's mean
    (the same quantity, p_force - p_policy) and a smaller spread."""
    from teachable.envs import make_env
    from teachable.labeling.branches import label_rollouts
    from teachable.labeling.uncertainty import add_uncertainty

    snaps = _mock_snaps(6)
    add_uncertainty(policy, snaps)
    rb, plug = [], []
    for seed in range(12):
        out = label_rollouts(policy, lambda: make_env("mock"), [dict(s) for s in snaps], 4, 12, seed, 1.0, 2, cpt=False)
        rb.append([s["L_local"] for s in out])
        plug.append([s["L_local_plugin"] for s in out])
    rb, plug = np.array(rb), np.array(plug)
    assert np.abs(rb.mean(0) - plug.mean(0)).max() < 0.15  # same mean per snapshot (12 x 4 rollouts)
    assert rb.std(0).mean() < plug.std(0).mean()
    assert (rb == 0).mean() < (plug == 0).mean() or (plug == 0).mean() == 0


def test_reliability_by_n_from_rollout_prefixes():
    """Labels from the first k rollouts are what n_rollouts = k gives (stream j does not
    depend on n); at k = n they are the labels themselves."""
    from teachable.labeling.reliability import by_n
    from teachable.labeling.branches import apply_rates, local_leverage, prefix_labels

    rng = np.random.default_rng(3)
    pairs = []
    for i in range(30):
        p = rng.random(7)  # per condition success prob, shared by both labelings (signal)
        conds = ("policy", "force", "deviate", "placebo", "demo", "contrast", "hint")
        mk = lambda: {**{c: list(rng.random(6) < p[k]) for k, c in enumerate(conds)}, "expert": [True]}
        a = apply_rates({"snapshot_id": f"s{i}_step0001_k0"}, mk(), 0.4)
        pairs.append((a, apply_rates({"snapshot_id": f"s{i}_step0001_k0"}, mk(), 0.4)))
    a0 = pairs[0][0]
    assert prefix_labels(a0["rollout_outcomes"], 6, 0.4)["L_local"] == a0["L_local"]
    assert prefix_labels(a0["rollout_outcomes"], 6, 0.4)["ELP_net"] == a0["ELP_net"]
    o = a0["rollout_outcomes"]
    assert prefix_labels(o, 2, 0.4)["L_local"] == local_leverage(o["force"][:2], o["deviate"][:2], 0.4)
    assert prefix_labels(o, 2)["L_local"] == np.mean(o["force"][:2]) - np.mean(o["policy"][:2])  # no pi*: plug-in
    res = by_n([(dict(a, pi_expert=0.4), dict(b, pi_expert=0.4)) for a, b in pairs], 6, n_resamples=200)
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


def test_rao_blackwell_leverage_on_a_null_is_zero_within_its_ci():
    """Null: the expert's first action changes nothing (force and deviate rollouts succeed
    with the same probability). The mean L_local over 1000 snapshots has a 95% CI holding 0."""
    from teachable.labeling.branches import local_leverage

    rng = np.random.default_rng(11)
    vals = []
    for _ in range(1000):
        p, pi_star = rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.95)
        vals.append(local_leverage(list(rng.random(6) < p), list(rng.random(6) < p), pi_star))
    lo, hi = _bootstrap_ci(np.array(vals), rng)
    assert lo <= 0 <= hi and abs(np.mean(vals)) <= 0.02


def test_progress_outcome_through_the_engine_matches_running_every_spec(policy):
    """labeling.outcome progress on real rollouts: each rollout's progress is in [0, 1] and
    1 exactly when it succeeds; the headline labels equal outcome_labels of the progress of
    every spec run in full (force and deviate twins copied from policy rollouts included),
    and the success labels keep their suffix."""
    import teachable.labeling.branches as R
    from teachable.envs import make_env
    from teachable.labeling.uncertainty import add_uncertainty
    from teachable.engine import run_episodes

    mk = lambda: make_env("mock")
    snaps = _mock_snaps(8)
    add_uncertainty(policy, snaps)
    full_res = run_episodes(policy, mk, R.rollout_specs(snaps, 6, 12, 0), 1.0, 2)
    for r in full_res:
        p = R.rollout_progress(r)
        assert 0.0 <= p <= 1.0 and (p == 1.0) == r.success
    prog, succ = R.progress_outcomes(full_res), R.success_rates(full_res)
    out = R.label_rollouts(policy, mk, [dict(s) for s in snaps], 6, 12, 0, 1.0, 2, outcome="progress")
    for s in out:
        sid = s["snapshot_id"]
        want = R.outcome_labels(prog[sid], s["pi_expert"])
        assert s["label_outcome"] == "progress"
        for k in ("L_local", "L_upper", "ELP_net", "ELP_net_xfit"):
            assert s[k] == pytest.approx(want[k], abs=1e-5), (sid, k)
        assert s["route_net"] == want["route_net"]
        assert s["L_local_success"] == pytest.approx(R.outcome_labels(succ[sid], s["pi_expert"])["L_local"])
        assert s["p_force"] == np.mean(succ[sid]["force"])

"""Issue 10: the continuous progress outcome (steps to go) and the labels built on it."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from teachable.envs.babyai import BabyAITextEnv
from teachable.envs.mock import MockEnv
from teachable.io import InputError
from teachable.labeling.branches import apply_rates, labels_at_n, rollout_progress


def test_babyai_steps_to_go_is_a_shortest_plan_along_expert_episodes():
    """On 80 real episodes of the four families: the search's plan is never longer than the
    bot's whole episode, equals it in most, drops by one per expert step nearly always, and
    is 0 once the mission is done. A search that ignored walls or objects (too short), or
    one that counted the wrong goal, fails these bounds."""
    env = BabyAITextEnv(max_steps=64)
    equal, dec, steps = 0, 0, 0
    for seed in range(80):
        env.reset(seed)
        d0 = env.steps_to_go()
        assert d0 is not None and d0 >= 1
        prev, n = d0, 0
        while True:
            _, _, done, info = env.step(env.expert_action())
            n += 1
            d = env.steps_to_go()
            if not done:
                assert d is not None and d >= 1
                dec += d == prev - 1
                steps += 1
                prev = d
            if done:
                break
        assert info["success"] and env.steps_to_go() == 0
        assert d0 <= n  # the bot's plan is a plan: the shortest one is no longer
        equal += d0 == n
    assert equal / 80 >= 0.7
    assert dec / steps >= 0.95


def test_steps_to_go_survives_restore_and_mock_counts_the_turn():
    env = BabyAITextEnv(max_steps=64)
    env.reset(3)
    for _ in range(3):
        env.step(env.expert_action())
    d, state = env.steps_to_go(), env.get_state()
    other = BabyAITextEnv(max_steps=64)
    other.set_state(state)
    assert other.steps_to_go() == d
    m = MockEnv()
    m.reset(3)  # goal 2 + 3 % 4 = 5 cells east, facing east (odd seed)
    assert m.steps_to_go() == 5
    m.step("turn around")
    assert m.steps_to_go() == 6


def _res(start, end, success=False, low=None):
    return SimpleNamespace(to_go_start=start, to_go_end=end, to_go_min=end if low is None else low, success=success)


def test_rollout_progress_is_a_graded_success():
    assert rollout_progress(_res(8, 0, True)) == 1.0
    assert rollout_progress(_res(8, 8)) == 0.0
    assert rollout_progress(_res(8, 6, low=2)) == 0.75  # the closest approach counts
    assert rollout_progress(_res(8, 6, low=2), at="end") == 0.25
    assert rollout_progress(_res(4, 20), at="end") == -1.0  # floored
    assert rollout_progress(_res(None, 3)) is None
    assert rollout_progress(_res(8, None, low=None)) is None
    # a lost game (TextWorld: steps to go infinite) keeps the closest approach before it
    assert rollout_progress(_res(8, math.inf, low=5)) == 0.375
    assert rollout_progress(_res(8, math.inf, low=5), at="end") == -1.0


CONDS = ("policy", "force", "deviate", "placebo", "demo", "contrast", "hint")


def test_progress_outcome_separates_snapshots_that_success_ties():
    """Two snapshots where no rollout succeeds: success leverage is 0 for both; with
    labeling.outcome progress the headline L_local ranks them by how much nearer the forced
    first step brings the student, and the success labels keep their suffix."""
    fail = {c: [0, 0, 0, 0] for c in CONDS} | {"expert": [1]}
    near = {c: [0.1, 0.2, 0.0, 0.1] for c in CONDS} | {"force": [0.6, 0.5, 0.7, 0.6], "expert": [1.0]}
    far = {c: [0.1, 0.2, 0.0, 0.1] for c in CONDS} | {"force": [0.2, 0.3, 0.1, 0.2], "expert": [1.0]}
    a = apply_rates({"snapshot_id": "a"}, fail, 0.3, progress=near, outcome="progress")
    b = apply_rates({"snapshot_id": "b"}, fail, 0.3, progress=far, outcome="progress")
    assert a["L_local_success"] == b["L_local_success"] == 0.0
    assert a["L_local"] == pytest.approx(0.7 * 0.5) and b["L_local"] == pytest.approx(0.7 * 0.1)
    assert a["ELP_net"] == pytest.approx(0.0) and a["label_outcome"] == "progress"
    assert a["p_force"] == 0.0 and a["prog_force"] == pytest.approx(0.6)  # p_c stay success rates
    assert labels_at_n(a, 4)["L_local"] == pytest.approx(a["L_local"])
    assert labels_at_n(a, 4)["L_local_success"] == 0.0
    s = apply_rates({"snapshot_id": "s"}, fail, 0.3, progress=near)  # default: success headline
    assert s["L_local"] == 0.0 and s["L_local_progress"] == pytest.approx(0.35)
    with pytest.raises(InputError, match="labeling.outcome: progress needs"):
        apply_rates({"snapshot_id": "c"}, fail, 0.3, progress=None, outcome="progress")


def test_null_elp_on_progress_outcomes_crossfit_unbiased():
    """Null with a continuous outcome: every condition's progress has the same distribution
    (a snapshot-specific Beta). The plug-in max is biased upwards; the cross-fitted mean is
    0 within its 95% CI and |mean| <= 0.02 (1000 snapshots, 8 rollouts)."""
    from teachable.labeling.branches import elp_estimates

    rng = np.random.default_rng(7)
    plug, xfit = [], []
    for _ in range(1000):
        a, b = rng.uniform(0.5, 3.0, 2)
        out = {c: list(rng.beta(a, b, 8)) for c in ("placebo", "demo", "hint", "contrast")}
        e = elp_estimates(out)
        plug.append(e["ELP_net"])
        xfit.append(e["ELP_net_xfit"])
    boot = np.random.default_rng(0)
    means = [boot.choice(xfit, len(xfit)).mean() for _ in range(2000)]
    lo, hi = np.quantile(means, [0.025, 0.975])
    assert np.mean(plug) > 0.05
    assert lo <= 0 <= hi and abs(np.mean(xfit)) <= 0.02

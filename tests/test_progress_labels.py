"""Issue 10: the continuous progress outcome (steps to go) and the labels built on it."""

from types import SimpleNamespace

import numpy as np
import pytest

from teachable.envs.babyai import BabyAITextEnv
from teachable.envs.mock import MockEnv
from teachable.labeling.quadrants import thresholds
from teachable.labeling.rollouts import progress_labels, rollout_progress


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


def _res(start, end, success=False):
    return SimpleNamespace(to_go_start=start, to_go_end=end, success=success)


def test_rollout_progress():
    assert rollout_progress(_res(8, 0, True)) == 1.0
    assert rollout_progress(_res(8, 8)) == 0.0
    assert rollout_progress(_res(8, 2)) == 0.75
    assert rollout_progress(_res(4, 20)) == -1.0  # floored
    assert rollout_progress(_res(None, 3)) is None
    assert rollout_progress(_res(8, None)) is None


def test_progress_labels_separate_snapshots_that_success_ties():
    """Two snapshots where no rollout succeeds: success leverage is 0 for both; progress
    leverage ranks them by how much nearer the forced first step brings the student."""
    fail = {c: [0, 0, 0, 0] for c in ("policy", "force", "deviate", "placebo", "demo", "contrast", "hint")}
    fail["expert"] = [1]
    from teachable.labeling.rollouts import prefix_labels

    assert prefix_labels(fail, 4, 0.3)["L_local"] == 0.0
    near = {c: [0.1, 0.2, 0.0, 0.1] for c in fail} | {"force": [0.6, 0.5, 0.7, 0.6], "expert": [1.0]}
    far = {c: [0.1, 0.2, 0.0, 0.1] for c in fail} | {"force": [0.2, 0.3, 0.1, 0.2], "expert": [1.0]}
    a, b = progress_labels(near, 0.3), progress_labels(far, 0.3)
    assert a["L_local_progress"] == pytest.approx(0.7 * 0.5)
    assert b["L_local_progress"] == pytest.approx(0.7 * 0.1)
    assert a["ELP_net_progress"] == pytest.approx(0.0)
    assert progress_labels(None, 0.3)["L_local_progress"] is None


def test_quadrants_on_progress_leverage_and_missing_label_is_named():
    rng = np.random.default_rng(0)
    snaps = [{"snapshot_id": f"s{i}", "U": float(rng.random()), "L_local": 0.0,
              "L_local_progress": float(rng.normal())} for i in range(40)]
    th = thresholds(snaps, leverage="L_local_progress")
    assert th["leverage"] == "L_local_progress" and th["n_at_L_threshold"] <= 1
    assert thresholds(snaps)["n_at_L_threshold"] == 40  # success leverage: all on the cut
    snaps[5]["L_local_progress"] = None
    from teachable.io import InputError

    with pytest.raises(InputError, match="s5"):
        thresholds(snaps, leverage="L_local_progress")

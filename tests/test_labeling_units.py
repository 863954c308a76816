import math

import numpy as np
import pytest

from teachable.io import InputError
from teachable.labeling.quadrants import add_depth, add_split, assign_quadrants, thresholds
from teachable.labeling.branches import apply_rates
from teachable.labeling.uncertainty import uncertainty_stats
from teachable.vocab import QUADRANTS


def test_uncertainty_stats_hand_values():
    u = uncertainty_stats(np.array([0.5, 0.25, 0.25]))
    h = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    assert u["U"] == pytest.approx(h) and u["effective_actions"] == pytest.approx(math.exp(h))
    assert u["margin"] == pytest.approx(0.75) and u["topk_spread"] == pytest.approx(0.25)
    assert uncertainty_stats(np.array([1.0, 0.0]))["U"] == 0.0


def test_apply_rates_gains_route_ties():
    def o(k, n=4):  # k successes of n rollouts
        return [True] * k + [False] * (n - k)

    rates = {"policy": o(1), "force": o(3), "deviate": o(0), "expert": o(1, 1), "placebo": o(1),
             "demo": o(3), "hint": o(3), "contrast": o(2)}
    s = apply_rates({}, rates, 1 / 3)
    assert s["L_local_plugin"] == 0.5 and s["L_upper"] == 0.75 and s["p_base"] == 0.25
    assert s["L_local"] == pytest.approx(2 / 3 * 0.75) and s["p_deviate"] == 0.0  # (1 - pi*)(p_force - p_deviate)
    assert s["gain_net_demo"] == 0.5 and s["gain_raw_contrast"] == 0.25
    assert s["route_net"] == "demo" and s["ELP_net"] == 0.5  # demo and hint tie: demo first
    rates["placebo"] = o(2)
    assert apply_rates({}, rates, 1 / 3)["ELP_net"] == 0.25


def _snaps():
    vals = [(0.1, 0.0), (0.2, 0.5), (0.9, 0.0), (1.0, 0.75), (0.5, 0.25), (0.5, 0.0)]
    return [{"snapshot_id": f"t{i}_step0000_k0", "trajectory_id": f"t{i}", "U": u, "L_local": l, "step": 0}
            for i, (u, l) in enumerate(vals)]


def test_median_thresholds_ties_count_low():
    s = _snaps()
    th = thresholds(s)
    assert th["U_threshold"] == 0.5 and th["L_threshold"] == 0.125
    counts = assign_quadrants(s, th)
    assert sum(counts.values()) == len(s)
    by = {x["snapshot_id"][:2]: x["quadrant"] for x in s}
    assert by["t3"] == "Q1_highU_highL" and by["t2"] == "Q2_highU_lowL"
    assert by["t0"] == "Q3_lowU_lowL" and by["t1"] == "Q4_lowU_highL"
    assert by["t4"] == "Q4_lowU_highL"  # U == threshold counts as low
    assert set(counts) == set(QUADRANTS)


def test_manual_thresholds_need_both():
    with pytest.raises(InputError, match="U_threshold"):
        thresholds(_snaps(), method="manual", U_threshold=0.3)
    th = thresholds(_snaps(), method="manual", U_threshold=0.3, L_threshold=0.1)
    assert th["U_threshold"] == 0.3


def test_depth():
    s = [{"trajectory_id": "a", "step": st, "p_expert": pe, "p_force": pf}
         for st, pe, pf in ((2, 1.0, 0.0), (4, 0.0, 0.5), (6, 0.0, 0.0))]
    add_depth(s)
    assert [x["d_expert"] for x in s] == [0, 2, 4] and [x["d_force"] for x in s] == [None, 0, 2]


def test_split_is_deterministic_and_by_trajectory():
    s = [{"trajectory_id": f"traj{i // 3}"} for i in range(300)]
    add_split(s, 0.3, seed=0)
    again = [dict(x) for x in s]
    add_split(again, 0.3, seed=0)
    assert [x["heldout"] for x in s] == [x["heldout"] for x in again]
    for i in range(0, 300, 3):
        assert s[i]["heldout"] == s[i + 1]["heldout"] == s[i + 2]["heldout"]
    share = np.mean([x["heldout"] for x in s])
    assert 0.15 < share < 0.45

"""Where a student differs from the expert (teachable.student_errors, scripts/student_errors.py):
optimal actions from steps_to_go, subgoal categories, and the breakdown of a student's picks."""

import json
import subprocess
import sys
from functools import partial

import numpy as np
import pytest

from teachable.config import load_config
from teachable.envs import env_from_config
from teachable.io import InputError
from teachable.prompts import build_prompt
from teachable.student_errors import CATEGORIES, category, error_breakdown, error_states

from conftest import MOCK_CONFIG, ROOT


class Picks:
    """A stand-in policy for the breakdown's arithmetic: scores `choose(row)` highest, row by row."""

    def __init__(self, rows, choose):
        self.picks = [choose(r) for r in rows]

    def score(self, prompts, candidates):
        return [np.array([float(c == p) for c in cands]) for p, cands in zip(self.picks, candidates)]


def test_category_reads_the_experts_subgoal_against_the_view():
    obs = "you carry nothing. you face an empty cell. you see a red ball 2 steps forward."
    assert category("go to the red ball", obs) == "target in view"
    assert category("pick up the blue key", obs) == "target not in view"
    assert category("explore", obs) == category("", obs) == "explore"
    assert category("go to a free cell", obs) == "other"
    carrying = "you carry a purple box. you face an empty cell. you see a red ball 2 steps forward."
    assert category("go to a free cell to drop the purple box", carrying) == "other"
    assert category("drop the purple box", carrying) == "other"
    assert category("go to the purple box", carrying) == "target not in view"  # carried is not seen
    assert category(None, obs) == "all"


def test_breakdown_counts_expert_and_optimal_picks_on_the_mock_env():
    cfg = load_config(MOCK_CONFIG)
    rows = error_states(partial(env_from_config, cfg["env"], expert=True), 6, 0, 1, 0.3, cfg["env"]["max_steps"])
    assert rows and {r["category"] for r in rows} == {"all"}
    # the corridor's expert is always optimal, and 'wait' never is
    assert all(r["expert"] in r["optimal"] and "wait" not in r["optimal"] for r in rows)
    expert = error_breakdown(Picks(rows, lambda r: r["expert"]), rows)
    assert expert["overall"]["agreement"] == expert["overall"]["optimal"] == 1.0
    waiter = error_breakdown(Picks(rows, lambda r: "wait"), rows)
    assert waiter["overall"]["agreement"] == waiter["overall"]["optimal"] == 0.0
    assert waiter["overall"]["n"] == waiter["all"]["n"] == len(rows) and waiter["all"]["share"] == 1.0
    with pytest.raises(InputError, match="n_tasks 0"):
        error_states(partial(env_from_config, cfg["env"]), 0, 0, 1, 0.3, 10)


def test_babyai_states_carry_optimal_actions_that_shorten_the_plan():
    cfg = load_config(ROOT / "config" / "config.yaml")
    make = partial(env_from_config, cfg["env"], expert=True)
    rows = error_states(make, 4, 0, 2, 0.2, cfg["env"]["max_steps"])
    assert {r["category"] for r in rows} <= set(CATEGORIES) - {"all"}
    assert np.mean([r["expert"] in r["optimal"] for r in rows]) >= 0.8  # BabyAIBot plans shortest paths
    assert all(set(r["optimal"]) <= set(r["valid"]) for r in rows)
    assert rows == error_states(make, 4, 0, 2, 0.2, cfg["env"]["max_steps"])  # seeded


def test_student_errors_script_prints_and_writes_the_table(mock_student, tmp_path):
    out = tmp_path / "errors.json"
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "student_errors.py"), "--config", str(MOCK_CONFIG),
                        "--students", mock_student, "--tasks", "4", "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "| overall | 1.000 | 1.000 |" in r.stdout
    rep = json.loads(out.read_text())["students"][mock_student]
    assert 0.0 <= rep["overall"]["optimal"] <= 1.0 and rep["overall"]["expert_optimal"] == 1.0


def test_student_driven_states_follow_the_students_own_picks(mock_student):
    from teachable.policy import Policy

    cfg = load_config(MOCK_CONFIG)
    policy = Policy.load(mock_student, None, "cpu", 64)
    make = partial(env_from_config, cfg["env"], expert=True)
    rows = error_states(make, 3, 0, 99, 0.0, cfg["env"]["max_steps"], policy, temperature=0.0)  # whole history
    follows = [(r, nxt) for r, nxt in zip(rows, rows[1:]) if len(nxt["hist"]) == len(r["hist"]) + 1]
    assert follows
    for r, nxt in follows:  # the next state's last action is the student's greedy pick here
        sc = policy.score([build_prompt(r["mission"], r["obs"], r["hist"], "")], [r["valid"]])[0]
        assert nxt["hist"][-1] == r["valid"][int(np.argmax(sc))]
    assert rows == error_states(make, 3, 0, 99, 0.0, cfg["env"]["max_steps"], policy, temperature=0.0)

"""TextWorld env: data-only exact restore, expert success per family, split, observation."""

import json
import math

import numpy as np
import pytest

from teachable.envs import InvalidAction, env_from_config
from teachable.io import InputError
from teachable.envs.textworld import is_info_command

pytestmark = pytest.mark.slow


def test_expert_wins_every_family_and_split(tw_env_cfg):
    """The expert (first walkthrough command) wins every game of every family, both splits."""
    wins = {}
    for split in ("tasks", "eval"):
        env = env_from_config(tw_env_cfg, split=split)
        for seed in range(8):  # 4 families x 2 games (eval: 1 game, seen twice)
            env.reset(seed)
            for _ in range(tw_env_cfg["max_steps"]):
                a = env.expert_action()
                assert a in env.observe().valid_actions
                _, r, done, info = env.step(a)
                if done:
                    break
            wins.setdefault(env.family, []).append(env.success())
            assert info["success"] == env.success() and r == float(env.success())
    assert sorted(wins) == sorted(tw_env_cfg["families"])
    assert all(all(v) for v in wins.values()), wins


def test_eval_split_is_held_out(tw_env_cfg):
    tasks, ev = env_from_config(tw_env_cfg), env_from_config(tw_env_cfg, split="eval")
    games_t = {tasks.game_for_seed(s)[1] for s in range(40)}
    games_e = {ev.game_for_seed(s)[1] for s in range(40)}
    assert games_t and games_e and not games_t & games_e
    assert all("_eval" in g for g in games_e)


def test_observation_and_actions(tw_env_cfg):
    cfg = {**tw_env_cfg, "textworld": {**tw_env_cfg["textworld"], "obs_max_chars": 120}}
    env = env_from_config(cfg)
    for seed in range(4):
        o = env.reset(seed)
        assert 0 < len(o.text) <= 120 and len(o.mission) <= 120
        assert o.valid_actions and not any(is_info_command(a) for a in o.valid_actions)
        assert "|" in o.text  # room | inventory
    keep = env_from_config({**tw_env_cfg, "textworld": {**tw_env_cfg["textworld"], "drop_info_actions": False}})
    assert any(a == "look" for a in keep.reset(0).valid_actions)
    with pytest.raises(InvalidAction):
        env.step("dance wildly")


def test_observation_order_room_first(tw_env_cfg):
    """env.textworld.obs_order room_first: room | inventory | feedback, the same parts (same
    trimming budget) as feedback | room | inventory; the state key does not change."""
    def env(order, chars=600):
        return env_from_config({**tw_env_cfg, "textworld": {**tw_env_cfg["textworld"], "obs_order": order,
                                                            "obs_max_chars": chars}})

    fb_env, room_env = env("feedback_first"), env("room_first")
    for seed in range(4):
        a, b = fb_env.reset(seed), room_env.reset(seed)
        act = fb_env.expert_action()
        a, _, _, _ = fb_env.step(act)
        b, _, _, _ = room_env.step(act)
        fb, room, inv = a.text.split(" | ")
        assert fb and b.text == " | ".join((room, inv, fb))
        assert a.valid_actions == b.valid_actions and a.mission == b.mission
        assert fb_env.state_key() == room_env.state_key()
    for chars in (120, 200):  # trimmed to the same parts whatever the order
        e1, e2 = env("feedback_first", chars), env("room_first", chars)
        e1.reset(1), e2.reset(1)
        a, _, _, _ = e1.step(e1.expert_action())
        b, _, _, _ = e2.step(e2.expert_action())
        assert len(b.text) <= chars and sorted(a.text.split(" | ")) == sorted(b.text.split(" | "))
    with pytest.raises(InputError, match="obs_order"):
        env("sideways")


def test_restore_exact_on_200_random_states(tw_env_cfg):
    """States along random walks, restored into fresh envs (data only: JSON), give the same
    observation, valid actions and expert, and the same future under the same actions."""
    rng = np.random.default_rng(0)
    env = env_from_config(tw_env_cfg)
    states = []
    for ep in range(60):
        o = env.reset(int(rng.integers(1000)))
        for _ in range(int(rng.integers(1, 8))):
            states.append((env.get_state(), o.text, o.mission, list(o.valid_actions), env.expert_action()))
            o, _, done, _ = env.step(o.valid_actions[int(rng.integers(len(o.valid_actions)))])
            if done:
                break
    assert len(states) >= 200
    fresh = env_from_config(tw_env_cfg)  # one instance restores many states, out of order
    other = env_from_config(tw_env_cfg)
    picks = rng.permutation(len(states))[:200]
    for i in picks:
        st, text, mission, valid, expert = states[int(i)]
        d = json.loads(st)
        assert d["textworld_version"] and d["game"] and isinstance(d["actions"], list)
        o1, o2 = fresh.set_state(st), other.set_state(st)
        assert (o1.text, o1.mission, o1.valid_actions) == (text, mission, valid)
        assert fresh.expert_action() == expert
        for _ in range(3):
            a = o1.valid_actions[int(rng.integers(len(o1.valid_actions)))]
            (o1, r1, d1, _), (o2, r2, d2, _) = fresh.step(a), other.step(a)
            assert (o1.text, o1.valid_actions, r1, d1, fresh.state_key()) == (o2.text, o2.valid_actions, r2, d2,
                                                                              other.state_key())
            if d1:
                break


def test_state_is_data_only_and_versioned(tw_env_cfg):
    env = env_from_config(tw_env_cfg)
    env.reset(0)
    d = json.loads(env.get_state())
    from teachable.io import InputError

    with pytest.raises(InputError, match="textworld 0.0"):
        env.set_state(json.dumps({**d, "textworld_version": "0.0"}).encode())
    with pytest.raises(InputError, match="not JSON"):
        env.set_state(b"\x80\x04pickle")


def test_steps_to_go_counts_the_walkthrough(tw_env_cfg):
    """Progress labels on TextWorld: along walks that mix expert and random steps in every
    family, every live state has a plan, an expert step shortens it by exactly one, a won game
    is 0 and a lost one infinite; the evaluation env (no walkthrough) cannot tell."""
    rng = np.random.default_rng(1)
    env = env_from_config(tw_env_cfg)
    expert_steps, shortened, ends = 0, 0, set()
    for seed in range(24):
        o = env.reset(seed)
        for _ in range(tw_env_cfg["max_steps"]):
            d = env.steps_to_go()
            assert isinstance(d, int) and d >= 1
            expert = env.expert_action()
            a = expert if rng.random() < 0.6 else o.valid_actions[int(rng.integers(len(o.valid_actions)))]
            o, _, done, info = env.step(a)
            if a == expert:
                expert_steps += 1
                shortened += env.steps_to_go() == d - 1
            if done:
                ends.add("won" if info["success"] else "lost" if env._s["lost"] else "out of steps")
                left = env.steps_to_go()
                assert left == 0 if info["success"] else left == math.inf if env._s["lost"] else left >= 1
                break
    assert expert_steps >= 100 and shortened == expert_steps
    assert "won" in ends
    free = env_from_config(tw_env_cfg, expert=False)
    free.reset(0)
    assert free.steps_to_go() is None


def test_engine_pool_reuses_closed_engines_only(tw_env_cfg):
    """A closed env's engine serves the next env on the same game (reset, not a new start)
    and gives the same episode; two live envs on one game never share an engine."""
    a, b = env_from_config(tw_env_cfg), env_from_config(tw_env_cfg)
    first = a.reset(0)
    b.reset(0)
    assert a._tw is not b._tw
    walk = []
    for _ in range(4):
        act = a.observe().valid_actions[-1]
        walk.append((act, a.step(act)[0]))
    engine = a._tw
    a.close()
    c = env_from_config(tw_env_cfg)
    again = c.reset(0)
    assert c._tw is engine
    assert (again.text, again.valid_actions) == (first.text, first.valid_actions)
    for act, obs in walk:
        o = c.step(act)[0]
        assert (o.text, o.valid_actions) == (obs.text, obs.valid_actions)

"""Text BabyAI env (src/teachable/envs/babyai.py) on the real minigrid package and BabyAIBot."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from minigrid.envs import babyai as babyai_levels

from teachable.envs import InvalidAction, make_env
from teachable.envs.babyai import ACTIONS, FAMILY_LEVELS, VOCABULARY
from teachable.envs.babyai import BabyAITextEnv as _BabyAITextEnv


def BabyAITextEnv(*args, **kw):  # noqa: N802 - these tests cover the 7x7 view text and the bot
    """The env with render: text and teacher: bot (the slot line and the shortest-plan
    teacher, the defaults, are covered by tests/test_babyai_plan.py)."""
    kw.setdefault("render", "text")
    kw.setdefault("teacher", "bot")
    return _BabyAITextEnv(*args, **kw)

FAMILIES = ["goto", "pickup", "open", "putnext"]
SRC = Path(__file__).resolve().parents[1] / "src"


def seeds_of(fam: str, n: int, start: int = 0) -> list[int]:
    i = FAMILIES.index(fam)
    return [i + 4 * k for k in range(start, start + n)]


def snapshot_view(env: BabyAITextEnv) -> dict:
    """Everything observable about the current state (for exact comparisons)."""
    o = env.observe()
    mg = env._s["env"]
    return {"obs": o.to_dict(), "expert": env.expert_info(), "key": env.state_key(),
            "success": env.success(), "family": env.family, "t": env._s["t"],
            "done": env._s["done"], "rng": repr(mg.np_random.bit_generator.state),
            "step_count": mg.step_count, "max_steps": mg.max_steps}


def play(env: BabyAITextEnv, rng: random.Random, n: int) -> list:
    """Apply up to n random valid actions (recording everything after each step)."""
    trace = []
    for _ in range(n):
        if env._s["done"]:
            break
        a = rng.choice(env.observe().valid_actions)
        obs, r, done, info = env.step(a)
        trace.append((a, obs.to_dict(), r, done, info, snapshot_view(env)))
    return trace


def mixed_states(env: BabyAITextEnv, seed: int, eps: float, rng: random.Random):
    """Yield every live state of one episode of an expert/random mixture policy."""
    obs = env.reset(seed)
    done = False
    while not done:
        yield obs
        a = env.expert_action()
        if rng.random() < eps:
            a = rng.choice(obs.valid_actions)
        obs, _, done, _ = env.step(a)


def test_make_env_and_family_choice():
    env = make_env("babyai")
    assert isinstance(env, _BabyAITextEnv) and env.actions == ACTIONS
    assert (env.render, env.teacher) == ("slots", "shortest")  # the defaults
    for seed in range(8):
        env.reset(seed)
        assert env.family == FAMILIES[seed % 4]
        assert isinstance(env._s["env"], getattr(babyai_levels, FAMILY_LEVELS[env.family][0]))
    env2 = make_env("babyai", families=["open"], max_steps=10)
    env2.reset(7)
    assert env2.family == "open"
    with pytest.raises(ValueError, match="unknown family 'jump'"):
        make_env("babyai", families=["jump"])
    with pytest.raises(ValueError, match="no level 'Nope'"):
        make_env("babyai", families=["x"], levels={"x": {"level": "Nope"}})


def test_reset_is_deterministic():
    a, b = BabyAITextEnv(), BabyAITextEnv()
    for seed in [3, 0, 17, 42, 1001]:
        b.reset(seed + 1)  # b's level objects were used for another episode first
        oa, ob = a.reset(seed), b.reset(seed)
        assert oa == ob
        assert a.state_key() == b.state_key() and a.expert_info() == b.expert_info()
    assert a.reset(5).mission == a.reset(5).mission
    texts = {a.reset(s).text + a.observe().mission for s in range(0, 40, 4)}
    assert len(texts) > 5  # different seeds give different levels


def test_invalid_actions_raise():
    env = BabyAITextEnv()
    obs = env.reset(0)
    with pytest.raises(InvalidAction, match="unknown action 'jump'"):
        env.step("jump")
    with pytest.raises(InvalidAction):
        env.step("Turn Left")
    assert "drop" not in obs.valid_actions  # carrying nothing at the start
    with pytest.raises(InvalidAction, match="not valid now"):
        env.step("drop")
    assert env.observe() == obs  # a rejected action changes nothing


def test_valid_actions_order_and_rules():
    env = BabyAITextEnv()
    rng = random.Random(1)
    for seed in range(24):
        for obs in mixed_states(env, seed, 0.5, rng):
            va = obs.valid_actions
            assert va == [a for a in ACTIONS if a in va] and va[:3] == list(ACTIONS[:3])
            mg = env._s["env"]
            fwd = mg.grid.get(*mg.front_pos)
            assert ("pick up" in va) == (fwd is not None and fwd.can_pickup() and mg.carrying is None)
            assert ("drop" in va) == (fwd is None and mg.carrying is not None)
            assert ("toggle" in va) == (fwd is not None and fwd.type == "door")


@pytest.mark.parametrize("fam", FAMILIES)
def test_bot_solves_every_family(fam):
    env = BabyAITextEnv(families=FAMILIES, max_steps=64)
    wins, lengths = 0, []
    for seed in seeds_of(fam, 20):
        obs, done = env.reset(seed), False
        assert env.family == fam
        while not done:
            a = env.expert_action()
            assert a in obs.valid_actions
            obs, r, done, info = env.step(a)
        assert info["family"] == fam and info["success"] == env.success() == (r > 0)
        wins += info["success"]
        lengths.append(info["t"])
    assert wins >= 19, f"{fam}: bot solved {wins}/20"
    assert max(lengths) <= 40, lengths


def test_expert_always_valid_and_subgoal_described():
    env = BabyAITextEnv()
    rng = random.Random(2)
    n, subgoals = 0, set()
    for seed in range(120):
        for obs in mixed_states(env, seed, 0.6, rng):
            info = env.expert_info()
            assert info["action"] == env.expert_action() in obs.valid_actions
            assert info["subgoal"] and not info["fallback"]
            subgoals.add(re.sub(r"(red|green|blue|purple|yellow|grey) ", "", info["subgoal"]))
            n += 1
    assert n > 1000
    assert {"explore", "pick up the key", "go to the ball"} <= {s.replace(" a ", " the ") for s in subgoals}
    assert any(s.startswith("open the") for s in subgoals) and any(s.startswith("drop") for s in subgoals)


def test_step_after_done_and_max_steps_cap():
    env = BabyAITextEnv(max_steps=3)
    env.reset(2)
    for i in range(3):
        obs, r, done, info = env.step("turn left")
    assert done and not info["success"] and info["t"] == 3 and r == 0.0
    assert env.expert_action() is None
    with pytest.raises(RuntimeError, match="episode is over"):
        env.step("turn left")
    with pytest.raises(RuntimeError, match="reset"):
        BabyAITextEnv().step("turn left")


def test_observation_text_grammar_and_carrying():
    env = BabyAITextEnv(families=["pickup", "putnext"])
    carried = 0
    for seed in range(10):
        obs, done = env.reset(seed), False
        assert obs.text.startswith("you carry nothing. you face ")
        while not done:
            words = re.findall(r"[a-z0-9]+", (obs.text + " " + obs.mission + " "
                                              + env.expert_info()["subgoal"]).lower())
            assert set(words) <= VOCABULARY, set(words) - VOCABULARY
            assert 8 <= len(obs.text.split()) <= 90
            a = env.expert_action()
            obs, _, done, _ = env.step(a)
            held = env._s["env"].carrying
            if a == "pick up":
                assert held is not None
                assert obs.text.startswith(f"you carry a {held.color} {held.type}. ")
                carried += 1
            elif held is None:
                assert obs.text.startswith("you carry nothing. ")
    assert carried >= 10


def test_observation_geometry():
    """'you face X' matches the cell in front; objects are sorted by distance then name."""
    env = BabyAITextEnv()
    rng = random.Random(3)
    for seed in range(16):
        for obs in mixed_states(env, seed, 0.5, rng):
            mg = env._s["env"]
            fwd = mg.grid.get(*mg.front_pos)
            face = obs.text.split(". ")[1]
            if fwd is None:
                assert face == "you face an empty cell"
            elif fwd.type == "wall":
                assert face == "you face a wall" and "wall 1 step forward" in obs.text
            else:
                assert fwd.color in face and fwd.type in face
                assert f" {fwd.type} 1 step forward" in obs.text
            m = re.search(r"you see (.*)\.$", obs.text)
            if m.group(1) != "no objects":
                dists = []
                for item in m.group(1).split(", "):
                    nums = [int(x) for x in re.findall(r"(\d+) steps?", item)]
                    dists.append(sum(nums))
                assert dists == sorted(dists)


@pytest.mark.parametrize("fam", FAMILIES)
def test_restore_is_exact(fam):
    rng = random.Random(FAMILIES.index(fam))
    env = BabyAITextEnv()
    checked = 0
    for seed in seeds_of(fam, 6):
        env.reset(seed)
        play(env, rng, rng.randrange(0, 12))
        while not env._s["done"] and checked < 40:
            state = env.get_state()
            before = snapshot_view(env)
            fresh = BabyAITextEnv()
            assert fresh.set_state(state) == env.observe()
            assert snapshot_view(fresh) == before
            actions_rng_seed = rng.randrange(10**9)
            trace_a = play(env, random.Random(actions_rng_seed), 8)
            trace_b = play(fresh, random.Random(actions_rng_seed), 8)
            assert trace_a == trace_b
            # going back to the snapshot on a used instance gives the same future again
            env.set_state(state)
            assert snapshot_view(env) == before
            assert play(env, random.Random(actions_rng_seed), 8) == trace_a
            env.set_state(state)
            play(env, rng, 2)  # move on from the snapshot: a new state to check
            checked += 1
    assert checked >= 15


def test_restore_in_another_process(tmp_path):
    env = BabyAITextEnv()
    env.reset(11)
    play(env, random.Random(5), 3)
    state = env.get_state()
    assert len(state) < 4000
    (tmp_path / "s.bin").write_bytes(state)
    code = f"""
import json, random, sys
sys.path.insert(0, {str(SRC)!r})
from teachable.envs.babyai import BabyAITextEnv
env = BabyAITextEnv(render="text", teacher="bot")
env.set_state(open({str(tmp_path / 's.bin')!r}, 'rb').read())
rng, out = random.Random(9), []
while not env._s["done"] and len(out) < 30:
    a = rng.choice(env.observe().valid_actions) if rng.random() < 0.5 else env.expert_action()
    o, r, d, info = env.step(a)
    out.append([a, o.text, o.valid_actions, r, d, env.expert_action(), env.state_key()])
print(json.dumps(out))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    rng, out = random.Random(9), []
    while not env._s["done"] and len(out) < 30:
        a = rng.choice(env.observe().valid_actions) if rng.random() < 0.5 else env.expert_action()
        o, r, d, info = env.step(a)
        out.append([a, o.text, o.valid_actions, r, d, env.expert_action(), env.state_key()])
    assert json.loads(res.stdout) == out and len(out) > 3


def test_state_key():
    env = BabyAITextEnv()
    env.reset(4)
    k0 = env.state_key()
    assert re.fullmatch(r"[0-9a-f]{16}", k0)
    env.step("turn left")
    assert env.state_key() != k0
    for _ in range(3):
        env.step("turn left")
    assert env.state_key() == k0  # a revisit of an identical state
    other = BabyAITextEnv()
    other.reset(4)
    assert other.state_key() == k0


@pytest.mark.parametrize("fam", FAMILIES)
def test_expert_free_env_has_the_same_dynamics(fam):
    """expert=False (evaluation) skips the bot but changes nothing the student sees, and
    refuses expert calls instead of answering."""
    def walk(env, rng):
        trace = []
        for _ in range(20):
            if env._s["done"]:
                break
            a = rng.choice(env.observe().valid_actions)
            obs, r, done, info = env.step(a)
            trace.append((a, obs.to_dict(), r, done, info, env.state_key()))
        return trace

    with_bot, without = BabyAITextEnv(), BabyAITextEnv(expert=False)
    for seed in seeds_of(fam, 3):
        assert with_bot.reset(seed) == without.reset(seed)
        rng_seed = seed * 7 + 1
        assert walk(with_bot, random.Random(rng_seed)) == walk(without, random.Random(rng_seed))
    with pytest.raises(RuntimeError, match="expert=False"):
        without.expert_action()
    # a snapshot with the bot restores into an expert-free env (the bot is dropped) ...
    with_bot.reset(seeds_of(fam, 1)[0])
    state = with_bot.get_state()
    assert without.set_state(state) == with_bot.observe()
    # ... and one taken without the bot restores with it (the replay rebuilds the bot)
    without.reset(seeds_of(fam, 1)[0])
    without.step(without.observe().valid_actions[0])
    with_bot.reset(seeds_of(fam, 1)[0])
    with_bot.step(with_bot.observe().valid_actions[0])
    restored = BabyAITextEnv()
    assert restored.set_state(without.get_state()) == with_bot.observe()
    assert restored.expert_action() == with_bot.expert_action()
    assert make_env("mock", expert=False).reset(0) == make_env("mock").reset(0)
    with pytest.raises(RuntimeError, match="expert=False"):
        m = make_env("mock", expert=False)
        m.reset(0)
        m.expert_action()


def test_slots_env_skips_the_image_and_nothing_else(monkeypatch):
    """With render 'slots' the level's gen_obs skips the egocentric image: the same episodes
    (texts, valid actions, rewards, teacher actions) as the plain minigrid level."""
    from teachable.envs import babyai as mod

    def play(env):
        rng, out = random.Random(0), []
        for seed in range(12):
            o = env.reset(seed)
            for _ in range(25):
                a = rng.choice(o.valid_actions)
                o, r, done, _ = env.step(a)
                out.append((o.text, tuple(o.valid_actions), r, done, None if done else env.expert_action()))
                if done:
                    break
        return out

    fast = _BabyAITextEnv(max_steps=25)
    got = play(fast)
    assert fast._s["env"].gen_obs()["image"] is None
    monkeypatch.setattr(mod, "_without_image", lambda level: level)
    plain = _BabyAITextEnv(max_steps=25)
    assert play(plain) == got
    assert plain._s["env"].gen_obs()["image"] is not None

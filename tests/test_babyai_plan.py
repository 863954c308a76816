"""The realizable BabyAI view: the slot rendering and the shortest-plan teacher (envs.babyai_plan)."""

from collections import Counter, defaultdict

import pytest

from teachable.envs.babyai import BabyAITextEnv
from teachable.envs.babyai_distance import _nearest
from teachable.envs.babyai_plan import candidates, offset_words, plan_target


def _play(env, seed):
    obs, done, rows = env.reset(seed), False, []
    while not done:
        a = env.expert_action()
        rows.append((obs.mission, obs.text, a))
        obs, _, done, _ = env.step(a)
    return rows, env.success()


def test_shortest_teacher_solves_every_family_no_slower_than_the_bot():
    env = BabyAITextEnv(max_steps=40)
    bot = BabyAITextEnv(max_steps=40, render="text", teacher="bot")
    fams = Counter()
    for seed in range(60):
        rows, ok = _play(env, seed)
        assert ok, f"seed {seed} ({env.family}) not solved"
        fams[env.family] += 1
        bot_rows, _ = _play(bot, seed)
        assert len(rows) <= len(bot_rows)
    assert set(fams) == {"goto", "pickup", "open", "putnext"}


def test_teacher_action_is_a_function_of_the_prompt():
    """Prompts (mission + slot line) that recur must mostly carry one teacher action."""
    env = BabyAITextEnv(max_steps=40)
    labels = defaultdict(Counter)
    for seed in range(120):
        for m, text, a in _play(env, seed)[0]:
            labels[(m, text)][a] += 1
    n = sum(sum(c.values()) for c in labels.values())
    best = sum(c.most_common(1)[0][1] for c in labels.values())
    assert best / n >= 0.97


def test_slot_line_shows_target_and_neighbours():
    env = BabyAITextEnv(max_steps=40)
    obs = env.reset(0)
    assert obs.text.startswith("you carry nothing. you face ")
    assert "on your left " in obs.text and "on your right " in obs.text and "you see " in obs.text
    t = plan_target(env._s["env"])
    assert offset_words(*__import__("teachable.envs.babyai_plan", fromlist=["ego_offset"]).ego_offset(
        env._s["env"], t.cell)) in obs.text


def test_target_is_the_cheapest_candidate_with_a_fixed_tie_break():
    env = BabyAITextEnv(max_steps=40, families=["goto"])
    for seed in range(0, 80, 4):
        env.reset(seed)
        lvl = env._s["env"]
        cells, _, _ = candidates(lvl)
        t = plan_target(lvl)
        start = (int(lvl.agent_pos[0]), int(lvl.agent_pos[1]), int(lvl.agent_dir))
        costs = {c: _nearest(lvl.grid, start, [c])[0] for c in cells}
        best = min(v for v in costs.values() if v >= 0)
        tied = sorted((c for c, v in costs.items() if v == best), key=lambda c: (c[1], c[0]))
        assert t.cell == tied[0] and t.cost == best


def test_text_render_keeps_the_view_description():
    env = BabyAITextEnv(max_steps=40, render="text", teacher="bot")
    assert "you see" in env.reset(3).text and "on your left" not in env.reset(3).text


def test_restore_gives_the_same_slot_line_and_teacher_action():
    env = BabyAITextEnv(max_steps=40)
    seed = next(s for s in range(50) if len(_play(env, s)[0]) > 4)
    env.reset(seed)
    for _ in range(3):
        env.step(env.expert_action())
    state, obs, a = env.get_state(), env.observe(), env.expert_action()
    other = BabyAITextEnv(max_steps=40)
    assert other.set_state(state).text == obs.text
    assert other.expert_action() == a


@pytest.mark.parametrize("kw,word", [({"render": "pixels"}, "render"), ({"teacher": "oracle"}, "teacher")])
def test_unknown_render_or_teacher_is_refused(kw, word):
    with pytest.raises(ValueError, match=word):
        BabyAITextEnv(**kw)

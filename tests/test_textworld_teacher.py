"""The bot teacher speaking TextWorld: routed by the state's subgoal, hints never contain a
valid command's string, error types follow the student's command."""

import numpy as np
import pytest

from teachable.envs import env_from_config
from teachable.teacher import TeacherRequest, make_teacher
from teachable.teacher.bot_textworld import leaked_commands, tw_advice_text


def test_error_types_and_no_command_in_hint():
    valid = ["go east", "go west", "take carrot from fridge", "take apple from counter", "open fridge"]
    cases = {("go west", "go east"): "planning_error", ("take apple from counter", "take carrot from fridge"):
             "attribute_confusion", ("go west", "open fridge"): "affordance_miss",
             ("go east", "go east"): "unknown"}
    for (student, expert), etype in cases.items():
        diag, _, et = tw_advice_text("cook", "-= Kitchen =-", expert, "textworld: " + expert, student)
        assert et == etype, (student, expert, diag)
        assert not leaked_commands(diag, valid), diag
    assert leaked_commands("then go east .", valid) == ["go east"]


@pytest.mark.slow
def test_bot_teacher_on_real_textworld_states(tw_env_cfg):
    """Every (state, student command) along random walks in every family: the routed bot
    teacher answers with the expert's command and a hint naming no valid command."""
    teacher = make_teacher({"backend": "bot"})
    env = env_from_config(tw_env_cfg)
    rng = np.random.default_rng(1)
    n, types = 0, set()
    for seed in range(8):
        obs = env.reset(seed)
        for _ in range(6):
            info = env.expert_info()
            assert info["subgoal"].startswith("textworld:")
            for student in obs.valid_actions:
                adv = teacher.advise(TeacherRequest(f"s{n}", obs.mission, obs.text, obs.valid_actions, student,
                                                    info["action"], info["subgoal"]))
                assert adv.suggested_action == info["action"]
                assert not leaked_commands(adv.diagnosis, obs.valid_actions), (student, adv.diagnosis)
                types.add(adv.error_type)
                n += 1
            obs, _, done, _ = env.step(obs.valid_actions[int(rng.integers(len(obs.valid_actions)))])
            if done:
                break
    assert n >= 50 and {"unknown", "planning_error", "affordance_miss"} <= types

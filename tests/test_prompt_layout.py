"""student.prompt_layout: the two prompt layouts, the config key, and every path that builds
a student's prompts (rollout engine, evaluation, probe, warm-start data, SFT examples,
replay set, uncertainty) following it; a built student refuses another layout."""

import json
from functools import partial

import numpy as np
import pytest

from teachable.config import load_config, validate_config
from teachable.envs import env_from_config, make_env
from teachable.io import InputError
from teachable.prompts import PROMPT_LAYOUTS, build_prompt, check_student_layout, layout_of
from teachable.engine import EpisodeSpec, run_episodes

from conftest import MOCK_CONFIG, ROOT


def _order(prompt: str) -> list[str]:
    return [line.split(":", 1)[0] for line in prompt.split("\n")]


OBS_FIRST = ["mission", "observation", "history", "action"]
HIST_FIRST = ["mission", "history", "observation", "action"]


class Recorder:
    """A policy that prefers 'go forward' and keeps every prompt it is asked to score."""

    def __init__(self):
        self.prompts: list[str] = []

    def score(self, prompts, cands):
        self.prompts += list(prompts)
        return [np.array([0.0 if a == "go forward" else -1.0 for a in c]) for c in cands]


def test_history_first_is_the_original_text():
    assert build_prompt("go to the red ball", "you see a wall", ["turn left", "go forward"]) == (
        "mission: go to the red ball\nhistory: turn left , go forward\nobservation: you see a wall\naction:")
    assert build_prompt("m", "o", [], "advice from a similar situation : hint: look left", layout="history_first") == (
        "mission: m\nadvice from a similar situation : hint: look left\nhistory: none\nobservation: o\naction:")


def test_observation_first_puts_the_observation_before_the_history():
    p = build_prompt("go to the red ball", "you see a wall", ["turn left"], "PATCH", layout="observation_first")
    assert p == "mission: go to the red ball\nPATCH\nobservation: you see a wall\nhistory: turn left\naction:"
    # the same lines as history_first, in another order
    h = build_prompt("go to the red ball", "you see a wall", ["turn left"], "PATCH")
    assert sorted(p.split("\n")) == sorted(h.split("\n")) and p != h
    assert PROMPT_LAYOUTS == ("history_first", "observation_first")


def test_unknown_layout_is_named():
    with pytest.raises(ValueError, match="sideways"):
        build_prompt("m", "o", [], layout="sideways")
    with pytest.raises(ValueError, match="student.prompt_layout.*sideways"):
        layout_of({"prompt_layout": "sideways"})
    with pytest.raises(ValueError, match="sideways"):
        run_episodes(Recorder(), lambda: make_env("mock"), [EpisodeSpec("e", seed=0)], layout="sideways")


def test_schema_key_default_and_shipped_configs():
    assert validate_config({})["student"]["prompt_layout"] == "history_first"
    assert validate_config({})["env"]["textworld"]["obs_order"] == "feedback_first"
    with pytest.raises(InputError, match="student.prompt_layout"):
        validate_config({"student": {"prompt_layout": "sideways"}})
    with pytest.raises(InputError, match="env.textworld.obs_order"):
        validate_config({"env": {"textworld": {"obs_order": "inventory_first"}}})
    assert load_config(ROOT / "config" / "config.yaml")["student"]["prompt_layout"] == "history_first"
    tw = load_config(ROOT / "config" / "textworld.yaml")
    assert tw["student"]["prompt_layout"] == "observation_first" and tw["env"]["textworld"]["obs_order"] == "room_first"


@pytest.mark.parametrize("layout", PROMPT_LAYOUTS)
def test_rollout_engine_uses_the_layout(layout):
    pol = Recorder()
    specs = [EpisodeSpec(f"e{i}", seed=i, max_steps=4, patch="PATCH" if i else "") for i in range(3)]
    res = run_episodes(pol, lambda: make_env("mock"), specs, temperature=0.0, history_len=2, record_steps=True,
                       layout=layout)
    want = OBS_FIRST if layout == "observation_first" else HIST_FIRST
    recorded = [r.prompt for e in res for r in e.records]
    assert pol.prompts and recorded and any("PATCH" in p for p in recorded)
    assert all([x for x in _order(p) if x != "PATCH"] == want for p in pol.prompts + recorded)


def test_evaluation_and_probe_follow_the_config():
    from teachable.evaluation import episode_rows
    from teachable.training.sft import env_probe

    cfg = validate_config({"env": {"name": "mock", "families": ["corridor"], "max_steps": 5},
                           "student": {"prompt_layout": "observation_first"},
                           "eval": {"n_tasks": 2}, "training": {"probe_tasks": 2, "probe_examples": 0}})
    pol = Recorder()
    assert len(episode_rows(pol, cfg, [])) == 2
    assert pol.prompts and all(_order(p) == OBS_FIRST for p in pol.prompts)
    pol = Recorder()
    env_probe(cfg, [])(pol)
    assert pol.prompts and all(_order(p) == OBS_FIRST for p in pol.prompts)


def _snap(i: int) -> dict:
    return {"snapshot_id": f"s{i}", "mission": "go to the goal", "obs_text": f"the goal is {i} steps ahead",
            "valid_actions": ["turn around", "go forward", "wait"], "history": ["wait", "go forward"],
            "teacher": {"suggested_action": "go forward", "diagnosis": "the goal is ahead", "valid": True},
            "heldout": False, "p_policy": 1.0, "student_greedy_action": "go forward"}


def test_training_examples_replay_and_uncertainty_follow_the_layout():
    from teachable.labeling.uncertainty import add_uncertainty
    from teachable.training.formats import examples_for
    from teachable.training.replay import snapshot_records

    snaps = [_snap(i) for i in range(3)]
    for fmt in ("demo", "hint", "contrast"):
        exs, _ = examples_for(snaps, fmt, 2, layout="observation_first")
        assert len(exs) == 3 and all(e.prompt.index("\nobservation:") < e.prompt.index("\nhistory:") for e in exs)
        old, _ = examples_for(snaps, fmt, 2)
        assert all(e.prompt.index("\nhistory:") < e.prompt.index("\nobservation:") for e in old)
    rows, _ = snapshot_records(snaps, 2, 0.5, layout="observation_first")
    assert rows and all(_order(r["prompt"]) == OBS_FIRST for r in rows)
    pol = Recorder()
    add_uncertainty(pol, [dict(s) for s in snaps], "observation_first")
    assert len(pol.prompts) == 3 and all(_order(p) == OBS_FIRST for p in pol.prompts)


def test_warm_start_data_follows_the_layout():
    from teachable.student import add_patches, demo_states

    cfg = load_config(MOCK_CONFIG)
    eps = demo_states(partial(env_from_config, cfg["env"]), 3, 0, 2, 0.2, 6)
    exs = add_patches(eps, 0, 0.5, layout="observation_first")
    assert exs and all(e.prompt.index("\nobservation:") < e.prompt.index("\nhistory:") for e in exs)
    assert any(e.patch_kind for e in exs)  # patched prompts too


def test_built_student_refuses_another_layout(mock_student, tmp_path):
    from teachable.workflow import scripting

    rep = json.loads(open(f"{mock_student}/bootstrap_report.json").read())
    assert rep["prompt_layout"] == "history_first" and rep["history"] == 2
    cfg = load_config(MOCK_CONFIG)
    assert scripting.student_path(cfg, mock_student) == mock_student
    cfg["student"]["prompt_layout"] = "observation_first"
    with pytest.raises(InputError, match="student.prompt_layout.*'observation_first'.*built with 'history_first'"):
        scripting.student_path(cfg, mock_student)
    # a report from before the option: history_first; no report (a hub model): no layout of its own
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "bootstrap_report.json").write_text(json.dumps({"seed": 0}))
    with pytest.raises(InputError, match="student.prompt_layout"):
        check_student_layout(tmp_path / "old", {"prompt_layout": "observation_first"})
    check_student_layout(tmp_path / "old", {"prompt_layout": "history_first"})
    check_student_layout(tmp_path, {"prompt_layout": "observation_first"})

"""Issue 30, items 4 and 8 (and TextWorld's evaluation units): mining and labels at the
evaluation policy (phase0.mine_policy, phase0.failure_step, base_greedy_is_teacher), the
matched CPT estimand of phase 1B (ELP_first) and the success/progress agreement section of
the CPT correlation, and the distinct-game units of a TextWorld evaluation."""

from functools import partial

import numpy as np
import pytest

from teachable.envs import env_from_config
from teachable.io import InputError
from teachable.mining import FAILURE_STEPS, failure_step, mine_failures, student_rollouts

MOCK_ENV = {"name": "mock", "families": ["corridor"], "max_steps": 12}


def mock_traj(seed: int, actions: list[str], probs: list[list[float]], loop_step=None) -> dict:
    env = env_from_config(MOCK_ENV)
    env.reset(seed)
    valid = []
    for a in actions:
        valid.append(list(env.observe().valid_actions))
        env.step(a)
    return {"trajectory_id": f"traj{seed:05d}", "task_seed": seed, "family": "corridor", "mission": "go to the goal",
            "success": False, "steps": len(actions), "loop_step": loop_step, "actions": actions, "probs": probs,
            "valid_actions": valid, "entropy": [0.0] * len(actions)}


# ------------------------------------------------------------------ item 8: the failure step
def test_failure_step_rules():
    # seed 3: facing east (3 % 2), the expert goes forward; the student goes forward twice,
    # then turns around (its first divergence, step 2) and is least confident at step 4
    acts = ["go forward", "go forward", "turn around", "wait", "wait", "wait"]
    probs = [[0.2, 0.7, 0.1]] * 4 + [[0.34, 0.33, 0.33]] + [[0.2, 0.7, 0.1]]
    tr = mock_traj(3, acts, probs)
    env = env_from_config(MOCK_ENV)
    from teachable.mining import expert_actions_along

    expert = expert_actions_along(env, tr)
    assert expert[:3] == ["go forward", "go forward", "go forward"]
    assert failure_step(tr) == (4, "low_confidence")  # the default: today's rule
    assert failure_step(tr, "least_confident") == (4, "low_confidence")
    assert failure_step(tr, "first_divergence", expert) == (2, "first_divergence")
    assert failure_step(tr, "last") == (5, "last_step")
    # first_divergence does not read the confidences: flattening them changes nothing
    flat = {**tr, "probs": [[1 / 3] * 3] * len(acts)}
    assert failure_step(flat, "first_divergence", expert) == (2, "first_divergence")
    with pytest.raises(InputError, match="phase0.failure_step"):
        failure_step(tr, "most_confident")
    assert set(FAILURE_STEPS) == {"least_confident", "first_divergence", "last"}


def test_mine_failures_first_divergence_and_greedy_fields():
    acts = ["go forward", "go forward", "turn around", "wait", "wait", "wait"]
    probs = [[0.2, 0.7, 0.1]] * 2 + [[0.6, 0.3, 0.1]] + [[0.2, 0.7, 0.1]] + [[0.34, 0.33, 0.33]] + [[0.2, 0.7, 0.1]]
    tr = mock_traj(3, acts, probs)
    snaps = mine_failures([tr], partial(env_from_config, MOCK_ENV), [0, 1], 2, "first_divergence")
    by_k = {s["k"]: s for s in snaps}
    assert by_k[0]["step"] == 2 and by_k[1]["step"] == 1
    assert all(s["failure_rule"] == "first_divergence" and s["failure_reason"] == "first_divergence" for s in snaps)
    # the greedy action is the argmax of the recorded distribution; at the divergence it is
    # the student's turn, not the expert's forward step
    assert by_k[0]["base_greedy_action"] == "turn around" and by_k[0]["base_greedy_is_expert"] is False
    assert by_k[1]["base_greedy_action"] == "go forward" and by_k[1]["base_greedy_is_expert"] is True
    old = mine_failures([tr], partial(env_from_config, MOCK_ENV), [0], 2)
    assert old[0]["step"] == 4 and old[0]["failure_rule"] == "least_confident"  # today's default


def test_greedy_mining_mines_the_greedy_policy(mock_student):
    from teachable.policy import Policy

    pol = Policy.load(mock_student, None, "cpu", 64)
    mk = partial(env_from_config, MOCK_ENV)
    greedy = student_rollouts(pol, mk, 12, 0, 1.0, 2, 12, mine_policy="greedy")
    again = student_rollouts(pol, mk, 12, 0, 1.0, 2, 12, mine_policy="greedy")
    assert [t["actions"] for t in greedy] == [t["actions"] for t in again]  # no sampling
    for t in greedy:
        assert t["mine_policy"] == "greedy"
        for a, va, p in zip(t["actions"], t["valid_actions"], t["probs"]):
            assert a == va[int(np.argmax(p))]  # every step is the argmax: the evaluation policy
    sampled = student_rollouts(pol, mk, 12, 0, 1.0, 2, 12)
    assert all(t["mine_policy"] == "sampled" for t in sampled)
    with pytest.raises(InputError, match="phase0.mine_policy"):
        student_rollouts(pol, mk, 2, 0, 1.0, 2, 12, mine_policy="boltzmann")
    failed = [t for t in greedy if not t["success"]]
    if failed:  # greedy failures, first divergence: at k=0 BASE's greedy action is never the expert's
        snaps = mine_failures(failed, mk, [0], 2, "first_divergence")
        assert all(s["base_greedy_is_expert"] is False for s in snaps if s["failure_reason"] == "first_divergence")


def test_base_greedy_is_teacher_recorded_by_the_teacher_step():
    from teachable.labeling.pipeline import ask_teacher, greedy_teacher_agreement
    from teachable.teacher import make_teacher

    env = env_from_config(MOCK_ENV)
    snaps = []
    for seed, greedy in ((3, "go forward"), (4, "go forward"), (5, "wait")):
        obs = env.reset(seed)
        snaps.append({"snapshot_id": f"s{seed}", "mission": obs.mission, "obs_text": obs.text,
                      "valid_actions": list(obs.valid_actions), "student_greedy_action": greedy,
                      "expert_action": env.expert_action(), "expert_subgoal": None, "source": "failure",
                      "quadrant": "Q1_highU_highL"})
    ask_teacher(make_teacher({"backend": "bot"}), snaps)
    got = {s["snapshot_id"]: s["base_greedy_is_teacher"] for s in snaps}
    want = {s["snapshot_id"]: s["student_greedy_action"] == s["teacher"]["suggested_action"] for s in snaps}
    assert got == want and sum(got.values()) == 1  # seed 3 faces east: forward is the teacher's
    agr = greedy_teacher_agreement(snaps)
    assert agr["overall"] == {"n": 3, "share": 1 / 3} and agr["per_quadrant"]["Q1_highU_highL"]["n"] == 3


# ------------------------------------------------------------------ item 4: matched estimands
def test_patch_steps_puts_the_patch_at_the_first_step_only(mock_student):
    from teachable.policy import Policy
    from teachable.engine import EpisodeSpec, run_episodes

    pol = Policy.load(mock_student, None, "cpu", 64)
    mk = partial(env_from_config, MOCK_ENV)
    patch = "the expert chose go forward ."
    specs = [EpisodeSpec("all", seed=4, patch=patch, max_steps=4),
             EpisodeSpec("first", seed=4, patch=patch, patch_steps=1, max_steps=4)]
    res = {r.episode_id: r for r in run_episodes(pol, mk, specs, 0.0, 2, record_steps=True)}
    assert all(patch in rec.prompt for rec in res["all"].records)
    first = res["first"].records
    assert patch in first[0].prompt and len(first) > 1 and not any(patch in rec.prompt for rec in first[1:])


def labeled_panel(n: int = 2) -> list[dict]:
    """Mock-env snapshots with teacher answers and hand-set labels (the fields phase 1B reads)."""
    from teachable.labeling.pipeline import ask_teacher
    from teachable.snapshot import encode_state
    from teachable.teacher import make_teacher

    env = env_from_config(MOCK_ENV)
    snaps = []
    for i, seed in enumerate((4, 6, 8, 10)[:n]):
        obs = env.reset(seed)
        snaps.append({"snapshot_id": f"traj{i:05d}_step0000_k0", "trajectory_id": f"traj{i:05d}",
                      "state": encode_state(env.get_state()), "mission": obs.mission, "obs_text": obs.text,
                      "valid_actions": list(obs.valid_actions), "history": [], "student_greedy_action": "wait",
                      "expert_action": env.expert_action(), "expert_subgoal": None, "quadrant": "Q1_highU_highL",
                      "route_net": ("demo", "hint")[i % 2], "ELP_net": 0.1 * i, "ELP_net_success": 0.05 * i,
                      "label_outcome": "progress", "ELP_net_xfit": 0.0, "ELP_net_xfit_success": 0.0,
                      "U": 1.0, "L_local": 0.2, "heldout": False})
    ask_teacher(make_teacher({"backend": "bot"}), snaps)
    return snaps


@pytest.mark.parametrize("matched", [True, False])
def test_micro_training_measures_the_matched_cpt(mock_student, matched):
    from teachable.policy import load_model_and_tokenizer
    from teachable.training.micro import MicroTrainer, micro_train_panel

    p1b = {"n_steps": 2, "lr": 0.01, "n_validation_rollouts": 3, "lora_rank": 4, "lora_alpha": 8,
           "lora_dropout": 0.0, "target_modules": "all-linear", "matched_cpt": matched}
    model, tok = load_model_and_tokenizer(mock_student, None, "cpu")
    trainer = MicroTrainer(model, tok, p1b, 0, 64)
    panel = labeled_panel(2)
    recs = micro_train_panel(trainer, partial(env_from_config, MOCK_ENV), panel, p1b, 0, 6, 1.0, 2,
                             log=lambda *_: None, outcome="progress")
    for r, s in zip(recs, panel):
        # both outcomes of the phase-1 labels ride along, whatever the headline
        assert r["ELP_net_progress"] == s["ELP_net"] and r["ELP_net_success"] == s["ELP_net_success"]
        assert r["label_outcome"] == "progress" and r["utility_success"] is not None
        if not matched:
            assert "ELP_first" not in r
            continue
        for o in ("success", "progress"):
            assert r[f"ELP_first_{o}"] == pytest.approx(r[f"p_first_route_{o}"] - r[f"p_first_placebo_{o}"])
        assert r["ELP_first"] == r["ELP_first_progress"]
    if matched:  # CRN: the first-step rollouts share the "before" rollouts' sample seeds
        from teachable.training.micro import first_step_cpt_specs, validation_specs

        v, f = validation_specs(panel[0], 3, 6, 0), first_step_cpt_specs(panel[0], 3, 6, 0)
        assert [s.sample_seed for s in f] == [s.sample_seed for s in v] * 2
        assert all(s.patch_steps == 1 and s.patch for s in f)


def test_estimand_report_side_by_side():
    from teachable.stats.estimands import estimand_report

    rng = np.random.default_rng(0)
    recs = []
    for i in range(30):
        u_s, u_p = rng.normal(), rng.normal()
        recs.append({"snapshot_id": f"traj{i // 3:05d}_step{i:04d}_k0", "utility_success": u_s, "utility_progress": u_p,
                     "ELP_net_success": u_s, "ELP_net_progress": -u_p, "ELP_first_success": u_s + 0.01 * rng.normal(),
                     "ELP_first_progress": u_p, "ELP_net_xfit_success": None, "ELP_net_xfit_progress": None})
    rep = estimand_report(recs, 0, n_resamples=300)
    row = {(r["label"], r["outcome"]): r for r in rep["vs_utility"]}
    assert row[("ELP_net", "success")]["spearman"] == pytest.approx(1.0)
    assert row[("ELP_net", "progress")]["spearman"] == pytest.approx(-1.0)
    assert row[("ELP_first", "progress")]["spearman"] == pytest.approx(1.0)
    assert row[("ELP_net_xfit", "success")]["n"] == 0 and row[("ELP_net_xfit", "success")]["spearman"] is None
    assert row[("ELP_net", "success")]["ci_unit"] == "trajectories" and row[("ELP_net", "success")]["n_clusters"] == 10
    agr = {a["variable"]: a for a in rep["agreement"]}
    assert set(agr) == {"ELP_net", "ELP_net_xfit", "ELP_first", "utility"} and agr["utility"]["n"] == 30
    mm = {m["outcome"]: m for m in rep["mismatch_all_steps_vs_first_step"]}
    assert mm["progress"]["spearman"] == pytest.approx(-1.0) and mm["success"]["spearman"] > 0.9


# ------------------------------------------------------------------ TextWorld evaluation units
def test_textworld_eval_tasks_are_distinct_games(tw_env_cfg):
    from teachable.evaluation import eval_tasks, task_unit_counts, task_units
    import pandas as pd

    n_games = len(tw_env_cfg["families"])  # one eval game per family in the fixture
    cfg = {"seed": 0, "env": tw_env_cfg, "eval": {"n_tasks": n_games}}
    seeds = eval_tasks(cfg)
    units, ci_unit = task_units(cfg, seeds)
    assert ci_unit == "games" and len(set(units.values())) == n_games  # every task its own game
    more = {**cfg, "eval": {"n_tasks": 2 * n_games}}
    units2, _ = task_units(more, eval_tasks(more))
    assert len(set(units2.values())) == n_games  # past the pool, games repeat, and the count says so
    rows = pd.DataFrame([{"kind": "task", "item": str(s), "unit": units2[s], "ci_unit": "games"}
                         for s in eval_tasks(more)])
    assert task_unit_counts(rows) == {"ci_unit": "games", "n_units": n_games, "n_distinct_games": n_games}
    babyai = {"seed": 0, "env": {"name": "mock"}, "eval": {"n_tasks": 5}}
    u, kind = task_units(babyai, eval_tasks(babyai))
    assert kind == "tasks" and len(set(u.values())) == 5

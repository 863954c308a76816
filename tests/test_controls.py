"""The teachability controls stage (teachable.training.controls, rules/controls.smk) and its
gate student_is_teachable (teachable.gates): the positive and null controls trained with the
phase-2 recipe and evaluated on phase 3's tasks, the null sized like the positive one, the
two-level CI of positive - null, and the one sentence a user reads first."""

import json
from html import unescape

import numpy as np
import pytest

from teachable.gates import PLAN, collect_gates, gates_markdown, student_is_teachable
from teachable.io import InputError
from teachable.training.controls import (NULL_RUN, POSITIVE_RUN, controls_summary, null_subsample, run_controls,
                                         teachable_html)
from teachable.training.formats import SFTExample

from conftest import MOCK_CONFIG

STATS = {"confidence": 0.95, "n_resamples": 500, "seed": 0, "min_seeds": 3, "alpha": 0.05}


def _records(pos: np.ndarray, null: np.ndarray, tasks: list[str]) -> list[dict]:
    return [{"seed": s, "runs": {
        run: {"n_examples": 10, "steps": 5, "task_success": float(m[i].mean()), "retention": None,
              "outcomes": dict(zip(tasks, map(int, m[i]))), "train_s": 1.0, "eval_s": 1.0}
        for run, m in ((POSITIVE_RUN, pos), (NULL_RUN, null))}} for i, s in enumerate(range(len(pos)))]


def _base(tasks, solved):
    return ([{"kind": "task", "item": t, "success": int(t in solved)} for t in tasks]
            + [{"kind": "panel", "item": "p0", "success": 1}])


def test_null_subsample_is_sized_deterministic_and_seed_free():
    rep = [SFTExample(f"r{i}", "replay", f"p{i}", "a", ("a", "b")) for i in range(50)]
    a, b = null_subsample(rep, 20), null_subsample(list(rep), 20)
    assert len(a) == 20 and a == b and len({e.snapshot_id for e in a}) == 20
    assert [rep.index(e) for e in a] == sorted(rep.index(e) for e in a)  # kept in replay order
    assert null_subsample(rep, None) == rep and null_subsample(rep, 80) == rep


def test_gate_passes_fails_and_abstains_on_the_ci_of_positive_minus_null():
    rng = np.random.default_rng(0)
    tasks = [f"t{i:02d}" for i in range(60)]
    null = (rng.random((3, 60)) < 0.3).astype(int)
    better = np.maximum(null, (rng.random((3, 60)) < 0.5).astype(int))  # +~0.35 on every seed
    rep, rows = controls_summary(_records(better, null, tasks), _base(tasks, {"t00", "t01", "t02"}), STATS)
    t = rep["teachable"]
    assert t["passed"] is True and t["ci"][0] > 0 and t["sentence"].startswith("This student can be taught")
    pos = next(r for r in rows if r["run_id"] == POSITIVE_RUN)
    assert pos["delta_null"] == pytest.approx(better.mean() - null.mean())
    assert pos["delta_base"] == pytest.approx(better.mean() - 3 / 60)
    assert pos["retention_drop"] == pytest.approx(1 - better[:, :3].mean())
    assert rep["outcomes"]["runs"][POSITIVE_RUN] == better.tolist()
    # the same outcomes for both: the CI reaches 0 -> not teachable, and the sentence says so
    same, _ = controls_summary(_records(null, null, tasks), _base(tasks, set()), STATS)
    assert same["teachable"]["passed"] is False
    assert same["teachable"]["sentence"].startswith("This student could not be shown to be teachable")
    # two seeds (< stats.min_seeds): no CI, not evaluated, and the sentence says why
    two, _ = controls_summary(_records(better[:2], null[:2], tasks), _base(tasks, set()), STATS)
    assert two["teachable"]["passed"] is None and "too few seeds" in two["teachable"]["sentence"]
    html = teachable_html(rep)
    assert "Can this student be taught? yes" in html and t["sentence"] in unescape(html)


def test_controls_summary_refuses_outcomes_on_other_tasks():
    tasks = ["1", "2", "3"]
    recs = _records(np.ones((3, 3), int), np.zeros((3, 3), int), tasks)
    with pytest.raises(InputError, match="no outcome for evaluation task"):
        controls_summary(recs, _base(tasks + ["4"], set()), STATS)


def test_gate_is_listed_first_and_its_sentence_heads_the_table(tmp_path):
    assert PLAN[0][0] == "student_is_teachable"
    rng = np.random.default_rng(1)
    tasks = [f"t{i:02d}" for i in range(40)]
    null = (rng.random((3, 40)) < 0.2).astype(int)
    rep, _ = controls_summary(_records(np.ones((3, 40), int), null, tasks), _base(tasks, set()), STATS)
    path = tmp_path / "controls.json"
    path.write_text(json.dumps(rep))
    gates = collect_gates({"controls": str(path)}, {}, 0, STATS)
    g = gates[0]
    assert g["name"] == "student_is_teachable" and g["passed"] is True
    assert (g["kind"], g["family"]) == ("test", "teachability")
    md = gates_markdown(gates)
    assert md.splitlines()[0] == f"**{g['sentence']}**"
    # the gate computed from the file equals the verdict the controls stage wrote
    assert student_is_teachable(rep, {}, {**STATS, "seed": 0}, "x")[0]["ci"] == rep["teachable"]["ci"]
    missing = collect_gates({}, {}, 0, STATS)[0]
    assert missing["name"] == "student_is_teachable" and missing["passed"] is None


def test_run_controls_trains_and_evaluates_on_base_tasks(mock_student, tmp_path):
    """The real path on the mock student: the positive control (DAgger labels + expert
    demos) and the null control sized like it, trained with the phase-2 recipe and
    evaluated greedily on phase 3's tasks, retention against BASE's record."""
    from teachable.config import load_config
    from teachable.evaluation import evaluate_model
    from teachable.training.controls import ControlData
    from teachable.training.replay import as_examples, build_replay

    cfg = load_config(MOCK_CONFIG, {"controls": {"dagger_tasks": 2, "demo_tasks": 2}, "eval": {"n_tasks": 4},
                                    "training": {"replay_tasks": 8, "probe_tasks": 0}})
    base = evaluate_model(mock_student, None, cfg, [], 0, "cpu")
    replay = as_examples(build_replay(cfg, mock_student, lambda: [])[0])
    assert replay
    out = run_controls(cfg, mock_student, replay, 1, tmp_path, "cpu", base, log=lambda *_: None)
    assert out["seed"] == 1 and list(out["runs"]) == [POSITIVE_RUN, NULL_RUN]
    pos, null = out["runs"][POSITIVE_RUN], out["runs"][NULL_RUN]
    data = ControlData(cfg, None, replay)
    assert pos["n_examples"] > len(data("expert_demos")) > 0  # the DAgger states come on top of the demos
    assert null["n_examples"] == min(pos["n_examples"], len(replay)) and null["steps"] > 0
    assert set(pos["outcomes"]) == {str(e["item"]) for e in base["episodes"] if e["kind"] == "task"}
    assert all(v in (0, 1) for v in pos["outcomes"].values())
    with pytest.raises(InputError, match="controls.runs"):
        run_controls({**cfg, "controls": {**cfg["controls"], "runs": ["bogus"]}}, mock_student, replay, 0, tmp_path,
                      "cpu", base)

"""The student's own checks in the gates: learnable (the learning curve) and uses advice."""

import json

from teachable.gates import collect_gates, student_learnable, student_uses_advice


def test_learnable_passes_only_at_the_target():
    rep = {"rows": [{"n_tasks": 25, "heldout_agreement": 0.81}, {"n_tasks": 200, "heldout_agreement": 0.96}],
           "target": 0.95, "ceiling": 0.99}
    (g,) = student_learnable(rep, {}, {})
    assert g["passed"] is True and g["value"] == 0.96 and g["n_tasks"] == 200 and g["kind"] == "check"
    rep["rows"][1]["heldout_agreement"] = 0.9
    assert student_learnable(rep, {}, {})[0]["passed"] is False
    assert student_learnable({"rows": []}, {}, {})[0]["passed"] is None


def test_uses_advice_reads_the_two_targets():
    ok = {"follow": {"right_now_share": 0.6, "wrong_now_move": 0.01, "n_states": 100}}
    right, wrong = student_uses_advice(ok, {}, {})
    assert (right["passed"], wrong["passed"]) == (True, True)
    bad = {"follow": {"right_now_share": 0.31, "wrong_now_move": 0.08}}
    right, wrong = student_uses_advice(bad, {}, {})
    assert (right["passed"], wrong["passed"]) == (False, False)
    old = {"follow": {"follow_right_now": 0.9}}  # a report from before the measure
    assert all(g["passed"] is None for g in student_uses_advice(old, {}, {}))


def test_collect_gates_lists_them_in_the_teachability_family(tmp_path):
    lc, br = tmp_path / "learnability.json", tmp_path / "bootstrap_report.json"
    lc.write_text(json.dumps({"rows": [{"n_tasks": 50, "heldout_agreement": 0.97}], "target": 0.95}))
    br.write_text(json.dumps({"follow": {"right_now_share": 0.2, "wrong_now_move": 0.0}}))
    gates = collect_gates({"learnability": str(lc), "student_report": str(br)}, {})
    by = {g["name"]: g for g in gates}
    assert by["student_learnable"]["passed"] is True and by["student_learnable"]["family"] == "teachability"
    assert by["student_uses_right_advice"]["passed"] is False
    assert by["student_ignores_wrong_advice"]["passed"] is True
    # a hub student has neither file: not evaluated, not failed
    gates = collect_gates({}, {})
    assert {g["name"]: g["passed"] for g in gates}["student_learnable"] is None

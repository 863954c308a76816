"""teachable.workflow.compare: results directories compared file by file, timing fields aside."""

import json

from teachable.workflow.compare import compare_dirs, main


def _tree(root, payload, log="x"):
    (root / "phase1").mkdir(parents=True)
    (root / "logs").mkdir()
    (root / "phase1" / "a.json").write_text(json.dumps(payload))
    (root / "phase1" / "b.csv").write_text("x,y\n1,2\n")
    (root / "logs" / "run.log").write_text(log)


def test_timing_fields_and_logs_do_not_count(tmp_path):
    _tree(tmp_path / "a", {"n": 3, "wall_time_s": 1.0, "git": {"commit": "aaa"}}, log="one")
    _tree(tmp_path / "b", {"n": 3, "wall_time_s": 9.0, "git": {"commit": "bbb"}}, log="two")
    rep = compare_dirs(tmp_path / "a", tmp_path / "b")
    assert rep["compared"] == 2 and rep["identical"] == 2 and not rep["different"]
    assert main([str(tmp_path / "a"), str(tmp_path / "b")]) == 0


def test_a_changed_value_or_file_is_reported(tmp_path):
    _tree(tmp_path / "a", {"n": 3, "rows": [1, 2]})
    _tree(tmp_path / "b", {"n": 3, "rows": [1, 5]})
    (tmp_path / "b" / "phase1" / "extra.txt").write_text("new")
    rep = compare_dirs(tmp_path / "a", tmp_path / "b")
    assert rep["different"] == {"phase1/a.json": "json /rows[1]"}
    assert rep["only_after"] == ["phase1/extra.txt"]
    assert main([str(tmp_path / "a"), str(tmp_path / "b")]) == 1

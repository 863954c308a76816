"""Progress bars (teachable.workflow.logs.progress) on teacher calls and training steps: drawn in a
terminal, silent when stderr is a file (a Snakemake job's log)."""

import io
import sys

from teachable.labeling.pipeline import ask_teacher
from teachable.teacher import make_teacher


class _Tty(io.StringIO):
    def isatty(self):
        return True


def _snaps(n):
    return [{"snapshot_id": f"s{i}", "mission": "go to the red ball", "obs_text": "you see a wall",
             "valid_actions": ["left", "right", "forward"], "student_greedy_action": "left",
             "expert_action": "forward"} for i in range(n)]


def _label(monkeypatch, stream):
    monkeypatch.setattr(sys, "stderr", stream)
    snaps = _snaps(3)
    ask_teacher(make_teacher({"backend": "mock"}), snaps)
    assert all(s["teacher"]["suggested_action"] == "forward" for s in snaps)
    return stream.getvalue()


def test_teacher_calls_bar_in_a_terminal(monkeypatch):
    out = _label(monkeypatch, _Tty())
    assert "teacher" in out and "3/3" in out and "call" in out


def test_teacher_calls_quiet_in_a_log_file(monkeypatch):
    assert _label(monkeypatch, io.StringIO()) == ""


def test_training_uses_the_same_helper():
    from teachable.training import sft

    assert sft.progress.__module__ == "teachable.workflow.logs"

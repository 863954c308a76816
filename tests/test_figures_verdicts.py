"""The report's front page states the run's verdicts (issue 32, part 4): verdict_summary
on TEST-ONLY gates in the format of results/gates.json, and `snakemake --report` on a tiny
workflow whose description is the repository's report/workflow.rst."""

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from teachable.verdicts import verdict_summary
from teachable.io import InputError

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")

GATES = [  # TEST-ONLY, the shape collect_gates writes
    {"name": "quadrant_balance", "kind": "check", "verdict": "by construction", "passed": None},
    {"name": "student_is_teachable", "kind": "test", "verdict": "fail", "passed": False,
     "sentence": "This student cannot be taught by this recipe: +0.001 [-0.02, +0.03] over the null control."},
    {"name": "placebo_sanity", "kind": "check", "verdict": "pass", "passed": True},
    {"name": "cpt_spearman", "kind": "test", "verdict": "fail", "passed": False},
    {"name": "panel_gain", "kind": "test", "verdict": "not evaluated", "passed": None},
]


def test_verdict_summary_puts_the_student_first(tmp_path):
    p = tmp_path / "gates.json"
    p.write_text(json.dumps(GATES))
    lines = [ln for ln in verdict_summary(p).splitlines() if ln.startswith("* ")]
    assert len(lines) == 3
    assert "``student_is_teachable``: **fail**" in lines[0] and "cannot be taught" in lines[0]
    assert lines[1].startswith("* **Checks** (2): 1 pass (``placebo_sanity``); 1 by construction")
    assert lines[2].startswith("* **Tests** (2): 1 fail (``cpt_spearman``); 1 not evaluated (``panel_gain``)")


def test_verdict_summary_names_the_file_on_bad_input(tmp_path):
    p = tmp_path / "gates.json"
    p.write_text(json.dumps([{"name": "x"}]))
    with pytest.raises(InputError, match="gates.json: gate.*without a 'verdict': x"):
        verdict_summary(p)


@pytest.mark.slow
def test_report_front_page_states_the_verdicts(tmp_path):
    (tmp_path / "gates.json").write_text(json.dumps(GATES))
    shutil.copy(ROOT / "report/workflow.rst", tmp_path / "workflow.rst")
    (tmp_path / "caption.rst").write_text("Verdicts (test).\n")
    (tmp_path / "Snakefile").write_text(textwrap.dedent(f"""
        report: "workflow.rst"
        rule verdicts:
            input: "gates.json"
            output: report("verdicts.rst", caption="caption.rst", category="Verdicts")
            shell: "{sys.executable} {ROOT}/scripts/verdicts.py --gates {{input}} --out {{output}}"
        """))
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src"),
           "HOME": str(tmp_path)}
    for args in (["--cores", "1"], ["--report", "report.html"]):
        p = subprocess.run([SNAKEMAKE, *args], cwd=tmp_path, capture_output=True, text=True, env=env)
        assert p.returncode == 0, p.stderr[-3000:]
    html = (tmp_path / "report.html").read_text()
    assert "Can this student be taught?" in html and "cannot be taught by this recipe" in html
    assert html.index("Can this student be taught?") < html.index("which failure states of an LM agent")

"""The run's verdicts in a few lines: the HTML report's front page (rule verdicts,
results/verdicts.rst, from gates.json; docs/figures.md). Its own module, so a change to the
figures' code does not re-run it."""

from __future__ import annotations

from pathlib import Path

from .io import InputError, atomic_path, read_json

VERDICT_ORDER = ("pass", "fail", "not evaluated", "by construction")


def _names(gs: list[dict], most: int = 6) -> str:
    names = [f"``{g['name']}``" for g in gs]
    return ", ".join(names) if len(names) <= most else ", ".join(names[:most]) + f" and {len(names) - most} more"


def verdict_summary(gates_path) -> str:
    """A few lines of reStructuredText stating the run's verdicts from gates.json (docs/figures.md):
    student_is_teachable first, in its own sentence; then one line each for the checks and the
    tests, counting each verdict and naming the gates. The report's front page shows them."""
    gates = read_json(gates_path)  # names the file when it is missing, empty or malformed
    if not isinstance(gates, list) or not all(isinstance(g, dict) and "name" in g for g in gates):
        raise InputError(f"{gates_path}: expected a list of gates, each with a 'name'")
    missing = [g["name"] for g in gates if "verdict" not in g]
    if missing:
        raise InputError(f"{gates_path}: gate(s) without a 'verdict': {', '.join(missing)}")
    lines = [f"**Verdicts of this run** (``gates.json``: {len(gates)} gates; each one under *Gates*)", ""]
    first = next((g for g in gates if g["name"] == "student_is_teachable"), None)
    if first is not None:
        said = " ".join(str(first.get("sentence") or first.get("note") or "").split())
        lines.append(f"* **Can this student be taught?** ``student_is_teachable``: **{first['verdict']}**"
                     + (f". {said}" if said else ""))
    else:
        lines.append("* **Can this student be taught?** ``student_is_teachable`` is not in gates.json.")
    rest = [g for g in gates if g is not first]
    for kind, title in (("check", "Checks"), ("test", "Tests")):
        gs = [g for g in rest if g.get("kind", "test") == kind]
        if not gs:
            continue
        verdicts = [v for v in VERDICT_ORDER if any(g["verdict"] == v for g in gs)]
        verdicts += sorted({g["verdict"] for g in gs} - set(verdicts))
        parts = [f"{sum(g['verdict'] == v for g in gs)} {v} ({_names([g for g in gs if g['verdict'] == v])})"
                 for v in verdicts]
        lines.append(f"* **{title}** ({len(gs)}): " + "; ".join(parts) + ".")
    return "\n".join(lines) + "\n"


def write_verdict_summary(gates_path, out) -> Path:
    out = Path(out)
    with atomic_path(out, suffix=out.suffix) as tmp:
        tmp.write_text(verdict_summary(gates_path))
    return out

"""teachable.vocab: the study's names, defined once, importable at no cost."""

import ast
import subprocess
import sys
from pathlib import Path

from teachable import vocab

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "teachable"


def test_vocab_imports_nothing():
    tree = ast.parse((SRC / "vocab.py").read_text())
    imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert imports == [], "teachable/vocab.py must not import anything (teachable or third party)"
    # importing it loads no other teachable module and no third-party package
    code = ("import sys; before = set(sys.modules); import teachable.vocab; "
            "print(sorted(m for m in set(sys.modules) - before if m not in ('teachable', 'teachable.vocab')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_names_are_defined_only_in_vocab():
    """No other module of the package assigns one of the vocabulary's names."""
    names = {n for n in dir(vocab) if n.isupper()}
    clashes = []
    for p in sorted(SRC.rglob("*.py")):
        if p.name == "vocab.py":
            continue
        for node in ast.parse(p.read_text()).body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
                if isinstance(node, ast.AnnAssign) else []
            clashes += [f"{p.relative_to(SRC)}: {t.id}" for t in targets if isinstance(t, ast.Name) and t.id in names]
    assert clashes == []


def test_derived_sets():
    assert vocab.ROUTES == vocab.FORMATS == ("demo", "hint", "contrast")
    assert vocab.ROUTES_OR_NONE == vocab.ROUTES + ("none",)
    assert vocab.SELECTION_FORMATS == vocab.FORMATS + ("route",)
    assert set(vocab.CONDITIONS) == {"base", "placebo", *vocab.FORMATS}
    assert vocab.RATE_CONDITIONS == ("policy", "force", "deviate", "expert", "placebo", "demo", "contrast", "hint")
    assert len(vocab.RUN_IDS) == len(vocab.QUADRANTS) * len(vocab.FORMATS) + len(vocab.BASELINES) == 14
    assert set(vocab.PER_SEED_METHODS) <= set(vocab.SELECTION_METHODS)
    assert len(set(vocab.FIGURE_NAMES)) == len(vocab.FIGURE_NAMES)

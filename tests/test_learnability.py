"""The learning curve (teachable.learnability): the realizability check of the student."""

import json
import subprocess
import sys
from functools import partial
from pathlib import Path

from teachable.config import effective_config
from teachable.envs import make_env
from teachable.learnability import ceiling, learning_curve
from teachable.student import Example

ROOT = Path(__file__).resolve().parents[1]


def test_ceiling_counts_prompts_with_several_labels():
    ex = [Example("p1", "a"), Example("p1", "a"), Example("p1", "b"), Example("p2", "c")]
    assert ceiling(ex) == 0.75
    assert ceiling([Example("p", "a")]) == 1.0


def test_learning_curve_rows_and_determinism():
    boot = effective_config([str(ROOT / "tests/data/config_mock.yaml")])["bootstrap"]
    mk = partial(make_env, "mock", families=["corridor"], max_steps=12)
    kw = dict(sizes=[4, 8], steps=30, seed=0, history_len=2, max_steps=12, held_tasks=4, eval_tasks=4,
              layout="history_first", log=lambda *_: None)
    a = learning_curve(mk, boot, **kw)
    b = learning_curve(mk, boot, **kw)
    assert [r["n_tasks"] for r in a["rows"]] == [4, 8]
    for r in a["rows"]:
        assert 0 <= r["heldout_agreement"] <= 1 and 0 <= r["greedy_success"] <= 1
    strip = lambda rep: [{k: v for k, v in r.items() if k != "wall_time_s"} for r in rep["rows"]]  # noqa: E731
    assert strip(a) == strip(b)
    assert 0 < a["ceiling"] <= 1


def test_script_writes_the_artifact(tmp_path):
    cfg = effective_config([str(ROOT / "tests/data/config_mock.yaml")])
    arg = json.dumps({k: cfg[k] for k in ("seed", "env", "student", "bootstrap")})
    out = tmp_path / "learnability.json"
    subprocess.run([sys.executable, str(ROOT / "scripts/learnability.py"), "--cfg", arg, "--out", str(out)],
                   check=True, capture_output=True, text=True, cwd=ROOT)
    rep = json.loads(out.read_text())
    assert [r["n_tasks"] for r in rep["rows"]] == cfg["bootstrap"]["learnability"]["sizes"]
    assert rep["target"] == 0.95 and isinstance(rep["reaches_target"], bool)

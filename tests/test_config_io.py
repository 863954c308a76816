import json

import pytest

from teachable.config import load_config, validate_config
from teachable.io import InputError, read_jsonl, read_records, write_json, atomic_path, derive_seed, hash_fraction

from conftest import ROOT


def test_every_shipped_config_validates():
    """Every config file the repo ships (and the tests' configs) passes the schema and the
    DAG-time checks: a renamed key cannot leave one of them behind."""
    files = sorted((ROOT / "config").glob("*.yaml")) + sorted((ROOT / "tests" / "data").glob("config_*.yaml"))
    names = {f.name for f in files}
    assert {"config.yaml", "full.yaml", "study.yaml", "textworld.yaml", "config_textworld_tiny.yaml"} <= names
    for f in files:
        if f.name == "schema.yaml":
            continue
        cfg = load_config(f)
        assert cfg["student"]["base_model"] == "bootstrap", f


def test_defaults_are_filled():
    cfg = validate_config({})
    assert cfg["env"]["name"] == "babyai" and cfg["phase0"]["k_offsets"] == [0, 2, 4]


def test_unknown_key_is_named(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("phase0:\n  n_taks: 3\n")
    with pytest.raises(InputError, match=r"unknown config key 'phase0.n_taks'"):
        load_config(p)


def test_mistyped_value_is_named():
    with pytest.raises(InputError, match=r"env.max_steps"):
        validate_config({"env": {"max_steps": "many"}})


def test_malformed_jsonl_line_named(tmp_path):
    p = tmp_path / "snaps.jsonl"
    p.write_text('{"snapshot_id": "a"}\n{"snapshot_id": "b"\n')
    with pytest.raises(InputError, match=r"snaps.jsonl:2: malformed JSON"):
        read_jsonl(p)


def test_missing_key_named(tmp_path):
    p = tmp_path / "snaps.json"
    p.write_text(json.dumps([{"snapshot_id": "a", "state": "x"}, {"snapshot_id": "b"}]))
    with pytest.raises(InputError, match=r"record 1: missing key\(s\) state"):
        read_records(p, ["snapshot_id", "state"])


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("killed")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    write_json(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}


def test_derived_seeds_stable():
    assert derive_seed(0, "x", 1) == derive_seed(0, "x", 1) != derive_seed(0, "x", 2)
    assert 0 <= hash_fraction("abc") < 1 and hash_fraction("abc") == hash_fraction("abc")

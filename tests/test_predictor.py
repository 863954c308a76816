"""Phase-4 predictor: features, metrics against hand computations, learning a synthetic
target, the R^2 guard, determinism, and the train_predictor script."""

import hashlib
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from teachable.io import InputError, hash_fraction, write_jsonl
from teachable.labeling.quadrants import assign_quadrants, thresholds
from teachable.predictor import (DEFAULTS, LABEL_KEYS, Predictor, featurize, fit_feature_spec, hashed_text,
                                 ndcg_at_k, precision_at_k, r2_report, relevant_at_k, run_phase4, write_phase4)
from teachable.predictor.features import _bucket
from teachable.vocab import QUADRANTS

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ["goto", "pickup", "open"]
OBJECTS = ["red key", "blue ball", "green door", "grey box", "yellow key", "purple door"]


def synth_snapshots(n: int = 360, seed: int = 0, holdout: float = 0.3) -> list[dict]:
    """Synthetic labeled snapshots whose ELP_net is a learnable function of the cheap
    features (a door in view, the uncertainty, the step), plus noise. Test data only."""
    rng = np.random.default_rng(seed)
    snaps = []
    for i in range(n):
        traj = f"traj{i // 3:05d}"
        obj = OBJECTS[rng.integers(len(OBJECTS))]
        u_norm = float(rng.uniform(0.05, 0.95))
        n_act = 6
        u = u_norm * math.log(n_act)
        step = int(rng.integers(0, 30))
        door = "door" in obj
        elp = 0.5 * door + 0.4 * (u_norm - 0.5) - 0.01 * (step - 15) + float(rng.normal(0, 0.05)) - 0.1
        lloc = 0.6 * (u_norm - 0.5) + 0.3 * door + float(rng.normal(0, 0.05))
        snaps.append({
            "snapshot_id": f"{traj}_step{step:04d}_k{i % 3}", "trajectory_id": traj,
            "family": FAMILIES[i % len(FAMILIES)], "mission": f"go to the {obj}",
            "obs_text": f"a {obj} {1 + i % 4} steps forward and {i % 3} steps left",
            "features": {"step": step, "k": i % 3, "n_valid_actions": n_act, "obs_words": 9, "mission_words": 5,
                         "history_len": 2, "carrying": 0, "is_expert_source": 0},
            "U": u, "U_norm": u_norm, "margin": u_norm, "topk_spread": 1 - u_norm,
            "effective_actions": math.exp(u), "L_local": lloc, "ELP_net": elp, "ELP_net_xfit": elp,
            "heldout": hash_fraction(traj, salt="test") < holdout,
        })
    assign_quadrants(snaps, thresholds(snaps))
    return snaps


# ---------- features ----------

def test_hashed_text_is_stable_and_matches_blake2b():
    snap = {"mission": "go to the red key", "obs_text": "a red key 2 steps forward"}
    v1, v2 = hashed_text(snap, 64, [1, 2]), hashed_text(snap, 64, [1, 2])
    assert np.array_equal(v1, v2) and abs(np.linalg.norm(v1) - 1) < 1e-9
    h = int.from_bytes(hashlib.blake2b(b"m:red key", digest_size=8).digest(), "big")
    assert _bucket("m:red key", 64) == (h % 64, 1.0 if h >> 63 else -1.0)
    # a different Python hash seed (another process) gives the same vector
    code = ("import json,sys; sys.path.insert(0, 'src'); from teachable.predictor import hashed_text; "
            f"print(json.dumps(hashed_text({snap!r}, 64, [1, 2]).tolist()))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"})
    assert np.allclose(json.loads(out.stdout), v1, atol=0, rtol=0)


def test_featurize_deterministic_shapes_and_family_one_hot():
    snaps = synth_snapshots(30)
    spec = fit_feature_spec(snaps, FAMILIES, 32, [1])
    x1, x2 = featurize(snaps, spec), featurize(snaps, spec)
    assert x1.shape == (30, spec["dim"]) == (30, len(spec["names"])) and np.array_equal(x1, x2)
    fam = [spec["names"].index(f"family={f}") for f in spec["families"]]
    assert np.all(x1[:, fam].sum(axis=1) == 1)
    other = dict(snaps[0], family="unknown_family")
    assert featurize([other], spec)[0, spec["names"].index("family=__other__")] == 1
    # standardisation fitted on the given snapshots: numeric columns have mean ~0
    num = x1[:, :len(spec["numeric"])]
    assert np.allclose(num.mean(axis=0), 0, atol=1e-5)


def test_label_keys_in_features_are_refused():
    snaps = synth_snapshots(10)
    snaps[3]["features"]["ELP_net"] = 0.3
    with pytest.raises(InputError, match="ELP_net would leak"):
        fit_feature_spec(snaps, FAMILIES, 16, [1])
    assert {"L_local", "ELP_net", "quadrant", "p_force", "heldout"} <= LABEL_KEYS


def test_missing_uncertainty_names_the_snapshot():
    snaps = synth_snapshots(10)
    del snaps[4]["margin"]
    spec_snaps = snaps[:4]
    spec = fit_feature_spec(spec_snaps, FAMILIES, 16, [1])
    with pytest.raises(InputError, match=f"snapshot {snaps[4]['snapshot_id']}: missing margin"):
        featurize(snaps, spec)


# ---------- metrics against hand computations ----------

Y = np.array([0.5, 0.0, -0.25, 0.25, 0.0, 0.75])
S = np.array([0.9, 0.8, 0.7, 0.1, 0.2, 0.3])
L3 = math.log2(3)


def test_precision_and_ndcg_hand_example():
    # K=2: true top-2 = {0.75, 0.5}; relevant = ELP>0 or >= 0.5 -> items 0, 3, 5
    assert list(relevant_at_k(Y, 2)) == [True, False, False, True, False, True]
    assert precision_at_k(Y, S, 2) == pytest.approx(1 / 2)          # picks items 0 (rel) and 1
    idcg2 = 0.75 + 0.5 / L3
    assert ndcg_at_k(Y, S, 2) == pytest.approx(0.5 / idcg2)          # DCG = 0.5/1 + 0/log2(3)
    assert precision_at_k(Y, S, 3) == pytest.approx(1 / 3)
    assert ndcg_at_k(Y, S, 3) == pytest.approx(0.5 / (0.75 + 0.5 / L3 + 0.25 / 2))
    # a perfect ranking scores 1 on both
    assert precision_at_k(Y, Y, 3) == 1 and ndcg_at_k(Y, Y, 3) == pytest.approx(1)


def test_ties_are_averaged_and_constant_score_is_random_expectation():
    const = np.zeros_like(Y)
    assert precision_at_k(Y, const, 2) == pytest.approx(3 / 6)       # base rate of relevant@2
    assert ndcg_at_k(Y, const, 2) == pytest.approx(np.clip(Y, 0, None).mean() * (1 + 1 / L3) / (0.75 + 0.5 / L3))
    # a tie straddling the cut: item 0 first, then {1, 2} tied for one slot
    y, s = np.array([0.0, 1.0, 0.0, 0.5]), np.array([1.0, 0.5, 0.5, 0.0])
    assert precision_at_k(y, s, 2) == pytest.approx((0 + 0.5 * (1 + 0)) / 2)


def test_fewer_positives_than_k_uses_true_top_k_and_k_is_clipped():
    y, s = np.array([0.5, 0.0, 0.0, -0.5]), np.array([-1.0, 0.0, 1.0, 2.0])
    assert precision_at_k(y, s, 3) == pytest.approx(2 / 3)           # top-3 = items 3 (no), 2, 1 (ties at 0)
    assert precision_at_k(y, s, 10) == precision_at_k(y, s, 4)
    assert ndcg_at_k(np.array([0.0, -0.5]), np.array([1.0, 0.0]), 1) is None  # no positive gain


def test_r2_never_reported_for_an_input_target():
    with pytest.raises(InputError, match="never report R\\^2 of an input"):
        r2_report({"U": [1.0, 2.0, 3.0]}, {"U": [1.0, 2.0, 3.0]}, ["features.step", "U"])
    with pytest.raises(InputError, match="step"):
        r2_report({"step": [1.0, 2.0]}, {"step": [1.0, 2.0]}, ["features.step"])
    rep = r2_report({"ELP_net": [0.0, 1.0, 2.0]}, {"ELP_net": [0.0, 1.0, 2.0]}, ["U"])
    assert rep == {"R2_ELP_net": 1.0}


# ---------- training on a synthetic learnable target ----------

FAST = {"epochs": 150, "oof_folds": 3, "bootstrap_resamples": 200, "hash_dim": 64, "k_values": [5, 10, 20]}
TINY = {**FAST, "epochs": 20, "oof_folds": 2, "bootstrap_resamples": 100}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is fastest on a shared machine
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def trained():
    snaps = synth_snapshots()
    cfg = {"seed": 0, "env": {"families": FAMILIES}, "predictor": FAST}
    return snaps, run_phase4(snaps, cfg)


def test_model_learns_and_beats_random_and_entropy(trained):
    _, arts = trained
    m = arts["result"]["metrics"]
    assert m["model"]["spearman"] > 0.7
    assert m["model"]["R2_ELP_net_xfit"] > 0.4 and m["model"]["R2_L_local"] > 0.3
    for k in (5, 10, 20):
        assert m["model"][f"NDCG@{k}"] > m["random"][f"NDCG@{k}"] + 0.1
        assert m["model"][f"P@{k}"] >= m["random"][f"P@{k}"]
    assert m["model"]["NDCG@10"] > m["entropy"]["NDCG@10"]
    assert m["model"]["quadrant_accuracy"] > m["random"]["quadrant_accuracy"] + 0.2
    gates = {g["name"]: g for g in arts["result"]["gates"]}
    assert gates["predictor_beats_random_P@10"]["passed"] or gates["predictor_beats_random_P@10"]["value"] == 0
    assert gates["predictor_beats_entropy_NDCG@10"]["passed"]
    assert gates["predictor_R2_ELP_net_xfit_positive"]["passed"] and gates["predictor_R2_ELP_net_xfit_positive"]["ci"]["low"] > 0
    for g in gates.values():
        assert set(g) >= {"name", "value", "threshold", "passed"}


def test_reported_r2_targets_are_not_inputs(trained):
    _, arts = trained
    names = set(arts["feature_schema"]["names"])
    for method in ("model", "entropy", "random"):
        r2_keys = [k for k in arts["result"]["metrics"][method] if k.startswith("R2_")]
        assert sorted(r2_keys) == ["R2_ELP_net_xfit", "R2_L_local"]
        for k in r2_keys:
            t = k[3:]
            assert t not in names and f"features.{t}" not in names
    assert arts["result"]["metrics"]["random"]["R2_ELP_net_xfit"] is None


def test_training_is_deterministic_and_model_roundtrips(trained, tmp_path):
    small = synth_snapshots(90)
    cfg = {"seed": 0, "env": {"families": FAMILIES}, "predictor": TINY}
    one, two = run_phase4(small, cfg), run_phase4(synth_snapshots(90), cfg)
    assert one["result"]["metrics"] == two["result"]["metrics"] and one["oof"] == two["oof"]
    other = run_phase4(small, {**cfg, "seed": 1})
    assert other["result"]["metrics"] != one["result"]["metrics"]
    snaps, arts = trained
    write_phase4(arts, tmp_path / "predictor" / "model.pt", tmp_path)
    loaded = Predictor.load(tmp_path / "predictor" / "model.pt")
    held = [s for s in snaps if s["heldout"]]
    assert np.array_equal(loaded.predict(held)["ELP_net_xfit"], arts["model"].predict(held)["ELP_net_xfit"])
    for f in ("feature_schema.json", "training_result.json", "predictor/config.json",
              "predictor/train_oof_predictions.json", "predictor/heldout_predictions.csv"):
        assert (tmp_path / f).stat().st_size > 0
    res = json.loads((tmp_path / "training_result.json").read_text())
    assert set(res["metrics"]) == {"model", "entropy", "random"}


def test_oof_predictions_cover_train_only(trained):
    snaps, arts = trained
    train_ids = {s["snapshot_id"] for s in snaps if not s["heldout"]}
    assert set(arts["oof"]["predictions"]) == train_ids


def test_bad_inputs_fail_clearly(tmp_path):
    snaps = synth_snapshots(30)
    del snaps[2]["heldout"]
    with pytest.raises(InputError, match="record 2 .*missing boolean 'heldout'"):
        run_phase4(snaps, {"predictor": FAST})
    snaps = synth_snapshots(30)
    for s in snaps:
        s["heldout"] = False
    with pytest.raises(InputError, match="no held-out snapshots"):
        run_phase4(snaps, {"predictor": FAST})
    with pytest.raises(InputError, match="unknown key.*predictor.hidden_size"):
        run_phase4(synth_snapshots(30), {"predictor": {"hidden_size": 3}})
    with pytest.raises(InputError, match="predictor model file not found"):
        Predictor.load(tmp_path / "nope.pt")
    (tmp_path / "bad.pt").write_text("not a checkpoint")
    with pytest.raises(InputError, match="unreadable predictor checkpoint"):
        Predictor.load(tmp_path / "bad.pt")


def test_schema_fragment_defaults_match_code():
    import yaml

    frag = yaml.safe_load((ROOT / "config/schema.yaml").read_text())["properties"]["predictor"]
    assert {k: v["default"] for k, v in frag["properties"].items()} == DEFAULTS


def test_train_predictor_script(tmp_path):
    snaps = synth_snapshots(150)
    write_jsonl(tmp_path / "labeled.jsonl", snaps)
    cfg = json.dumps({"seed": 0, "env": {"families": FAMILIES}, "predictor": TINY})
    p = subprocess.run([sys.executable, "scripts/train_predictor.py", "--cfg", cfg, "--snapshots",
                        str(tmp_path / "labeled.jsonl"), "--model", str(tmp_path / "p4/predictor/model.pt"),
                        "--out-dir", str(tmp_path / "p4")], cwd=ROOT, capture_output=True, text=True,
                       env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert p.returncode == 0, p.stderr
    assert "NDCG@5 model" in p.stdout
    assert (tmp_path / "p4/predictor/model.pt").exists() and (tmp_path / "p4/training_result.json").exists()
    # a malformed line stops it with file:line and writes nothing
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(snaps[0]) + "\n{oops\n")
    p = subprocess.run([sys.executable, "scripts/train_predictor.py", "--cfg", cfg, "--snapshots", str(bad),
                        "--model", str(tmp_path / "q/predictor/model.pt"), "--out-dir", str(tmp_path / "q")],
                       cwd=ROOT, capture_output=True, text=True,
                       env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert p.returncode == 2 and f"{bad}:2: malformed JSON" in p.stderr
    assert not (tmp_path / "q").exists()
    assert QUADRANTS[0] in {s["quadrant"] for s in snaps}

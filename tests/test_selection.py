"""Phase-5 selection: picks on a hand-made set, loud failures, no held-out picks, summary
statistics and gates on hand-made evaluations."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from teachable.io import InputError, hash_fraction, write_json, write_jsonl
from teachable.selection import (DEFAULTS, SelectionError, check_picks, pick, selection_config, selection_pool,
                                 summarize)
from teachable.selection.pick import pick_for_seed

ROOT = Path(__file__).resolve().parents[1]
ACTS = ["go forward", "turn left"]


def snap(sid, U, elp, heldout=False, valid=True, quadrant="Q1_highU_highL"):
    return {"snapshot_id": sid, "trajectory_id": sid.split("_")[0], "U": U, "ELP_net": elp, "ELP_net_xfit": elp, "L_local": elp / 2,
            "heldout": heldout, "valid_actions": ACTS, "quadrant": quadrant,
            "teacher": {"suggested_action": "go forward", "valid": valid}}


def hand_set():
    return [
        snap("a_step0001_k0", 2.0, 0.1),
        snap("b_step0001_k0", 0.5, 0.9),
        snap("c_step0001_k0", 1.5, 0.5),
        snap("d_step0001_k0", 3.0, 1.0, heldout=True),   # best on every score, but held out
        snap("e_step0001_k0", 1.9, 0.8, valid=False),    # invalid teacher answer: not in the pool
        snap("f_step0001_k0", 0.1, 0.0),
    ]


POOL = ["a_step0001_k0", "b_step0001_k0", "c_step0001_k0", "f_step0001_k0"]


@pytest.fixture
def oof(tmp_path):
    model = tmp_path / "model.pt"
    model.write_bytes(b"placeholder: the oof arm checks the model exists and hashes it")
    path = tmp_path / "oof.json"
    write_json(path, {"predictions": {"a_step0001_k0": {"ELP_net_xfit": 0.7}, "b_step0001_k0": {"ELP_net_xfit": -0.1},
                                      "c_step0001_k0": {"ELP_net_xfit": 0.2}, "f_step0001_k0": {"ELP_net_xfit": 0.9}}})
    return model, path


def test_pool_is_train_with_valid_teacher():
    pool, counts = selection_pool(hand_set(), "random")
    assert [s["snapshot_id"] for s in pool] == POOL
    assert counts == {"n_snapshots": 6, "n_train": 5, "n_invalid_teacher": 1, "n_pool": 4}


def test_each_method_picks_the_right_snapshots(oof):
    snaps = hand_set()
    assert pick("entropy", snaps, 2, 0)["snapshot_ids"] == ["a_step0001_k0", "c_step0001_k0"]
    assert pick("oracle", snaps, 2, 0)["snapshot_ids"] == ["b_step0001_k0", "c_step0001_k0"]
    rec = pick("predictor", snaps, 2, 0, *oof)
    assert rec["snapshot_ids"] == ["f_step0001_k0", "a_step0001_k0"]
    assert rec["scores"]["predictor_scores"] == "oof" and rec["method_used"] == "predictor"
    expected = sorted(POOL, key=lambda i: hash_fraction(i, salt="selection0"))
    assert pick("random", snaps, 2, 0)["snapshot_ids"] == expected[:2]
    assert pick("random", snaps, 3, 0)["snapshot_ids"][:2] == expected[:2]  # raising the budget keeps picks
    others = {tuple(pick("random", snaps, 2, s)["snapshot_ids"]) for s in range(8)}
    assert len(others) > 1  # the seed matters


def test_random_arm_is_redrawn_per_training_seed():
    """random's picks come from (master seed, 'random', training seed): fresh per training
    seed, reproducible for a seed; deterministic methods pick the same for every seed."""
    snaps = [snap(f"t{i:02d}_step0001_k0", U=i / 30, elp=(i * 7 % 13) / 13) for i in range(30)]
    draws = [tuple(pick_for_seed("random", snaps, 6, 0, t)["snapshot_ids"]) for t in range(5)]
    assert len(set(draws)) == 5
    assert pick_for_seed("random", snaps, 6, 0, 2)["snapshot_ids"] == list(draws[2])
    assert pick_for_seed("random", snaps, 6, 0, 2)["train_seed"] == 2
    assert pick_for_seed("random", snaps, 6, 1, 2)["snapshot_ids"] != list(draws[2])  # master seed matters
    assert len({tuple(pick_for_seed("oracle", snaps, 6, 0, t)["snapshot_ids"]) for t in range(5)}) == 1
    with pytest.raises(SelectionError, match="training seed is needed"):
        pick_for_seed("random", snaps, 6, 0)
    rec = pick_for_seed("random", snaps, 6, 0, 0)
    with pytest.raises(SelectionError, match="drawn for training seed 0, not 1"):
        check_picks(rec, snaps, "random", train_seed=1)
    assert len(check_picks(rec, snaps, "random", train_seed=0)) == 6


def test_ties_are_broken_by_seeded_hash_not_id():
    snaps = [snap(f"t{i}_step0001_k0", 1.0, 0.0) for i in range(6)]
    ids = pick("entropy", snaps, 3, 5)["snapshot_ids"]
    assert ids == sorted((s["snapshot_id"] for s in snaps), key=lambda i: hash_fraction(i, salt="selection5"))[:3]


def test_picks_never_include_heldout(oof):
    snaps = hand_set()
    for method in ("random", "entropy", "oracle", "predictor"):
        rec = pick(method, snaps, 4, 0, *oof)
        assert "d_step0001_k0" not in rec["snapshot_ids"] and "e_step0001_k0" not in rec["snapshot_ids"]
        assert sorted(rec["snapshot_ids"]) == POOL
        assert len(check_picks(rec, snaps, method)) == 4


def test_budget_above_available_fails_naming_the_method():
    with pytest.raises(SelectionError, match="selection method 'oracle': budget 5 > 4 available"):
        pick("oracle", hand_set(), 5, 0)


def test_missing_predictor_fails_loudly(tmp_path, oof):
    with pytest.raises(SelectionError, match="selection method 'predictor': predictor model file not found"):
        pick("predictor", hand_set(), 2, 0, tmp_path / "missing.pt", oof[1])
    with pytest.raises(SelectionError, match="selection method 'predictor': out-of-fold predictions not found"):
        pick("predictor", hand_set(), 2, 0, oof[0], tmp_path / "missing.json")
    write_json(tmp_path / "partial.json", {"predictions": {"a_step0001_k0": {"ELP_net_xfit": 0.1}}})
    with pytest.raises(SelectionError, match="no out-of-fold prediction for 3 pool"):
        pick("predictor", hand_set(), 2, 0, oof[0], tmp_path / "partial.json")


def test_missing_labels_and_split_fail_loudly():
    snaps = hand_set()
    del snaps[1]["ELP_net_xfit"]
    with pytest.raises(SelectionError, match="selection method 'oracle': no ELP_net_xfit label"):
        pick("oracle", snaps, 2, 0)
    snaps = hand_set()
    del snaps[0]["heldout"]
    with pytest.raises(SelectionError, match="selection method 'entropy': snapshot record 0"):
        pick("entropy", snaps, 2, 0)
    with pytest.raises(SelectionError, match="unknown method"):
        pick("uncertainty", hand_set(), 2, 0)


def test_check_picks_refuses_other_methods_and_heldout():
    snaps = hand_set()
    rec = pick("entropy", snaps, 2, 0)
    with pytest.raises(SelectionError, match="not 'oracle'"):
        check_picks(rec, snaps, "oracle")
    rec2 = dict(rec, snapshot_ids=["d_step0001_k0", "a_step0001_k0"])
    with pytest.raises(SelectionError, match="held out"):
        check_picks(rec2, snaps, "entropy")


def test_predictor_model_scores_in_sample(tmp_path):
    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, str(ROOT / "tests"))
    from test_predictor import FAMILIES, TINY, synth_snapshots
    from teachable.predictor import run_phase4, write_phase4

    snaps = synth_snapshots(60)
    for s in snaps:
        s.update(valid_actions=ACTS, teacher={"suggested_action": "go forward"})
    arts = run_phase4(snaps, {"seed": 0, "env": {"families": FAMILIES}, "predictor": TINY})
    write_phase4(arts, tmp_path / "predictor/model.pt", tmp_path)
    rec = pick("predictor", snaps, 5, 0, tmp_path / "predictor/model.pt", None, "model")
    assert rec["scores"]["in_sample"] is True
    pool = [s for s in snaps if not s["heldout"]]
    pred = arts["model"].predict(sorted(pool, key=lambda s: s["snapshot_id"]))["ELP_net_xfit"]
    assert rec["picked"][0]["score"] == pytest.approx(float(np.max(pred)))
    oof = pick("predictor", snaps, 5, 0, tmp_path / "predictor/model.pt",
               tmp_path / "predictor/train_oof_predictions.json")
    assert oof["scores"]["predictor_scores"] == "oof" and "in_sample" not in oof["scores"]


# ---------- summary ----------

SUCC = {  # method -> task_success per seed 0, 1, 2
    "random": [0.40, 0.50, 0.45], "entropy": [0.42, 0.48, 0.50],
    "predictor": [0.50, 0.55, 0.52], "oracle": [0.60, 0.58, 0.65],
}


def evals(succ=SUCC):
    return [{"run_id": f"selection_{m}", "method": m, "method_used": m, "seed": s,
             "metrics": {"task_success": v[s], "panel_success": v[s] / 2}} for m, v in succ.items()
            for s in range(3)]


def test_summary_means_paired_differences_and_gates():
    scfg = {**DEFAULTS, "bootstrap_resamples": 500}
    summary, table = summarize(evals(), {}, scfg, seed=0)
    pm = summary["per_method"]
    assert pm["oracle"]["metrics"]["task_success"]["mean"] == pytest.approx(np.mean(SUCC["oracle"]))
    d = pm["predictor"]["metrics"]["task_success"]["vs_random"]
    assert d["mean_diff"] == pytest.approx(np.mean(np.subtract(SUCC["predictor"], SUCC["random"])))
    assert d["t_pvalue_holm"] >= d["t_pvalue"]
    assert "vs_random" not in pm["random"]["metrics"]["task_success"]
    gates = {g["name"]: g for g in summary["gates"]}
    assert gates["selection_oracle_ge_predictor_task_success"]["passed"]
    assert gates["selection_predictor_ge_random_panel_success"]["passed"]
    assert gates["selection_predictor_ge_entropy_task_success"]["value"] == pytest.approx(
        np.mean(np.subtract(SUCC["predictor"], SUCC["entropy"])))
    assert len(gates) == 6 and all({"name", "value", "threshold", "passed", "ci"} <= set(g) for g in gates.values())
    assert set(table["method"]) == set(SUCC) and len(table) == 8
    assert {"mean", "ci_low", "ci_high", "diff_vs_random", "diff_ci_low", "p_paired_t_holm"} <= set(table.columns)
    bad = dict(SUCC, predictor=[0.3, 0.3, 0.3])
    gates = {g["name"]: g for g in summarize(evals(bad), {}, scfg, seed=0)[0]["gates"]}
    assert not gates["selection_predictor_ge_random_task_success"]["passed"]


def test_summary_refuses_a_swapped_arm_and_unpaired_seeds():
    ev = evals()
    ev[7]["method_used"] = "random"
    with pytest.raises(InputError, match="ran as 'random'; an arm may never become another"):
        summarize(ev, {}, DEFAULTS, seed=0)
    ev = [e for e in evals() if not (e["method"] == "oracle" and e["seed"] == 2)]
    with pytest.raises(InputError, match="paired design needs the same seeds"):
        summarize(ev, {}, DEFAULTS, seed=0)
    with pytest.raises(InputError, match="no evaluations for selection method"):
        summarize([e for e in evals() if e["method"] != "entropy"], {}, DEFAULTS, seed=0)


def test_config_checks_and_schema_fragment_in_sync():
    import yaml

    frag = yaml.safe_load((ROOT / "config/schema.yaml").read_text())["properties"]["selection"]
    assert {k: v["default"] for k, v in frag["properties"].items()} == DEFAULTS
    with pytest.raises(InputError, match="selection.methods"):
        selection_config({"selection": {"methods": ["random", "clever"]}})
    with pytest.raises(InputError, match="unknown key.*selection.k"):
        selection_config({"selection": {"k": 3}})


def test_pick_script_fails_loudly_for_missing_predictor(tmp_path):
    write_jsonl(tmp_path / "labeled.jsonl", hand_set())
    cfg = json.dumps({"seed": 0, "selection": {"budget": 2}})
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    base = [sys.executable, "scripts/selection_pick.py", "--cfg", cfg, "--snapshots", str(tmp_path / "labeled.jsonl")]
    p = subprocess.run(base + ["--method", "predictor", "--predictor", str(tmp_path / "none.pt"),
                               "--out", str(tmp_path / "predictor/picks.json")],
                       cwd=ROOT, capture_output=True, text=True, env=env)
    assert p.returncode == 2 and "selection method 'predictor': predictor model file not found" in p.stderr
    assert not (tmp_path / "predictor").exists()
    p = subprocess.run(base + ["--method", "oracle", "--out", str(tmp_path / "oracle/picks.json")],
                       cwd=ROOT, capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    rec = json.loads((tmp_path / "oracle/picks.json").read_text())
    assert rec["snapshot_ids"] == ["b_step0001_k0", "c_step0001_k0"] and rec["method_used"] == "oracle"


# ---------- end to end: one arm trained with the shared recipe (needs teachable.training) ----------

def mock_labeled(n=40):
    """Labeled-looking snapshots from real mock-env states (labels synthetic; test only)."""
    from teachable.envs.mock import MockEnv
    from teachable.snapshot import encode_state

    env, out = MockEnv(), []
    for i in range(n):
        obs = env.reset(i)
        hist = []
        for a in ["go forward", "wait", "turn around"][: i % 3]:
            obs, *_ = env.step(a)
            hist.append(a)
        sid = f"traj{i:05d}_step{len(hist):04d}_k0"
        out.append({"snapshot_id": sid, "trajectory_id": f"traj{i:05d}", "mission": obs.mission,
                    "obs_text": obs.text, "valid_actions": list(obs.valid_actions), "history": hist[-2:],
                    "state": encode_state(env.get_state()), "U": (i % 7) / 7, "ELP_net": ((i * 37) % 11) / 10 - 0.3, "ELP_net_xfit": ((i * 37) % 11) / 10 - 0.3,
                    "quadrant": "Q1_highU_highL", "heldout": hash_fraction(f"traj{i:05d}", salt="t") < 0.3,
                    "teacher": {"suggested_action": env.expert_action(), "diagnosis": "face the goal and go .",
                                "valid": True}, "student_greedy_action": "wait", "route_net": "demo"})
    return out


@pytest.fixture
def training_api():
    return pytest.importorskip("teachable.training", reason="teachable.training (branch train) not merged yet")


@pytest.mark.slow
def test_selection_arm_trains_with_shared_recipe(training_api, mock_student, tmp_path):
    from teachable.policy import Policy
    from teachable.selection.evaluate import check_run
    from teachable.selection.train import train_arm

    snaps = mock_labeled()
    cfg = {"seed": 0, "env": {"name": "mock", "families": ["corridor"], "max_steps": 12},
           "student": {"history": 2, "device": "cpu", "batch_size": 64, "base_model": "bootstrap", "adapter": None,
                       "temperature": 1.0},
           "training": {"seeds": [0], "lora_rank": 4, "lora_alpha": 8, "lora_dropout": 0.0,
                        "target_modules": "all-linear", "epochs": 1, "batch_size": 4, "lr": 0.002,
                        "probe_tasks": 0, "probe_examples": 0},
           "selection": {"budget": 8}}
    scfg = selection_config(cfg)
    for method in ("oracle", "random"):
        rec = pick_for_seed(method, snaps, 8, 0, 0)
        out = tmp_path / method / "seed0"
        train_arm(cfg, scfg, mock_student, snaps, rec, method, 0, out, "cpu", log=lambda *_: None)
        run = json.loads((out / "run.json").read_text())
        check_run(run, method, 0)
        assert run["stage"] == "selection" and run["method_used"] == method and run["n_examples"] == 8
        assert sorted(run["train_snapshot_ids"]) == sorted(rec["snapshot_ids"])
        assert (out / "metrics.jsonl").stat().st_size > 0
        Policy.load(mock_student, str(out / "adapter"), "cpu", 16)
    # random's seed-0 draw can not train its seed-1 arm (redrawn per training seed)
    with pytest.raises(SelectionError, match="drawn for training seed 0, not 1"):
        train_arm(cfg, scfg, mock_student, snaps, pick_for_seed("random", snaps, 8, 0, 0), "random", 1,
                  tmp_path / "y", "cpu")
    # the picks of one method can not train another arm
    with pytest.raises(SelectionError, match="not 'entropy'"):
        train_arm(cfg, scfg, mock_student, snaps, pick("oracle", snaps, 8, 0), "entropy", 0, tmp_path / "x", "cpu")

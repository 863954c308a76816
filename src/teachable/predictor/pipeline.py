"""Phase 4 end to end: split, train, cross-fit, evaluate on held-out snapshots, gates, and
the artifacts under results/phase4/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..io import InputError, atomic_path, derive_seed, stable_hash, write_json
from ..stats import jsonable
from .model import ELP_TARGET, REG_TARGETS, fit_predictor, out_of_fold_predictions
from .report import heldout_metrics, phase4_gates
from .metrics import ranking_report

# Mirrors the `predictor` section of config/schema.yaml (a test keeps the two in sync); used when a
# caller passes a config whose predictor section has not been filled by the schema.
DEFAULTS = {
    "hash_dim": 256,
    "ngrams": [1, 2],
    "hidden": [64, 32],
    "dropout": 0.1,
    "lr": 0.003,
    "weight_decay": 0.0001,
    "epochs": 300,
    "batch_size": 32,
    "patience": 30,
    "val_frac": 0.2,
    "quadrant_weight": 0.5,
    "k_values": [5, 10, 20],
    "oof_folds": 5,
    "bootstrap_resamples": 1000,
    "gate_margin": 0.0,
}


def predictor_config(cfg: dict) -> dict:
    pcfg = {**DEFAULTS, **(cfg.get("predictor") or {})}
    unknown = sorted(set(pcfg) - set(DEFAULTS))
    if unknown:
        raise InputError(f"config: unknown key(s) predictor.{', predictor.'.join(unknown)}")
    if not pcfg["k_values"] or min(pcfg["k_values"]) < 1:
        raise InputError("config: predictor.k_values must be a non-empty list of integers >= 1")
    return pcfg


def split_snapshots(snaps: list[dict], source: str = "snapshots") -> tuple[list[dict], list[dict]]:
    """(train, held-out) by the phase-1 `heldout` flag; a missing flag is an error."""
    for i, s in enumerate(snaps):
        if not isinstance(s.get("heldout"), bool):
            raise InputError(f"{source}: record {i} ({s.get('snapshot_id', '?')}): missing boolean 'heldout' "
                             "(phase-1 split)")
    train = [s for s in snaps if not s["heldout"]]
    held = [s for s in snaps if s["heldout"]]
    return train, held


def run_phase4(snaps: list[dict], cfg: dict, source: str = "snapshots") -> dict:
    """Train on train snapshots, evaluate on held-out ones. Returns every artifact in memory:
    {"model", "feature_schema", "config", "result", "oof", "heldout_predictions"}."""
    pcfg = predictor_config(cfg)
    families = list((cfg.get("env") or {}).get("families") or [])
    train, held = split_snapshots(snaps, source)
    if len(train) < 2:
        raise InputError(f"{source}: {len(train)} training snapshots (heldout == false); the predictor needs >= 2")
    if not held:
        raise InputError(f"{source}: no held-out snapshots (heldout == true) to evaluate the predictor on")
    seed = derive_seed(int(cfg.get("seed", 0)), "predictor")
    model, log = fit_predictor(train, pcfg, families, seed)
    pred = model.predict(held)
    k_values = [int(k) for k in pcfg["k_values"]]
    metrics = heldout_metrics(pred, train, held, k_values, model.spec["names"])
    gates = phase4_gates(pred, held, k_values, pcfg, derive_seed(int(cfg.get("seed", 0)), "predictor_gates"))
    oof = out_of_fold_predictions(train, pcfg, families, seed)
    y_tr = np.array([s[ELP_TARGET] for s in train if s["snapshot_id"] in oof])
    s_tr = np.array([oof[s["snapshot_id"]][ELP_TARGET] for s in train if s["snapshot_id"] in oof])
    notes = {
        "P@K": "share of the K highest-predicted held-out snapshots that are relevant: true ELP_net_xfit > 0 or in the "
               "true top-K (ELP_net_xfit >= K-th largest true value); ties in the score averaged (expected value)",
        "NDCG@K": "DCG@K / ideal DCG@K, gain = max(ELP_net_xfit, 0), discount 1/log2(rank+1), ties averaged; null when "
                  "no held-out snapshot has ELP_net_xfit > 0",
        "spearman": "Spearman rank correlation of the score with the true ELP_net_xfit (null if either is constant)",
        "R2": "held-out R^2 of L_local and ELP_net_xfit (neither is an input); entropy = least-squares line on U fitted "
              "on train; random has no regression output (null)",
        "quadrant_accuracy": "quadrants are cut on U x L_local and U IS an input, so part of this accuracy comes "
                             "from the input; quadrant_L_side_accuracy is the part that must be predicted. "
                             "entropy = best U threshold (stump); random = expected accuracy of guessing with "
                             "training class frequencies",
        "random": "expected values over uniformly random rankings (computed exactly, not sampled)",
        "ci": "percentile bootstrap over held-out trajectories (the snapshots of one trajectory are resampled "
              "together: ci_unit trajectories)",
        "K": f"K larger than the number of held-out snapshots ({len(held)}) is clipped to it"
             if max(k_values) > len(held) else "",
    }
    result = {
        "n_train": len(train), "n_heldout": len(held), "n_fit": log["n_fit"], "n_val": log["n_val"],
        "seed": int(cfg.get("seed", 0)), "derived_seed": seed, "k_values": k_values,
        "targets": {"regression": list(REG_TARGETS), "classification": "quadrant",
                    "why": f"{ELP_TARGET} (cross-fitted) is the decision label: the plug-in ELP_net is a max of "
                           "noisy gains, biased upward where outcomes are noisy (labeling.decision)"},
        "ranking_score": {"model": f"predicted {ELP_TARGET}", "entropy": "U", "random": "uniformly random"},
        "metrics": jsonable(metrics), "metric_definitions": notes,
        "out_of_fold_train": jsonable({"n": int(y_tr.size), "n_folds": int(pcfg["oof_folds"]),
                                       **(ranking_report(y_tr, s_tr, k_values) if y_tr.size else {})}),
        "gates": jsonable(gates),
        "training": {k: v for k, v in log.items() if k != "history"},
        "loss_history": log["history"],
    }
    config = {"predictor": pcfg, "seed": int(cfg.get("seed", 0)), "derived_seed": seed, "families": families,
              "arch": model.arch, "target_mean": model.target_mean, "target_std": model.target_std,
              "targets": list(REG_TARGETS), "n_train": len(train),
              "train_ids_sha256": stable_hash(sorted(s["snapshot_id"] for s in train)),
              "heldout_ids_sha256": stable_hash(sorted(s["snapshot_id"] for s in held))}
    rows = pd.DataFrame({
        "snapshot_id": [s["snapshot_id"] for s in held], "quadrant": [s["quadrant"] for s in held],
        "U": [s["U"] for s in held], **{f"true_{t}": [s[t] for s in held] for t in REG_TARGETS},
        **{f"pred_{t}": pred[t] for t in REG_TARGETS}, "pred_quadrant": pred["quadrant"]})
    return {"model": model, "feature_schema": model.spec, "config": config, "result": result,
            "oof": {"n_folds": int(pcfg["oof_folds"]), "seed": seed, "predictions": oof},
            "heldout_predictions": rows}


def write_phase4(arts: dict, model_path: str | Path, out_dir: str | Path) -> None:
    """model.pt + config.json + train_oof_predictions.json + heldout_predictions.csv beside
    the model; feature_schema.json and training_result.json in out_dir (results/phase4)."""
    model_path, out_dir = Path(model_path), Path(out_dir)
    mdir = model_path.parent
    write_json(mdir / "config.json", arts["config"])
    write_json(mdir / "train_oof_predictions.json", arts["oof"])
    with atomic_path(mdir / "heldout_predictions.csv", suffix=".csv") as tmp:
        arts["heldout_predictions"].to_csv(tmp, index=False)
    write_json(out_dir / "feature_schema.json", arts["feature_schema"])
    write_json(out_dir / "training_result.json", arts["result"])
    arts["model"].save(model_path)  # last: its presence means the rest is written

"""Phase 5 picking: each method chooses `budget` TRAIN snapshots (docs/selection.md).

- random:    the `budget` smallest values of a hash of (seed, snapshot id): seeded, and
             raising the budget keeps the earlier picks. Redrawn for every training seed
             (seed = derive_seed(master seed, 'random', training seed); one picks.json per
             training seed), so the arm's spread over seeds includes the luck of the draw.
- entropy:   highest U (the student's entropy at the state).
- predictor: highest predicted ELP_net_xfit. By default the phase-4 *out-of-fold* predictions
             (`train_oof_predictions.json`: each training snapshot scored by a model that
             never saw its label); `predictor_scores: model` scores the pool with the
             phase-4 model itself, which was trained on these labels (in-sample, recorded).
- oracle:    highest phase-1 ELP_net_xfit, the cross-fitted label (labeling.decision): the
             plug-in ELP_net is a max of noisy gains, so an oracle of it would prefer noisy
             snapshots; under a null its picks are no better than random's.

Ties are broken by the same seeded hash as random, never by id (ids follow trajectories).
The pool is the training split (heldout == false) with a valid teacher answer, the same
for every method, so every arm trains on exactly `budget` examples of the same format.
A method that cannot run raises SelectionError naming the method: no arm silently
becomes another."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..io import InputError, derive_seed, hash_fraction, read_json, stable_hash
from ..labeling.decision import DECISION_ELP, has_decision_elp
from ..vocab import PER_SEED_METHODS, SELECTION_METHODS

SCORE_SOURCES = ("oof", "model")


def draw_seed(method: str, master_seed: int, train_seed: int | None) -> int:
    """The seed a method picks with: the master seed, or for a per-seed method
    derive_seed(master, method, training seed)."""
    if method not in PER_SEED_METHODS:
        return int(master_seed)
    if train_seed is None:
        raise SelectionError(f"selection method '{method}': a training seed is needed (redrawn per seed)")
    return derive_seed(int(master_seed), method, int(train_seed))


class SelectionError(InputError):
    """A selection method cannot run (the message names the method)."""


def _err(method: str, msg: str) -> SelectionError:
    return SelectionError(f"selection method '{method}': {msg}")


def teacher_valid(snap: dict) -> bool:
    """The teacher's answer is usable as an SFT target (same rule as teachable.training)."""
    t = snap.get("teacher") or {}
    act = t.get("suggested_action")
    return bool(t.get("valid", True)) and act is not None and act in snap.get("valid_actions", [])


def selection_pool(snaps: list[dict], method: str) -> tuple[list[dict], dict]:
    """Training snapshots (heldout == false) with a valid teacher answer, sorted by id;
    and counts {"n_snapshots", "n_train", "n_invalid_teacher", "n_pool"}."""
    for i, s in enumerate(snaps):
        if not isinstance(s.get("heldout"), bool):
            raise _err(method, f"snapshot record {i} ({s.get('snapshot_id', '?')}) has no boolean 'heldout' "
                               "(phase-1 split); refusing to pick without knowing what is held out")
    train = [s for s in snaps if s["heldout"] is False]
    pool = sorted((s for s in train if teacher_valid(s)), key=lambda s: s["snapshot_id"])
    return pool, {"n_snapshots": len(snaps), "n_train": len(train), "n_invalid_teacher": len(train) - len(pool),
                  "n_pool": len(pool)}


def _tiebreak(pool: list[dict], seed: int) -> np.ndarray:
    return np.array([hash_fraction(s["snapshot_id"], salt=f"selection{seed}") for s in pool])


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def method_scores(method: str, pool: list[dict], seed: int, predictor_path: str | Path | None = None,
                  oof_path: str | Path | None = None, predictor_scores: str = "oof") -> tuple[np.ndarray, dict]:
    """(score per pool snapshot, higher = picked first; info about where scores came from)."""
    if method == "random":
        return -_tiebreak(pool, seed), {"score": "-hash(seed, snapshot_id) (seeded random order)"}
    if method == "entropy":
        missing = [s["snapshot_id"] for s in pool if not isinstance(s.get("U"), (int, float))]
        if missing:
            raise _err(method, f"{len(missing)} pool snapshot(s) have no U (first: {missing[0]})")
        return np.array([float(s["U"]) for s in pool]), {"score": "U (entropy of pi, nats)"}
    if method == "oracle":
        missing = [s["snapshot_id"] for s in pool if not has_decision_elp(s)]
        if missing:
            raise _err(method, f"no {DECISION_ELP} label for {len(missing)} pool snapshot(s) (first: {missing[0]}); "
                               "the oracle needs the phase-1 cross-fitted CPT labels")
        return np.array([float(s[DECISION_ELP]) for s in pool]), \
            {"score": f"phase-1 {DECISION_ELP} (cross-fitted: unbiased under a null; the plug-in ELP_net is not)"}
    if method == "predictor":
        return _predictor_scores(pool, predictor_path, oof_path, predictor_scores)
    raise _err(method, f"unknown method (known: {', '.join(SELECTION_METHODS)})")


def _predictor_scores(pool: list[dict], predictor_path, oof_path, mode: str) -> tuple[np.ndarray, dict]:
    m = "predictor"
    if mode not in SCORE_SOURCES:
        raise _err(m, f"selection.predictor_scores '{mode}' is not one of {', '.join(SCORE_SOURCES)}")
    if predictor_path is None or not Path(predictor_path).exists():
        raise _err(m, f"predictor model file not found: {predictor_path} (run the train_predictor rule)")
    info = {"predictor_model": str(predictor_path), "predictor_model_sha256": file_sha256(predictor_path),
            "predictor_scores": mode}
    if mode == "oof":
        if oof_path is None or not Path(oof_path).exists():
            raise _err(m, f"out-of-fold predictions not found: {oof_path} (written by train_predictor beside "
                          "model.pt)")
        preds = read_json(oof_path).get("predictions", {})
        missing = [s["snapshot_id"] for s in pool if s["snapshot_id"] not in preds]
        if missing:
            raise _err(m, f"{oof_path} has no out-of-fold prediction for {len(missing)} pool snapshot(s) (first: "
                          f"{missing[0]}): the predictor was trained on other snapshots; rerun train_predictor")
        info.update(score=f"out-of-fold predicted {DECISION_ELP} (each snapshot scored by a fold model that never saw its "
                          "label)", oof_predictions=str(oof_path), oof_sha256=file_sha256(oof_path))
        bad = [s["snapshot_id"] for s in pool if DECISION_ELP not in preds[s["snapshot_id"]]]
        if bad:
            raise _err(m, f"{oof_path}: prediction for {bad[0]} has no '{DECISION_ELP}' (predictor trained on "
                          "another target); rerun train_predictor")
        return np.array([float(preds[s["snapshot_id"]][DECISION_ELP]) for s in pool]), info
    from ..predictor import Predictor  # torch import only when needed

    model = Predictor.load(predictor_path)
    info.update(score=f"predicted {DECISION_ELP} of the phase-4 model (IN-SAMPLE: it was trained on these snapshots' "
                      "labels)", in_sample=True)
    return np.asarray(model.predict(pool)[DECISION_ELP], dtype=float), info


def pick(method: str, snaps: list[dict], budget: int, seed: int, predictor_path: str | Path | None = None,
         oof_path: str | Path | None = None, predictor_scores: str = "oof") -> dict:
    """The picks.json record of one method."""
    if method not in SELECTION_METHODS:
        raise _err(method, f"unknown method (known: {', '.join(SELECTION_METHODS)})")
    if int(budget) < 1:
        raise _err(method, f"selection.budget must be >= 1, got {budget}")
    pool, counts = selection_pool(snaps, method)
    if budget > len(pool):
        raise _err(method, f"budget {budget} > {len(pool)} available train snapshots (heldout == false with a "
                           f"valid teacher answer; {counts['n_train']} train, {counts['n_invalid_teacher']} "
                           "with an invalid teacher answer); lower selection.budget")
    scores, info = method_scores(method, pool, seed, predictor_path, oof_path, predictor_scores)
    order = np.lexsort((_tiebreak(pool, seed), -scores))  # last key first: score desc, then hash
    chosen = [pool[i] for i in order[:budget]]
    assert not any(s["heldout"] for s in chosen)
    picked = [{"rank": r + 1, "snapshot_id": s["snapshot_id"], "score": float(scores[i]),
               "U": s.get("U"), "ELP_net": s.get("ELP_net"), DECISION_ELP: s.get(DECISION_ELP),
               "quadrant": s.get("quadrant")}
              for r, (i, s) in enumerate(zip(order[:budget], chosen))]
    desc = {}
    for key in (DECISION_ELP, "ELP_net", "U", "L_local"):
        vals = [s[key] for s in chosen if isinstance(s.get(key), (int, float))]
        desc[f"mean_{key}"] = float(np.mean(vals)) if vals else None
    quads: dict[str, int] = {}
    for s in chosen:
        quads[str(s.get("quadrant"))] = quads.get(str(s.get("quadrant")), 0) + 1
    desc["quadrant_counts"] = dict(sorted(quads.items()))
    for key in (DECISION_ELP, "ELP_net"):
        pool_elp = [s[key] for s in pool if isinstance(s.get(key), (int, float))]
        desc[f"pool_mean_{key}"] = float(np.mean(pool_elp)) if pool_elp else None
    return {
        "method": method, "method_used": method, "budget": int(budget), "seed": int(seed), **counts,
        "scores": info, "pool_sha256": stable_hash([s["snapshot_id"] for s in pool]),
        "snapshot_ids": [p["snapshot_id"] for p in picked], "picked": picked,
        "picked_summary": desc,
        "note": "picked_summary uses the true labels for description only; only 'oracle' picks with them",
    }


def pick_for_seed(method: str, snaps: list[dict], budget: int, master_seed: int, train_seed: int | None = None,
                  *args, **kwargs) -> dict:
    """pick() with the method's draw seed (draw_seed); a per-seed method's record names
    its training seed, and check_picks refuses it for any other seed."""
    rec = pick(method, snaps, budget, draw_seed(method, master_seed, train_seed), *args, **kwargs)
    if method in PER_SEED_METHODS:
        rec.update(train_seed=int(train_seed), draw="derive_seed(master seed, method, training seed)")
    return rec


def check_picks(picks: dict, snaps: list[dict], method: str, source: str = "picks.json",
                train_seed: int | None = None) -> list[dict]:
    """The picked snapshot records, after checking the picks are this method's, exist, and
    are all training snapshots (never held out)."""
    used = picks.get("method_used")
    if picks.get("method") != method or used != method:
        raise _err(method, f"{source} is for method {picks.get('method')!r} (used {used!r}), not '{method}'")
    if train_seed is not None and method in PER_SEED_METHODS and picks.get("train_seed") != train_seed:
        raise _err(method, f"{source} was drawn for training seed {picks.get('train_seed')!r}, not {train_seed} "
                           "(this method is redrawn per training seed)")
    by_id = {s["snapshot_id"]: s for s in snaps}
    ids = picks.get("snapshot_ids") or []
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise _err(method, f"{source}: {len(missing)} picked snapshot(s) not in the labeled snapshots "
                           f"(first: {missing[0]}); the picks are stale")
    held = [i for i in ids if by_id[i].get("heldout") is not False]
    if held:
        raise _err(method, f"{source}: {len(held)} picked snapshot(s) are held out (first: {held[0]}); "
                           "held-out snapshots never enter training")
    if len(ids) != picks.get("budget"):
        raise _err(method, f"{source}: {len(ids)} snapshot ids but budget {picks.get('budget')}")
    return [by_id[i] for i in ids]

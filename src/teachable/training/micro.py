"""Phase 1B: micro-training. For each snapshot of a quadrant-stratified panel, a fresh
zero-effect LoRA adapter takes `n_steps` optimizer steps on ONE route-matched example
(format = the snapshot's route_net); success from the snapshot is measured before and
after with the same sampled rollouts (same sample seeds); utility = after - before.
Then the correlation of ELP_net (the in-context gain) with that utility.

One model load for the whole panel: the adapter is re-initialised in place between
snapshots (A re-drawn from a per-snapshot seed, B = 0), and the optimizer is new."""

from __future__ import annotations

import logging
import time
from typing import Callable

import numpy as np
import torch
from scipy import stats as sstats

from ..io import derive_seed
from ..labeling.quadrants import QUADRANTS
from ..phase0 import decode_state
from ..policy import Policy, softmax
from ..prompts import build_prompt
from ..rollout import EpisodeSpec, run_episodes
from ..stats import bootstrap_ci, bootstrap_samples
from .formats import example_for, teacher_valid
from .lora import attach_lora, encode, reset_lora, sft_step, trainable_parameters
from .runs import hash_rank, train_pool

_log = logging.getLogger(__name__)  # progress lines (timestamps/levels from teachable.logs)


def select_panel(snaps: list[dict], n_per_quadrant: int, seed: int) -> tuple[list[dict], dict]:
    """Up to n snapshots per quadrant from the train split (valid teacher answers only),
    ranked by a stable hash of (seed, id): raising n keeps the earlier choices."""
    pool = train_pool(snaps)
    usable = [s for s in pool if teacher_valid(s)]
    panel, info = [], {"n_train": len(pool), "n_skipped_invalid_teacher": len(pool) - len(usable),
                       "available": {}, "chosen": {}}
    for q in QUADRANTS:
        cands = [s for s in usable if s.get("quadrant") == q]
        pick = hash_rank(cands, lambda s: s["snapshot_id"], f"phase1b{seed}")[:n_per_quadrant]
        info["available"][q] = len(cands)
        info["chosen"][q] = len(pick)
        panel.extend(pick)
    return panel, info


def validation_specs(snap: dict, n: int, horizon: int, seed: int) -> list[EpisodeSpec]:
    """n sampled rollouts from the snapshot; the sample seeds depend only on (seed,
    snapshot id, j), so before and after use the very same seeds."""
    state = decode_state(snap["state"])
    sid = snap["snapshot_id"]
    return [EpisodeSpec(f"{sid}|{j}", state=state, history=list(snap["history"]), max_steps=horizon,
                        sample_seed=derive_seed(seed, "phase1b_validation", f"{sid}|{j}")) for j in range(n)]


def success_by_snapshot(results) -> dict[str, list[bool]]:
    out: dict[str, list[bool]] = {}
    for r in results:
        out.setdefault(r.episode_id.rsplit("|", 1)[0], []).append(bool(r.success))
    return out


def target_prob(policy: Policy, snap: dict, action: str, history_len: int) -> float:
    """pi(action | s) under the base prompt (no patch): did training move the policy?"""
    hist = list(snap["history"])[-history_len:] if history_len else []
    lp = policy.score([build_prompt(snap["mission"], snap["obs_text"], hist)], [list(snap["valid_actions"])])[0]
    return float(softmax(lp)[snap["valid_actions"].index(action)])


class MicroTrainer:
    """A model with one LoRA adapter that is reset to a fresh zero-effect state per item."""

    def __init__(self, model, tok, lora_cfg: dict, seed: int, batch_size: int = 256):
        self.tok = tok
        self.model = attach_lora(model, lora_cfg, seed)
        self.device = next(self.model.parameters()).device
        self.policy = Policy(self.model, tok, batch_size)

    def reset(self, seed: int) -> None:
        reset_lora(self.model, seed)
        self.model.eval()

    def train(self, example, n_steps: int, lr: float, max_grad_norm: float | None = 1.0) -> list[float]:
        data = encode(self.tok, [example])
        opt = torch.optim.AdamW(trainable_parameters(self.model), lr=lr, weight_decay=0.0)
        losses = [sft_step(self.model, opt, data, self.tok.pad_token_id, self.device, max_grad_norm)
                  for _ in range(n_steps)]
        self.model.eval()
        return losses


def micro_train_panel(trainer: MicroTrainer, make_env: Callable, panel: list[dict], p1b: dict, seed: int,
                      horizon: int, temperature: float, history_len: int, log: Callable = _log.info) -> list[dict]:
    """Before/after success of every panel snapshot (see module doc). p1b keys: n_steps,
    lr, n_validation_rollouts (and max_grad_norm, optional)."""
    n = int(p1b["n_validation_rollouts"])
    trainer.reset(derive_seed(seed, "phase1b_lora", "before"))  # any fresh adapter: zero effect
    t0 = time.perf_counter()
    specs = [sp for s in panel for sp in validation_specs(s, n, horizon, seed)]
    before = success_by_snapshot(run_episodes(trainer.policy, make_env, specs, temperature, history_len))
    pi_before = {s["snapshot_id"]: target_prob(trainer.policy, s, s["teacher"]["suggested_action"], history_len)
                 for s in panel}
    log(f"before: {len(specs)} rollouts in {time.perf_counter() - t0:.1f}s")
    out = []
    for i, s in enumerate(panel):
        sid = s["snapshot_id"]
        t1 = time.perf_counter()
        trainer.reset(derive_seed(seed, "phase1b_lora", sid))
        ex = example_for(s, "route", history_len)
        losses = trainer.train(ex, int(p1b["n_steps"]), float(p1b["lr"]), p1b.get("max_grad_norm", 1.0))
        after = success_by_snapshot(run_episodes(trainer.policy, make_env, validation_specs(s, n, horizon, seed),
                                                 temperature, history_len))[sid]
        pb, pa = float(np.mean(before[sid])), float(np.mean(after))
        rec = {
            "snapshot_id": sid, "quadrant": s["quadrant"], "route": ex.fmt, "ELP_net": s["ELP_net"],
            "ELP_raw": s.get("ELP_raw"), "U": s["U"], "L_local": s["L_local"],
            "target_action": ex.action, "student_greedy_action": s.get("student_greedy_action"),
            "success_before": pb, "success_after": pa, "utility": pa - pb,
            "successes_before": before[sid], "successes_after": after, "n_validation_rollouts": n,
            "losses": losses, "loss_first": losses[0] if losses else None, "loss_last": losses[-1] if losses else None,
            "pi_target_before": pi_before[sid],
            "pi_target_after": target_prob(trainer.policy, s, ex.action, history_len),
            "wall_time_s": round(time.perf_counter() - t1, 3),
        }
        out.append(rec)
        log(f"[{i + 1}/{len(panel)}] {sid} {s['quadrant']} route {ex.fmt}: success {pb:.2f} -> {pa:.2f} "
            f"loss {rec['loss_first']:.3f} -> {rec['loss_last']:.3f} pi(target) {rec['pi_target_before']:.2f} -> "
            f"{rec['pi_target_after']:.2f}")
    return out


# ---------------------------------------------------------------- correlation and gate

def _pearson(x, y, axis=-1):
    x = x - x.mean(axis=axis, keepdims=True)
    y = y - y.mean(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (x * y).sum(axis=axis) / np.sqrt((x * x).sum(axis=axis) * (y * y).sum(axis=axis))
    return r


def _spearman(x, y, axis=-1):
    return _pearson(sstats.rankdata(x, axis=axis), sstats.rankdata(y, axis=axis), axis=axis)


def _defined(fn):
    """Resamples where a variable is constant have no correlation; they count as 0 (no
    detectable association). Their share is reported next to the CI."""
    def stat(x, y, axis=-1):
        return np.nan_to_num(fn(x, y, axis=axis), nan=0.0)
    return stat


def _undefined_share(x, y, n_resamples: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_resamples, len(x)))
    xs, ys = x[idx], y[idx]
    return float(np.mean((np.ptp(xs, axis=1) == 0) | (np.ptp(ys, axis=1) == 0)))


def correlation(x, y, seed: int = 0, n_resamples: int = 9999, confidence: float = 0.95) -> dict:
    """Pearson and Spearman of (x, y) with paired bootstrap CIs (teachable.stats) and
    scipy's p-values. A correlation that is undefined on the data (n < 3 or a constant
    variable) is null."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    out = {"n": int(len(x))}
    defined = len(x) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0
    if not defined:
        why = "fewer than 3 pairs" if len(x) < 3 else "a variable is constant"
        for name in ("pearson", "spearman"):
            out[name] = {"r": None, "p_value": None, "ci": None, "note": f"undefined: {why}"}
        return out
    share = _undefined_share(x, y, min(n_resamples, 4000), seed)
    for name, fn, test in (("pearson", _pearson, sstats.pearsonr), ("spearman", _spearman, sstats.spearmanr)):
        ci = bootstrap_samples((x, y), _defined(fn), paired=True, n_resamples=n_resamples, seed=seed,
                               confidence=confidence)
        res = test(x, y)
        out[name] = {"r": float(fn(x, y)), "p_value": float(res.pvalue), "ci": ci.to_dict(),
                     "undefined_resample_share": share}
    return out


def correlation_report(records: list[dict], seed: int, threshold: float, n_resamples: int = 9999,
                       confidence: float = 0.95) -> dict:
    """ELP_net vs utility overall and per quadrant, mean utility per quadrant (bootstrap
    CI), and the cpt_spearman gate {name, value, ci, threshold, passed}."""
    def xy(rs):
        return [r["ELP_net"] for r in rs], [r["utility"] for r in rs]

    overall = correlation(*xy(records), seed=seed, n_resamples=n_resamples, confidence=confidence)
    per_q, mean_u = {}, {}
    for q in QUADRANTS:
        rs = [r for r in records if r["quadrant"] == q]
        per_q[q] = correlation(*xy(rs), seed=seed, n_resamples=n_resamples, confidence=confidence)
        u = [r["utility"] for r in rs]
        mean_u[q] = {"n": len(u), "mean": float(np.mean(u)) if u else None,
                     "ci": bootstrap_ci(u, "mean", seed=seed, n_resamples=n_resamples,
                                        confidence=confidence).to_dict() if u else None}
    sp = overall["spearman"]
    value = sp["r"]
    ci = [sp["ci"]["low"], sp["ci"]["high"]] if sp.get("ci") else None
    gate = {"name": "cpt_spearman", "value": value, "ci": ci, "threshold": threshold,
            "passed": bool(value is not None and value >= threshold), "n": overall["n"],
            "rule": "Spearman(ELP_net, micro-training utility) >= threshold (point estimate)"}
    if value is None:
        gate["note"] = sp["note"]
    u_all = [r["utility"] for r in records]
    return {
        "x": "ELP_net", "y": "utility (success after - before)", "overall": overall, "per_quadrant": per_q,
        "mean_utility_per_quadrant": mean_u,
        "utility_distribution": {
            "n": len(u_all), "mean": float(np.mean(u_all)) if u_all else None,
            "share_positive": float(np.mean([u > 0 for u in u_all])) if u_all else None,
            "share_zero": float(np.mean([u == 0 for u in u_all])) if u_all else None,
            "share_negative": float(np.mean([u < 0 for u in u_all])) if u_all else None,
            "quantiles": {str(q): float(np.quantile(u_all, q)) for q in (0, 0.25, 0.5, 0.75, 1)} if u_all else None,
        },
        "gate": gate, "bootstrap": {"n_resamples": n_resamples, "confidence": confidence, "seed": seed,
                                    "paired": True, "method": "BCa (percentile when BCa is undefined)"},
    }

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
from dataclasses import replace
from typing import Callable

import numpy as np
import torch

from ..io import InputError, derive_seed
from ..vocab import QUADRANTS
from ..labeling.branches import patches_for, rollout_progress
from ..snapshot import decode_state
from ..policy import Policy, softmax
from ..prompts import DEFAULT_LAYOUT, build_prompt
from ..engine import EpisodeSpec, run_episodes
from .formats import example_for, teacher_valid
from .lora import attach_lora, encode, reset_lora, sft_step, trainable_parameters
from .runs import hash_rank, train_pool

_log = logging.getLogger(__name__)  # progress lines (timestamps/levels from teachable.workflow.logs)


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
                        sample_seed=derive_seed(seed, "phase1b_validation", f"{sid}|{j}"), track_to_go=True)
            for j in range(n)]


def first_step_cpt_specs(snap: dict, n: int, horizon: int, seed: int) -> list[EpisodeSpec]:
    """The matched CPT of a panel snapshot (phase1b.matched_cpt): n rollouts with its route's
    patch in the prompt at the snapshot's own state only (patch_steps = 1), and n with the
    placebo patch there, then no patch, over the same horizon and with the same sample seeds
    as validation_specs (common random numbers with before and after). Micro-training, too,
    intervenes at that one state and is measured on unpatched rollouts from it."""
    patches = patches_for(snap)
    route = example_for(snap, "route").fmt  # the format micro-training trains in
    out = []
    for cond, patch in (("first_route", patches[route]), ("first_placebo", patches["placebo"])):
        for sp in validation_specs(snap, n, horizon, seed):
            sid, j = sp.episode_id.rsplit("|", 1)
            out.append(replace(sp, episode_id=f"{sid}#{cond}|{j}", patch=patch, patch_steps=1))
    return out


def first_step_labels(snap: dict, results: dict[str, dict], label_outcome: str) -> dict:
    """ELP_first (route patch at the first step minus placebo there) by outcome, from
    success_by_snapshot / progress_by_snapshot of the first_step_cpt_specs rollouts
    (keys '<sid>#first_route', '<sid>#first_placebo'); the headline is `label_outcome`."""
    sid = snap["snapshot_id"]
    out = {}
    for o, by in (("success", results["success"]), ("progress", results["progress"])):
        r, p = by.get(f"{sid}#first_route"), by.get(f"{sid}#first_placebo")
        ok = r is not None and p is not None
        out[f"p_first_route_{o}"] = float(np.mean(r)) if ok else None
        out[f"p_first_placebo_{o}"] = float(np.mean(p)) if ok else None
        out[f"ELP_first_{o}"] = float(np.mean(r) - np.mean(p)) if ok else None
    out["ELP_first"] = out[f"ELP_first_{label_outcome}"]
    return out


def labels_by_outcome(snap: dict, key: str) -> dict:
    """{key}_success and {key}_progress of a labeled snapshot: the headline key is its
    label_outcome's, the other outcome's carries the suffix (labeling.branches.apply_rates)."""
    head = snap.get("label_outcome", "success")
    out = {}
    for o in ("success", "progress"):
        out[f"{key}_{o}"] = snap.get(key) if o == head else snap.get(f"{key}_{o}")
    return out


def success_by_snapshot(results) -> dict[str, list[bool]]:
    out: dict[str, list[bool]] = {}
    for r in results:
        out.setdefault(r.episode_id.rsplit("|", 1)[0], []).append(bool(r.success))
    return out


def progress_by_snapshot(results) -> dict[str, list[float] | None]:
    """Per snapshot, rollout_progress of each rollout (the labels' progress outcome); None
    where the env cannot tell."""
    out: dict[str, list] = {}
    for r in results:
        out.setdefault(r.episode_id.rsplit("|", 1)[0], []).append(rollout_progress(r))
    return {k: None if any(x is None for x in v) else v for k, v in out.items()}


def target_prob(policy: Policy, snap: dict, action: str, history_len: int, layout: str = DEFAULT_LAYOUT) -> float:
    """pi(action | s) under the base prompt (no patch, in `layout`): did training move the policy?"""
    hist = list(snap["history"])[-history_len:] if history_len else []
    lp = policy.score([build_prompt(snap["mission"], snap["obs_text"], hist, "", layout)],
                      [list(snap["valid_actions"])])[0]
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
                      horizon: int, temperature: float, history_len: int, log: Callable = _log.info,
                      outcome: str = "success", layout: str = DEFAULT_LAYOUT) -> list[dict]:
    """Before/after success (and progress) of every panel snapshot (see module doc). p1b
    keys: n_steps, lr, n_validation_rollouts (and max_grad_norm, optional). `utility` is
    the change in the labels' outcome (labeling.outcome), so that ELP_net and the utility
    it should predict measure the same thing; both changes are stored. With
    p1b['matched_cpt'] (default true) the untrained policy also runs first_step_cpt_specs:
    ELP_first, the CPT of the same one-state intervention. Every prompt (rollouts,
    the training example, pi(target)) is in `layout` (student.prompt_layout)."""
    n = int(p1b["n_validation_rollouts"])
    matched = bool(p1b.get("matched_cpt", True))
    trainer.reset(derive_seed(seed, "phase1b_lora", "before"))  # any fresh adapter: zero effect
    t0 = time.perf_counter()
    specs = [sp for s in panel for sp in validation_specs(s, n, horizon, seed)]
    if matched:  # the matched CPT runs in the same batch as "before" (the same BASE policy)
        specs += [sp for s in panel for sp in first_step_cpt_specs(s, n, horizon, seed)]
    res = run_episodes(trainer.policy, make_env, specs, temperature, history_len, layout=layout)
    before, prog_before = success_by_snapshot(res), progress_by_snapshot(res)
    first = {"success": before, "progress": prog_before}
    pi_before = {s["snapshot_id"]: target_prob(trainer.policy, s, s["teacher"]["suggested_action"], history_len,
                                               layout)
                 for s in panel}
    log(f"before: {len(specs)} rollouts in {time.perf_counter() - t0:.1f}s")
    out = []
    for i, s in enumerate(panel):
        sid = s["snapshot_id"]
        t1 = time.perf_counter()
        trainer.reset(derive_seed(seed, "phase1b_lora", sid))
        ex = example_for(s, "route", history_len, layout)
        losses = trainer.train(ex, int(p1b["n_steps"]), float(p1b["lr"]), p1b.get("max_grad_norm", 1.0))
        res = run_episodes(trainer.policy, make_env, validation_specs(s, n, horizon, seed), temperature, history_len,
                           layout=layout)
        after, prog_after = success_by_snapshot(res)[sid], progress_by_snapshot(res)[sid]
        pb, pa = float(np.mean(before[sid])), float(np.mean(after))
        gb = None if prog_before[sid] is None else float(np.mean(prog_before[sid]))
        ga = None if prog_after is None else float(np.mean(prog_after))
        if outcome == "progress" and (gb is None or ga is None):
            raise InputError(f"labeling.outcome: progress needs the env's steps_to_go (snapshot '{sid}')")
        rec = {
            "snapshot_id": sid, "quadrant": s["quadrant"], "route": ex.fmt, "ELP_net": s["ELP_net"],
            "ELP_raw": s.get("ELP_raw"), "U": s["U"], "L_local": s["L_local"],
            "target_action": ex.action, "student_greedy_action": s.get("student_greedy_action"),
            "success_before": pb, "success_after": pa,
            "utility": (ga - gb) if outcome == "progress" else pa - pb, "utility_outcome": outcome,
            "utility_success": pa - pb, "progress_before": gb, "progress_after": ga,
            "utility_progress": None if gb is None or ga is None else ga - gb,
            "successes_before": before[sid], "successes_after": after, "n_validation_rollouts": n,
            "losses": losses, "loss_first": losses[0] if losses else None, "loss_last": losses[-1] if losses else None,
            "pi_target_before": pi_before[sid],
            "pi_target_after": target_prob(trainer.policy, s, ex.action, history_len, layout),
            "wall_time_s": round(time.perf_counter() - t1, 3),
            # the labels by outcome, side by side (stats.estimands): the phase-1 CPT (patch
            # at every step), its cross-fitted estimate, and the matched first-step CPT
            "label_outcome": s.get("label_outcome", "success"),
            **labels_by_outcome(s, "ELP_net"), **labels_by_outcome(s, "ELP_net_xfit"),
            "ELP_net_xfit": s.get("ELP_net_xfit"), "base_greedy_is_teacher": s.get("base_greedy_is_teacher"),
        }
        if matched:
            rec.update(first_step_labels(s, first, rec["label_outcome"]))
        out.append(rec)
        log(f"[{i + 1}/{len(panel)}] {sid} {s['quadrant']} route {ex.fmt}: success {pb:.2f} -> {pa:.2f} "
            f"loss {rec['loss_first']:.3f} -> {rec['loss_last']:.3f} pi(target) {rec['pi_target_before']:.2f} -> "
            f"{rec['pi_target_after']:.2f}")
    return out


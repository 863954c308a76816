"""Phase 5 training of one arm (method x seed): the shared SFT recipe (`training`
section: LoRA, optimiser, epochs - the same as phase 2) in the shared format
(`selection.format`) on the method's picks -> adapter/, run.json (stage "selection"),
metrics.jsonl. Uses `teachable.training` (train_adapter, examples_for, env_probe)."""

from __future__ import annotations

import logging
from pathlib import Path

from ..io import InputError
from ..workflow.provenance import record_run
from .pick import SelectionError, check_picks
from .summary import run_id_of

_log = logging.getLogger(__name__)  # progress lines (timestamps/levels from teachable.workflow.logs)


def train_arm(cfg: dict, scfg: dict, student_path: str, snaps: list[dict], picks: dict, method: str, seed: int,
              out_dir: str | Path, device: str, picks_path: str = "picks.json", log=_log.info,
              replay_path: str | None = None, base_probe: float | None = None) -> dict:
    from ..prompts import layout_of
    from ..training import env_probe, examples_for, train_adapter
    from ..training.replay import replay_for_run
    from ..training.sft import check_train_cfg

    tr = cfg["training"]
    check_train_cfg(tr)
    chosen = check_picks(picks, snaps, method, picks_path, train_seed=seed)
    examples, skipped = examples_for(chosen, scfg["format"], cfg["student"]["history"],
                                     layout=layout_of(cfg["student"]))
    if skipped:  # the pool only holds valid teacher answers, so this means stale picks
        raise SelectionError(f"selection method '{method}': {len(skipped)} picked snapshot(s) have an invalid "
                             f"teacher answer (first: {skipped[0]}); {picks_path} is stale")
    if len(examples) != picks["budget"]:
        raise InputError(f"selection method '{method}': {len(examples)} examples for budget {picks['budget']}")
    replay = replay_for_run(tr, replay_path)
    out = Path(out_dir)
    run_id = run_id_of(method)
    run_cfg = {**cfg, "run": {"run_id": run_id, "seed": seed, "method": method, "method_used": picks["method_used"],
                              "format": scfg["format"], "budget": picks["budget"], "picks": picks_path,
                              "scores": picks.get("scores")}}
    log(f"selection {method} seed {seed}: {len(examples)} examples ({scfg['format']})")
    with record_run(out / "run.json", run_id=run_id, seed=seed, stage="selection", config=run_cfg, device=device,
                    train_snapshot_ids=[e.snapshot_id for e in examples], method=method,
                    method_used=picks["method_used"]) as run:
        res = train_adapter(student_path, examples, tr, seed, out / "adapter", device,
                            probe=env_probe(cfg, examples, base_probe), metrics_path=out / "metrics.jsonl", log=log,
                            replay=replay)
        run.update(n_examples=res["n_examples"], n_tokens=res["n_tokens"], adapter_path=res["adapter_path"])
        run["metrics"] = {
            "first_loss": res["first_loss"], "final_loss": res["final_loss"], "mean_loss_last_epoch": res["mean_loss_last_epoch"],
            **{f"{k}_first": v for k, v in res["probe_first"].items()},
            **{f"{k}_final": v for k, v in res["probe_final"].items()},
        }
        run["training"] = {k: res.get(k) for k in ("steps", "epochs", "n_target_tokens", "n_tokens_processed",
                                                   "n_trainable_params", "device", "dtype", "wall_time_s",
                                               "n_replay", "budget", "checkpoint")}
    return res

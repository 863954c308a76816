"""The replay set (docs/training.md): the student's own solved behaviour, mixed into every
training batch (`training.replay_share`) so that fine-tuning does not forget what BASE
already does. One set per config, the same for every run and seed (rule `replay_set`).

Sources (`training.replay_source`):

- `base_greedy`: BASE's greedy episodes on `training.replay_tasks` tasks of their own
  (seeds from (seed, 'replay_tasks', i): not phase 0's, the probe's or evaluation's);
  every step of each solved episode, with BASE's own action as the target and the
  engine's own prompt. The targets are BASE's argmax, so replay teaches nothing new: it
  holds in place the greedy decisions that retention (phase 3) measures.
- `snapshots`: train-split snapshots from which BASE succeeds with probability
  >= `replay_min_p` (phase-1 p_policy), with its greedy action at labeling time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from ..io import InputError, derive_seed, read_records
from ..prompts import DEFAULT_LAYOUT, layout_of
from .formats import SFTExample

if TYPE_CHECKING:
    from ..policy import Policy

SOURCES = ("base_greedy", "snapshots")
RECORD_KEYS = ("example_id", "source", "prompt", "action", "valid_actions")


def base_greedy_records(policy: Policy, make_env: Callable, n_tasks: int, seed: int, max_steps: int,
                        history_len: int, layout: str = DEFAULT_LAYOUT) -> tuple[list[dict], dict]:
    """Every step of BASE's solved greedy episodes on the replay tasks, and a summary (the
    engine's prompts, in `layout`: student.prompt_layout)."""
    from ..engine import EpisodeSpec, run_episodes

    specs = [EpisodeSpec(f"replay{i:05d}", seed=derive_seed(seed, "replay_tasks", i), max_steps=max_steps)
             for i in range(n_tasks)]
    res = run_episodes(policy, make_env, specs, temperature=0.0, history_len=history_len, record_steps=True,
                       layout=layout)
    rows = [{"example_id": f"{r.episode_id}_t{rec.t:03d}", "source": "base_greedy", "task_seed": spec.seed,
             "family": r.family, "prompt": rec.prompt, "action": rec.action, "valid_actions": rec.valid_actions}
            for spec, r in zip(specs, res) if r.success for rec in r.records]
    solved = sum(r.success for r in res)
    return rows, {"source": "base_greedy", "n_tasks": n_tasks, "n_solved": solved,
                  "success_rate": solved / max(1, n_tasks), "n_examples": len(rows)}


def snapshot_records(snaps: list[dict], history_len: int | None, min_p: float,
                     layout: str = DEFAULT_LAYOUT) -> tuple[list[dict], dict]:
    """Train-split snapshots BASE solves from (p_policy >= min_p), greedy action as target
    (prompts in `layout`)."""
    from ..prompts import build_prompt

    rows = []
    for s in sorted(snaps, key=lambda s: s["snapshot_id"]):
        p, act = s.get("p_policy"), s.get("student_greedy_action")
        if s.get("heldout") or not isinstance(p, (int, float)) or p < min_p or act not in s["valid_actions"]:
            continue
        hist = list(s.get("history") or [])
        if history_len is not None:
            hist = hist[-history_len:] if history_len else []
        rows.append({"example_id": s["snapshot_id"], "source": "snapshots", "family": s.get("family"),
                     "prompt": build_prompt(s["mission"], s["obs_text"], hist, "", layout), "action": act,
                     "valid_actions": list(s["valid_actions"])})
    return rows, {"source": "snapshots", "min_p": min_p, "n_train_snapshots": sum(not s.get("heldout") for s in snaps),
                  "n_examples": len(rows)}


def build_replay(cfg: dict, student_path: str, snaps: Callable[[], list[dict]],
                 even_if_off: bool = False) -> tuple[list[dict], dict]:
    """The replay set of a config (training.replay_*): what rule replay_set writes and
    scripts/recipe_sweep.py trains with. `snaps` loads the labeled snapshots (only the
    snapshots source reads them). `even_if_off`: build it at replay_share 0 too (the
    null control's data, teachable.training.controls)."""
    tr, st = cfg["training"], cfg["student"]
    source = tr["replay_source"]
    if float(tr["replay_share"]) <= 0 and not even_if_off:
        return [], {"source": source, "n_examples": 0, "note": "training.replay_share is 0: replay off"}
    if source == "base_greedy":
        from functools import partial

        from ..envs import env_from_config
        from ..policy import Policy

        policy = Policy.load(student_path, st.get("adapter"), st.get("device", "cpu"), st["batch_size"],
                             st.get("prompt_format", "auto"), st.get("dtype", "auto"))
        return base_greedy_records(policy, partial(env_from_config, cfg["env"], expert=False),
                                   int(tr["replay_tasks"]), cfg["seed"], cfg["env"]["max_steps"], st["history"],
                                   layout_of(st))
    if source == "snapshots":
        return snapshot_records(snaps(), st["history"], float(tr["replay_min_p"]), layout_of(st))
    raise InputError(f"training.replay_source: '{source}' is not one of {', '.join(SOURCES)}")


def as_examples(rows: list[dict], where: str = "replay set") -> list[SFTExample]:
    out = []
    for i, r in enumerate(rows, 1):
        if r["action"] not in r["valid_actions"]:
            raise InputError(f"{where}: record {i} ({r['example_id']}): action '{r['action']}' is not a valid action")
        out.append(SFTExample(r["example_id"], "replay", r["prompt"], r["action"], tuple(r["valid_actions"])))
    return out


def read_replay(path) -> list[SFTExample]:
    """The replay set written by the replay_set rule, every line checked ('file:line')."""
    return as_examples(read_records(path, RECORD_KEYS), str(path))


def replay_for_run(train_cfg: dict, path) -> list[SFTExample]:
    """What a training run mixes in: the replay set at `path`, or nothing when
    replay_share is 0 (then no path is needed)."""
    if float(train_cfg.get("replay_share", 0.0)) <= 0:
        return []
    if path is None:
        raise InputError("training.replay_share > 0 needs the replay set (--replay results/phase2/replay_set.jsonl)")
    return read_replay(path)

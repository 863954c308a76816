"""The phase-2 training matrix: run ids and the snapshots each run trains on.

- `{quadrant}_{fmt}` (12 runs): every usable train snapshot of the quadrant, in format fmt.
- `B1_uniform`: a uniform random sample of usable train snapshots, of the size of a
  typical quadrant (the median of the four quadrants' usable train counts, rounded half
  up), demo format. The sample is redrawn for every training seed, from
  derive_seed(master seed, 'B1', training seed), so the spread over seeds includes the
  luck of the draw (docs/design.md §7), not only initialisation, order and dropout.
- `B2_all`: every usable train snapshot, demo format.

"Usable" = train split (not held out) and a valid teacher answer. An empty training set
stops the run with an error naming it (no silent substitute). `training.max_samples` caps a
run's data set with a seed-independent, hash-ranked subsample (so every seed of a run sees
the same examples, and raising the cap keeps the earlier ones)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..io import InputError, derive_seed, hash_fraction
from ..prompts import DEFAULT_LAYOUT
from ..vocab import BASELINES, FORMATS, QUADRANTS, RUN_IDS
from .formats import SFTExample, examples_for, teacher_valid


@dataclass
class RunData:
    run_id: str
    fmt: str
    quadrant: str | None
    examples: list[SFTExample]
    skipped_invalid: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)

    @property
    def snapshot_ids(self) -> list[str]:
        return [e.snapshot_id for e in self.examples]


def check_no_heldout(train_ids: list[str], snaps: list[dict], run_id: str) -> None:
    """Stop (whatever the optimisation flags) if a held-out snapshot id is in a training set."""
    heldout = {s["snapshot_id"] for s in snaps if s.get("heldout")}
    leaked = sorted(heldout.intersection(train_ids))
    if leaked:
        raise RuntimeError(f"run {run_id}: {len(leaked)} held-out snapshot(s) in the training set "
                           f"(first: {leaked[0]}); held-out snapshots never enter training")


def parse_run_id(run_id: str) -> tuple[str | None, str]:
    """(quadrant or None, format) of a run id."""
    if run_id in BASELINES:
        return None, "demo"
    for q in QUADRANTS:
        for f in FORMATS:
            if run_id == f"{q}_{f}":
                return q, f
    raise InputError(f"unknown run id '{run_id}' (known: {', '.join(RUN_IDS)})")


def train_pool(snaps: list[dict]) -> list[dict]:
    """Train-split snapshots (held-out ones removed), sorted by id."""
    return sorted((s for s in snaps if not s.get("heldout")), key=lambda s: s["snapshot_id"])


def hash_rank(items: list, key, salt: str) -> list:
    """Items ordered by a stable hash of (salt, key): a deterministic shuffle where taking
    the first n keeps the same items when n grows."""
    return sorted(items, key=lambda x: (hash_fraction(key(x), salt=salt), key(x)))


def typical_quadrant_size(pool: list[dict]) -> int:
    counts = [sum(1 for s in pool if s.get("quadrant") == q and teacher_valid(s)) for q in QUADRANTS]
    return int(math.floor(float(np.median(counts)) + 0.5))


def b1_draw_seed(seed: int, train_seed: int) -> int:
    """Seed of B1_uniform's subset for one training seed (fresh draw per seed)."""
    return derive_seed(seed, "B1", int(train_seed))


def run_data(run_id: str, snaps: list[dict], seed: int, max_samples: int | None = None,
             history_len: int | None = None, train_seed: int | None = None,
             layout: str = DEFAULT_LAYOUT) -> RunData:
    """Examples of one phase-2 run (train snapshots only; raises on an empty set).
    `train_seed` is required for B1_uniform (its subset is redrawn per training seed);
    `layout`: the student's prompt layout (student.prompt_layout)."""
    quadrant, fmt = parse_run_id(run_id)
    pool = train_pool(snaps)
    info: dict = {"n_train_pool": len(pool), "n_heldout_excluded": len(snaps) - len(pool)}
    if quadrant is not None:
        chosen = [s for s in pool if s.get("quadrant") == quadrant]
        info["n_in_quadrant"] = len(chosen)
    elif run_id == "B1_uniform":
        size = typical_quadrant_size(pool)
        usable = [s for s in pool if teacher_valid(s)]
        if train_seed is None:
            raise InputError("run B1_uniform: a training seed is needed (its subset is redrawn per seed)")
        draw = b1_draw_seed(seed, train_seed)
        chosen = hash_rank(usable, lambda s: s["snapshot_id"], f"B1_uniform{draw}")[:size]
        info.update(typical_quadrant_size=size, draw_seed=draw, draw="derive_seed(seed, 'B1', training seed)")
    else:
        chosen = pool
    examples, skipped = examples_for(chosen, fmt, history_len, layout=layout)
    if max_samples is not None and len(examples) > max_samples:
        info["n_before_cap"] = len(examples)
        keep = {e.snapshot_id for e in hash_rank(examples, lambda e: e.snapshot_id, f"max_samples{seed}")[:max_samples]}
        examples = [e for e in examples if e.snapshot_id in keep]
    if not examples:
        where = f"quadrant {quadrant}" if quadrant else "the train split"
        raise InputError(
            f"run {run_id}: empty training set ({len(chosen)} train snapshot(s) in {where}, "
            f"{len(skipped)} skipped for an invalid teacher answer, {info['n_heldout_excluded']} held out). "
            "Label more snapshots (phase0.n_tasks, labeling.max_snapshots) or lower labeling.holdout_frac.")
    check_no_heldout([e.snapshot_id for e in examples], snaps, run_id)
    info.update(n_examples=len(examples), n_skipped_invalid=len(skipped))
    return RunData(run_id, fmt, quadrant, examples, skipped, info)

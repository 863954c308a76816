"""Supervision formats: SFT examples built from labeled snapshots.

Every example is (prompt, target action) and the loss falls on the action tokens only
(prompt tokens are masked). The target is always the teacher's action
(`snap["teacher"]["suggested_action"]`); the formats differ only in the prompt:

- `demo`:     the student's base prompt (no patch) -> action. The demonstration *is* the
              example; putting the CPT demo patch ("the expert chose X") in the prompt
              would make the target a copy of the context.
- `hint`:     the base prompt with the CPT hint patch (the teacher's one `diagnosis`
              field) -> action.
- `contrast`: the base prompt with the CPT contrast patch ("X is right here, Y is wrong",
              Y = the student's greedy action at labeling time) -> action.
- `route`:    per snapshot, the format named by its `route_net` (phase-1B micro-training).

Patch texts come from the same function the contextual patch test uses
(`labeling.branches.patches_for` -> `prompts.patch_text`), so CPT and SFT wording can not
drift apart. Snapshots whose teacher answer is flagged invalid are skipped and reported;
held-out snapshots are refused (they never enter any training set)."""

from __future__ import annotations

from dataclasses import dataclass

from ..io import InputError
from ..labeling.branches import patches_for
from ..prompts import DEFAULT_LAYOUT, build_prompt
from ..vocab import FORMATS


@dataclass(frozen=True)
class SFTExample:
    """One supervised example; `prompt` ends right before the action (as in scoring)."""

    snapshot_id: str
    fmt: str
    prompt: str
    action: str
    valid_actions: tuple[str, ...]


def teacher_valid(snap: dict) -> bool:
    """False when the teacher's answer is flagged invalid (or names no valid action)."""
    t = snap.get("teacher") or {}
    act = t.get("suggested_action")
    return bool(t.get("valid", True)) and act is not None and act in snap["valid_actions"]


def example_for(snap: dict, fmt: str, history_len: int | None = None, layout: str = DEFAULT_LAYOUT) -> SFTExample:
    """The SFT example of one labeled snapshot in format `fmt` (demo, hint, contrast, route),
    its prompt in `layout` (student.prompt_layout)."""
    sid = snap.get("snapshot_id", "?")
    if fmt == "route":
        fmt = snap.get("route_net")
        if fmt not in FORMATS:
            raise InputError(f"snapshot {sid}: route_net {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt not in FORMATS:
        raise InputError(f"unknown supervision format '{fmt}' (known: {', '.join(FORMATS)}, route)")
    if "teacher" not in snap:
        raise InputError(f"snapshot {sid}: no 'teacher' field (not a labeled snapshot)")
    patch = "" if fmt == "demo" else patches_for(snap)[fmt]
    hist = list(snap.get("history") or [])
    if history_len is not None:
        hist = hist[-history_len:] if history_len else []
    return SFTExample(sid, fmt, build_prompt(snap["mission"], snap["obs_text"], hist, patch, layout),
                      snap["teacher"]["suggested_action"], tuple(snap["valid_actions"]))


def examples_for(snaps: list[dict], fmt: str, history_len: int | None = None,
                 allow_heldout: bool = False, layout: str = DEFAULT_LAYOUT) -> tuple[list[SFTExample], list[str]]:
    """(examples, skipped ids): one example per usable snapshot in `fmt`, in input order.

    Snapshots with an invalid teacher answer are skipped (their ids returned). A held-out
    snapshot raises InputError unless `allow_heldout` (never for training)."""
    if not allow_heldout:
        leaked = [s.get("snapshot_id") for s in snaps if s.get("heldout")]
        if leaked:
            raise InputError(f"{len(leaked)} held-out snapshot(s) offered for training "
                             f"(first: {leaked[0]}); held-out snapshots never enter training")
    out, skipped = [], []
    for s in snaps:
        if not teacher_valid(s):
            skipped.append(s["snapshot_id"])
            continue
        out.append(example_for(s, fmt, history_len, layout))
    return out, skipped

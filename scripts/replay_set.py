#!/usr/bin/env python
"""Phase 2: the replay set every training run mixes in (training.replay_source; see
teachable.training.replay) -> replay_set.jsonl (one SFT example per line) and a summary JSON,
which also holds BASE's probe success (base_probe_success: every run's step-0 probe)."""

from teachable.workflow import scripting
from teachable.io import InputError, read_records, write_json, write_jsonl
from teachable.policy import pick_device
from teachable.training.replay import build_replay
from teachable.training.sft import base_probe_success


def main():
    p = scripting.parser(__doc__)
    scripting.add(p, "student")
    p.add_argument("--labeled", default=None, help="phase1/labeled_snapshots.jsonl (replay_source: snapshots)")
    scripting.add(p, "out", required=True, help="phase2/replay_set.jsonl")
    p.add_argument("--info", required=True, help="phase2/replay_set.json")
    args = p.parse_args()
    cfg = scripting.setup(args)

    def labeled():
        if not args.labeled:
            raise InputError("training.replay_source 'snapshots' needs --labeled phase1/labeled_snapshots.jsonl")
        return read_records(args.labeled, ("snapshot_id", "mission", "obs_text", "valid_actions"))

    student = scripting.student_path(cfg, args.student)
    rows, info = build_replay(cfg, student, labeled)
    info["base_probe_success"] = base_probe_success(cfg, student, str(pick_device(cfg["student"]["device"])))
    write_jsonl(args.out, rows)
    write_json(args.info, info)
    print(f"replay set ({info['source']}): {len(rows)} examples; {info}")


if __name__ == "__main__":
    scripting.run(main)

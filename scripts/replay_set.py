#!/usr/bin/env python
"""Phase 2: the replay set every training run mixes in (training.replay_source; see
teachable.training.replay) -> replay_set.jsonl (one SFT example per line) and a summary JSON."""

from functools import partial

from teachable import scripting
from teachable.io import InputError, write_json, write_jsonl


def main():
    p = scripting.parser(__doc__)
    p.add_argument("--student", default=None)
    p.add_argument("--labeled", default=None, help="phase1/labeled_snapshots.jsonl (replay_source: snapshots)")
    p.add_argument("--out", required=True, help="phase2/replay_set.jsonl")
    p.add_argument("--info", required=True, help="phase2/replay_set.json")
    args = p.parse_args()
    cfg = scripting.setup(args)
    tr, st = cfg["training"], cfg["student"]
    source = tr["replay_source"]
    if float(tr["replay_share"]) <= 0:
        rows, info = [], {"source": source, "n_examples": 0, "note": "training.replay_share is 0: replay off"}
    elif source == "base_greedy":
        from teachable.envs import env_from_config
        from teachable.policy import Policy
        from teachable.training.replay import base_greedy_records

        policy = Policy.load(scripting.student_path(cfg, args.student), st["adapter"], st["device"],
                             st["batch_size"], st["prompt_format"], st["dtype"])
        rows, info = base_greedy_records(policy, partial(env_from_config, cfg["env"], expert=False),
                                         int(tr["replay_tasks"]), cfg["seed"], cfg["env"]["max_steps"], st["history"])
    elif source == "snapshots":
        from teachable.io import read_records
        from teachable.training.replay import snapshot_records

        if not args.labeled:
            raise InputError("training.replay_source 'snapshots' needs --labeled phase1/labeled_snapshots.jsonl")
        rows, info = snapshot_records(read_records(args.labeled, ("snapshot_id", "mission", "obs_text", "valid_actions")),
                                      st["history"], float(tr["replay_min_p"]))
    else:
        raise InputError(f"training.replay_source: '{source}' is not one of base_greedy, snapshots")
    write_jsonl(args.out, rows)
    write_json(args.info, info)
    print(f"replay set ({source}): {len(rows)} examples; {info}")


if __name__ == "__main__":
    scripting.run(main)

#!/usr/bin/env python
"""Registry: `teachable runs index` into the given database and, with `tracking.wandb: true`,
`teachable runs wandb` (the same commands a user runs by hand)."""

from teachable.workflow import scripting
from teachable.cli import main as teachable


def main():
    args, cfg = scripting.parse_args(__doc__, {"--results": "results directory",
                                               "--db": "registry database to (re)build"})
    common = ["--results", args.results, "--db", args.db]
    commands = [["runs", "index", *common]]
    tr = cfg["tracking"]
    if tr["wandb"]:
        commands.append(["runs", "wandb", *common, "--project", tr["wandb_project"], "--mode", tr["wandb_mode"],
                         *(["--entity", tr["wandb_entity"]] if tr.get("wandb_entity") else [])])
    for argv in commands:
        rc = teachable(argv)
        if rc:
            raise SystemExit(rc)


if __name__ == "__main__":
    scripting.run(main)

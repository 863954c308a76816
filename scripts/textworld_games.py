#!/usr/bin/env python
"""Generate the TextWorld games of every family (task and held-out eval pools) offline."""

from teachable.workflow import scripting
from teachable.envs.textworld_games import generate_games


def main():
    p = scripting.parser(__doc__)
    scripting.add(p, "out", required=True, help="games directory (with manifest.json)")
    args = p.parse_args()
    cfg = scripting.setup(args)
    generate_games(cfg["env"], cfg["seed"], args.out, workers=args.threads)


if __name__ == "__main__":
    scripting.run(main)

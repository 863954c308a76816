"""`teachable gates`: results/gates.json as a table (Markdown), each gate's value, CI,
threshold and verdict."""

from __future__ import annotations

import json


from ..workflow.scripting import add


def register(sub) -> None:
    p = sub.add_parser("gates", help="the decision gates of a run (results/gates.json) as a table")
    p.add_argument("path", nargs="?", default="results/gates.json")
    add(p, "json", help="print the records instead")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..gates import gates_markdown
    from ..io import InputError, read_json

    gates = read_json(args.path)
    if not isinstance(gates, list) or not all(isinstance(g, dict) and "name" in g for g in gates):
        raise InputError(f"{args.path}: not a gates file (a JSON list of {{name, value, ci, threshold, passed}})")
    print(json.dumps(gates, indent=2) if args.json else gates_markdown(gates))
    return 0

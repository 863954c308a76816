#!/usr/bin/env python
"""Collect every decision gate into results/gates.json (a list of {name, value, ci,
threshold, passed, source}). A missing input is recorded with passed null and a note.
With gates.strict a failed gate (passed false) exits non-zero after writing the file."""

import argparse
import sys

from teachable.workflow import scripting
from teachable.config import cli_config
from teachable.gates import SOURCES, collect_gates, summary_line
from teachable.io import derive_seed, write_json


def main():
    p = argparse.ArgumentParser(description=__doc__)
    scripting.add_config_arg(p, help="config: YAML file or JSON object (needs 'gates', 'seed'; 'stats' optional)")
    for s in SOURCES:
        p.add_argument(f"--{s.replace('_', '-')}", dest=s, default=None, help=f"input: {s}")
    scripting.add(p, "out", required=True)
    args = p.parse_args()
    scripting.check_config_arg(p, args)
    cfg = cli_config(args.cfg)
    gcfg = cfg.get("gates") or {}
    gates = collect_gates({s: getattr(args, s) for s in SOURCES}, gcfg, derive_seed(int(cfg.get("seed", 0)), "gates"),
                          cfg.get("stats"))
    write_json(args.out, gates)
    print(summary_line(gates))
    failed = [g["name"] for g in gates if g["passed"] is False]
    if failed:
        print(("error: " if gcfg.get("strict") else "warning: ") + "failed gates: " + ", ".join(failed), file=sys.stderr)
        if gcfg.get("strict"):
            sys.exit(1)


if __name__ == "__main__":
    scripting.run(main)  # bad input: one "error:" line, exit 2

#!/usr/bin/env python
"""One paper figure from pipeline artifacts -> OUT.png and OUT.pdf (docs/figures.md).

  figure.py --name landscape --input snapshots=results/phase1/labeled_snapshots.jsonl \
      --input thresholds=results/phase1/quadrant_thresholds_auto.json --out results/figures/landscape.png"""

import argparse

from teachable.workflow import scripting
from teachable.figures import FIGURES, make_figure
from teachable.io import InputError


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", required=True, choices=sorted(FIGURES))
    p.add_argument("--input", action="append", default=[], metavar="KEY=PATH",
                   help="an input of the figure (repeat); keys per figure in teachable.figures.FIGURES")
    scripting.add(p, "out", required=True, help="output path; .png and .pdf are written")
    p.add_argument("--confidence", type=float, default=0.95,
                   help="stats.confidence: the level of the tables' CIs, named in a title only where CIs are drawn")
    args = p.parse_args()
    inputs = {}
    for item in args.input:
        key, sep, path = item.partition("=")
        if not sep:
            raise InputError(f"--input {item!r}: expected KEY=PATH")
        inputs[key] = path
    for path in make_figure(args.name, inputs, args.out, args.confidence):
        print(f"wrote {path}")


if __name__ == "__main__":
    scripting.run(main)  # bad input: one "error:" line, exit 2

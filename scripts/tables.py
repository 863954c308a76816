#!/usr/bin/env python
"""Phase-3 tables -> OUT_DIR/<name>.csv (copy) and OUT_DIR/<name>.md (Markdown)."""

import argparse

from teachable.workflow import scripting
from teachable.figures import make_tables


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--csv", nargs="+", required=True, help="phase-3 CSV tables")
    scripting.add(p, "out_dir", required=True)
    args = p.parse_args()
    for path in make_tables(args.csv, args.out_dir):
        print(f"wrote {path}")


if __name__ == "__main__":
    scripting.run(main)  # bad input: one "error:" line, exit 2

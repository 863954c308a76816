#!/usr/bin/env python
"""The run's verdicts from gates.json as a few lines of reStructuredText, for the report's
front page (report/workflow.rst; docs/figures.md).

  verdicts.py --gates results/gates.json --out results/verdicts.rst"""

import argparse

from teachable.workflow import scripting
from teachable.verdicts import write_verdict_summary


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gates", required=True, help="results/gates.json")
    scripting.add(p, "out", required=True, help="the .rst snippet to write")
    args = p.parse_args()
    print(f"wrote {write_verdict_summary(args.gates, args.out)}")


if __name__ == "__main__":
    scripting.run(main)  # bad input: one "error:" line, exit 2

#!/usr/bin/env python
"""Check that a self-contained Snakemake report renders in headless Chromium.

  check_report.py results/report.html results/report_check.png

Writes OUT.png (landing page) and OUT_figure.png (the first figure opened as its button
would); exits 1 if an embedded PNG is broken or blank or a screenshot is blank."""

import argparse
import json
import sys

from teachable.io import InputError
from teachable.workflow.report_check import check_report


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("report", help="the self-contained report (results/report.html)")
    p.add_argument("out", help="the landing page's screenshot (.png)")
    args = p.parse_args()
    res = check_report(args.report, args.out)
    print(json.dumps({k: v for k, v in res.items() if k != "embedded_png"}, indent=2))
    print(f"{len(res['embedded_png'])} embedded PNGs decode and are not blank")


if __name__ == "__main__":
    try:
        main()
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)

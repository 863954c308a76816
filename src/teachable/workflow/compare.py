"""Compare two results directories file by file, timing fields aside.

    python -m teachable.workflow.compare results_before/ results_after/ [--json out.json]

Used to show that a restructuring of the code changed no artifact: every file under both
directories is compared. JSON (and JSON lines) files are compared as parsed values with
timing and provenance fields dropped (keys matching IGNORED_KEYS); CSV/TSV as text; PDF
without its creation date; everything else byte for byte. logs/ and benchmarks/ (wall
times by nature) and Snakemake's own bookkeeping are left out. Exit status 0 when every
compared file is identical, 1 otherwise; the report lists each differing file and, for
JSON, the first differing key path.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

IGNORED_DIRS = ("logs", "benchmarks", ".snakemake")
# timing and provenance fields: wall times, dates, hosts, commits, versions of the machine
IGNORED_KEYS = re.compile(
    r"(wall|time|_s$|seconds|date|timestamp|created|started|finished|elapsed|duration|host|git|commit|"
    r"python_version|platform|torch_version|hostname|pid|cpu_count|per_min|_at_utc)", re.I)
PDF_DATES = re.compile(rb"/(CreationDate|ModDate) \([^)]*\)")


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not IGNORED_KEYS.search(str(k))}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _first_diff(a, b, path="") -> str:
    if type(a) is not type(b):
        return path or "/"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{path}/{k}"
            d = _first_diff(a[k], b[k], f"{path}/{k}")
            if d:
                return d
        return ""
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}[len]"
        for i, (x, y) in enumerate(zip(a, b)):
            d = _first_diff(x, y, f"{path}[{i}]")
            if d:
                return d
        return ""
    return "" if a == b else (path or "/")


def _load(path: Path):
    text = path.read_text()
    if path.suffix == ".jsonl":
        return [_strip(json.loads(line)) for line in text.splitlines() if line.strip()]
    return _strip(json.loads(text))


def compare_file(a: Path, b: Path) -> str:
    """'' when equal (timing fields aside), else a short reason."""
    if a.suffix in (".json", ".jsonl"):
        try:
            x, y = _load(a), _load(b)
        except (ValueError, UnicodeDecodeError):
            return "" if a.read_bytes() == b.read_bytes() else "bytes (unparsable JSON)"
        d = _first_diff(x, y)
        return f"json {d}" if d else ""
    if a.suffix == ".pdf":
        return "" if PDF_DATES.sub(b"", a.read_bytes()) == PDF_DATES.sub(b"", b.read_bytes()) else "bytes"
    return "" if a.read_bytes() == b.read_bytes() else "bytes"


def files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and not any(part in IGNORED_DIRS for part in p.relative_to(root).parts)}


def compare_dirs(a: Path, b: Path) -> dict:
    fa, fb = files(a), files(b)
    diff = {}
    for rel in sorted(fa & fb):
        why = compare_file(a / rel, b / rel)
        if why:
            diff[rel] = why
    return {"compared": len(fa & fb), "identical": len(fa & fb) - len(diff), "different": diff,
            "only_before": sorted(fa - fb), "only_after": sorted(fb - fa)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--json", type=Path, help="write the report here as JSON")
    a = ap.parse_args(argv)
    for d in (a.before, a.after):
        if not d.is_dir():
            ap.error(f"{d}: not a directory")
    rep = compare_dirs(a.before, a.after)
    print(f"{rep['compared']} files compared: {rep['identical']} identical, {len(rep['different'])} different; "
          f"{len(rep['only_before'])} only in {a.before}, {len(rep['only_after'])} only in {a.after}")
    for rel, why in rep["different"].items():
        print(f"  differs: {rel} ({why})")
    for rel in rep["only_before"]:
        print(f"  only before: {rel}")
    for rel in rep["only_after"]:
        print(f"  only after: {rel}")
    if a.json:
        a.json.write_text(json.dumps(rep, indent=1) + "\n")
    return 0 if not rep["different"] and not rep["only_before"] and not rep["only_after"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""Helpers shared by command groups: parent parsers of common options (the options
themselves: teachable.workflow.scripting.OPTIONS), tables, JSON output."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Sequence

from ..io import write_text
from ..registry import Registry
from ..workflow.scripting import add
from ..stats import jsonable


def db_parent(json_flag: bool = True) -> argparse.ArgumentParser:
    """--results/--db (and --json), shared by every command that reads the registry."""
    p = argparse.ArgumentParser(add_help=False)
    add(p, "results")
    p.add_argument("--db", help="registry database (default: RESULTS/registry.sqlite)")
    if json_flag:
        add(p, "json")
    return p


def json_parent() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    add(p, "json")
    return p


def db_path(args) -> Path:
    return Path(args.db) if args.db else Path(args.results) / "registry.sqlite"


def open_registry(args) -> Registry:
    return Registry(db_path(args))


def to_json(obj: Any) -> str:
    return json.dumps(jsonable(obj), indent=2)


def print_json(obj: Any) -> None:
    print(to_json(obj))


def fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:.{digits}g}"
    return str(v)


def table(rows: Sequence[dict] | Sequence[Sequence], headers: Sequence[str] | str = "keys",
          fmt_values: bool = True) -> str:
    """A plain-text table (tabulate when installed, pandas otherwise)."""
    if rows and isinstance(rows[0], dict):
        headers = list(rows[0].keys()) if headers == "keys" else list(headers)
        rows = [[r.get(h) for h in headers] for r in rows]
    rows = [[fmt(v) if fmt_values else v for v in r] for r in rows]
    if not rows:
        return "(none)"
    try:
        from tabulate import tabulate

        return tabulate(rows, headers=list(headers), tablefmt="simple", disable_numparse=True)
    except ImportError:
        import pandas as pd

        return pd.DataFrame(rows, columns=list(headers)).to_string(index=False)


def markdown_table(rows: Sequence[dict]) -> str:
    if not rows:
        return "(none)\n"
    headers = list(rows[0].keys())
    try:
        from tabulate import tabulate

        return tabulate([[fmt(r[h]) for h in headers] for r in rows], headers=headers,
                        tablefmt="github", disable_numparse=True) + "\n"
    except ImportError:
        import pandas as pd

        return pd.DataFrame([{h: fmt(r[h]) for h in headers} for r in rows]).to_markdown(index=False) + "\n"


def emit_to(dest: str | None, text: str, what: str) -> None:
    """Write `text` to a file, or to stdout when dest is '-'."""
    if dest in (None, "-"):
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        write_text(dest, text)
        print(f"wrote {what} to {dest}", file=sys.stderr)


def kv_table(d: dict) -> str:
    return table([[k, v] for k, v in d.items()], headers=["field", "value"])

"""`teachable` command line: a thin dispatcher over command groups.

Each group is a module in teachable.commands with `register(subparsers)`, which adds its
subcommands and sets `func(args) -> int` on each. Add a group by adding its module name
to GROUPS."""

from __future__ import annotations

import argparse
import importlib
import sys

from .workflow import logs, scripting
from .io import InputError

GROUPS = ("runs", "analyze", "label", "status", "config", "gates", "doctor")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="teachable",
        description="Run registry and multi-seed statistics of the teachable pipeline.")
    scripting.add(p, "debug")
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    scripting.add_verbosity(p)
    sub = p.add_subparsers(dest="group", metavar="GROUP", required=True)
    for name in GROUPS:
        importlib.import_module(f"teachable.commands.{name}").register(sub)
    return p


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("teachable")
    except PackageNotFoundError:  # run from a source tree without installing
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .teacher.base import TeacherError

    logs.configure(args.verbosity)
    try:
        return int(args.func(args) or 0)
    except (InputError, TeacherError) as e:  # bad input: 2; a teacher that stays down: 1
        if args.debug:
            raise
        print(f"teachable: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2 if isinstance(e, InputError) else 1
    except BrokenPipeError:  # `teachable runs list | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())

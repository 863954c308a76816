"""Shared plumbing of the thin CLIs in scripts/: arguments, threads, clear errors."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Callable

from .config import cli_config
from .io import InputError


def parser(description: str, cfg: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    if cfg:
        p.add_argument("--cfg", required=True, type=str,
                       help="config: a YAML file (by hand) or a JSON object (what Snakemake passes)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    return p


def setup(args) -> dict:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    import torch

    torch.set_num_threads(max(1, args.threads))
    cfg = cli_config(args.cfg) if getattr(args, "cfg", None) else {}
    if "max_live_episodes" in cfg.get("student", {}):
        from . import rollout

        rollout.MAX_LIVE_EPISODES = int(cfg["student"]["max_live_episodes"])
    return cfg


def run(main: Callable[[], None]) -> None:
    """Run a script's main; bad input ends with one 'error: ...' line and exit code 2, a
    teacher that stays down with one 'error: ...' line and exit code 1 (no traceback
    either way; `--debug` anywhere on the command line, or TEACHABLE_DEBUG=1, shows it)."""
    from .teacher.base import TeacherError

    debug = "--debug" in sys.argv or os.environ.get("TEACHABLE_DEBUG", "") not in ("", "0")
    if "--debug" in sys.argv:
        sys.argv.remove("--debug")
    try:
        main()
    except InputError as e:
        if debug:
            raise
        print(f"error: {_one_line(e)}", file=sys.stderr)
        sys.exit(2)
    except TeacherError as e:
        if debug:
            raise
        print(f"error: {_one_line(e)}", file=sys.stderr)
        sys.exit(1)


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())


def student_path(cfg: dict, built: str | None) -> str:
    from .policy import resolve_student_path

    return built if cfg["student"]["base_model"] == "bootstrap" and built else resolve_student_path(cfg["student"])

"""One logging setup for the `teachable` CLI and the scripts: timestamps and levels on
stderr, `-v` for debug, `-q` for warnings only (the options: teachable.workflow.scripting.add_verbosity)."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def level(verbosity: int) -> int:
    return logging.DEBUG if verbosity > 0 else logging.WARNING if verbosity < 0 else logging.INFO


def configure(verbosity: int = 0) -> None:
    """Root handler on stderr; replaces an earlier one so that a second call changes the level."""
    logging.basicConfig(level=level(verbosity), format=FORMAT, datefmt="%Y-%m-%dT%H:%M:%S",
                        stream=sys.stderr, force=True)
    # third-party chatter stays at warnings unless -v
    for name in ("httpx", "urllib3", "matplotlib", "PIL"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbosity > 0 else logging.WARNING)


def progress(iterable=None, **kw):
    """A tqdm bar shown in a terminal only (disable=None: off when stderr is not a TTY), so
    that the log file of a Snakemake job stays free of bar redraws. Training steps and
    teacher calls use it."""
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=None, **kw)

"""Clear a stale Snakemake lock, safely (docs/troubleshooting.md).

A Snakemake run that is killed (kill -9, OOM, a closed laptop) leaves its lock in
.snakemake/locks, and every later run stops with LockException until `snakemake --unlock`.
`make pilot` calls `python -m teachable.workflow.locks` first: it unlocks ONLY when no Snakemake
process is running on this directory (its working directory, or its --directory/-d, is this
one; found through /proc), so a second invocation next to a live run is still refused by
Snakemake itself."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path


def _is_snakemake(argv: list[str]) -> bool:
    """`snakemake ...`, `python .../bin/snakemake ...` or `python -m snakemake ...`."""
    head = [os.path.basename(a) for a in argv[:3]]
    if head and head[0] == "snakemake":
        return True
    if head and head[0].startswith("python"):
        return (len(head) > 1 and head[1] == "snakemake") or argv[1:3] == ["-m", "snakemake"]
    return False


def _workdir(pid: str, argv: list[str]) -> Path | None:
    try:
        cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None
    for i, a in enumerate(argv):
        if a in ("-d", "--directory") and i + 1 < len(argv):
            return (cwd / argv[i + 1]).resolve()
        if a.startswith("--directory="):
            return (cwd / a.split("=", 1)[1]).resolve()
    return cwd.resolve()


def running_snakemake(directory: str | os.PathLike) -> list[int]:
    """PIDs of Snakemake processes (other than this one) working on `directory`."""
    target = Path(directory).resolve()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = [a for a in (entry / "cmdline").read_bytes().decode(errors="replace").split("\0") if a]
        except OSError:
            continue
        if argv and _is_snakemake(argv) and _workdir(entry.name, argv) == target:
            pids.append(int(entry.name))
    return pids


def has_lock(directory: str | os.PathLike) -> bool:
    locks = Path(directory) / ".snakemake" / "locks"
    return locks.is_dir() and any(locks.iterdir())


def clear_stale_lock(directory: str | os.PathLike, snakemake: str = "snakemake") -> str:
    """'none' (no lock), 'running' (a live run holds it: left alone) or 'cleared'."""
    if not has_lock(directory):
        return "none"
    if running_snakemake(directory):
        return "running"
    subprocess.run([snakemake, "--unlock"], cwd=directory, check=True, capture_output=True)
    return "cleared"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--directory", default=".", help="workflow directory (default: here)")
    p.add_argument("--snakemake", default="snakemake", help="snakemake executable")
    args = p.parse_args(argv)
    state = clear_stale_lock(args.directory, args.snakemake)
    if state == "cleared":
        print("cleared a stale Snakemake lock (no Snakemake process runs on this directory; "
              "a killed run left it); resuming", file=sys.stderr)
    elif state == "running":
        pids = ", ".join(map(str, running_snakemake(args.directory)))
        print(f"a Snakemake run (pid {pids}) is working on this directory: its lock is kept", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

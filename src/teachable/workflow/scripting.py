"""Shared plumbing of the thin CLIs in scripts/ and of the `teachable` CLI: the one argument
layer (OPTIONS, `add`), threads, clear errors."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable

from . import logs
from ..config import cli_config
from ..io import InputError

_CONFIG_HELP = "config: a YAML file (by hand) or a JSON object (what Snakemake passes)"

# The one argument layer: every option that more than one script or `teachable` command takes
# is defined here, once, and added with `add(parser, name, **changes)` (a command's own default
# or help goes in `changes`; the flags and the type never change). A name maps to its
# (flags, argparse keywords) pairs: the first is the visible option, the others hidden aliases
# sharing its dest. tests/test_cli_args.py fails where a parser defines one of these flags by hand.
OPTIONS: dict[str, list[tuple[tuple[str, ...], dict]]] = {
    # a run's config file (scripts: also the JSON object a rule passes); --cfg: the rules' spelling
    "config": [(("--config",), dict(dest="cfg", metavar="CONFIG", type=str, help=_CONFIG_HELP)),
               (("--cfg",), dict(dest="cfg", type=str, help=argparse.SUPPRESS))],
    # snakemake's own spelling: config files merged in order, then KEY=VALUE overrides
    "configfiles": [(("--configfile",), dict(nargs="+", action="extend", default=[], metavar="F",
                                             help="config file(s), merged in order (default: config/config.yaml)"))],
    "overrides": [(("--config",), dict(nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                                       help="overrides as for snakemake --config (value parsed as YAML)"))],
    "threads": [(("--threads",), dict(type=int, default=1, help="torch CPU threads"))],
    "student": [(("--student",), dict(default=None, help="the built student's model dir "
                                                          "(default: the config's student.base_model)"))],
    "device": [(("--device",), dict(default=None, help="torch device (default: the config's student.device)"))],
    "seed": [(("--seed",), dict(type=int, help="seed"))],
    "out": [(("--out",), dict(help="output file"))],
    "out_dir": [(("--out-dir",), dict(help="output directory"))],
    "cache_dir": [(("--cache-dir",), dict(help="teacher response cache"))],
    "results": [(("--results",), dict(default="results", help="results directory (default: results)"))],
    "json": [(("--json",), dict(action="store_true", help="print JSON instead of tables"))],
    "debug": [(("--debug",), dict(action="store_true",
                                  help="show the Python traceback of an error instead of the one 'error:' line"))],
    "verbose": [(("-v", "--verbose"), dict(action="store_const", const=1, dest="verbosity", default=0,
                                           help="debug messages too"))],
    "quiet": [(("-q", "--quiet"), dict(action="store_const", const=-1, dest="verbosity",
                                       help="warnings and errors only"))],
}


# flag -> its OPTIONS name (--config: the config file; "overrides" reuses the flag in snakemake's sense)
FLAG_NAMES = {f: name for name, pairs in OPTIONS.items() if name != "overrides" for flags, _ in pairs for f in flags}


def add(p, name: str, **changes) -> argparse.Action:
    """Add the shared option `name` (an OPTIONS key) to `p` (a parser or an argument group);
    `changes` replace its keywords (default, help, required...); `dest` applies to its hidden
    aliases too. Each action made here carries `shared_option` (its name) and `changed` (the
    keywords replaced), which the tests read."""
    first, *aliases = OPTIONS[name]
    action = p.add_argument(*first[0], **{**first[1], **changes})
    action.shared_option, action.changed = name, frozenset(changes)
    for flags, kw in aliases:
        a = p.add_argument(*flags, **{**kw, **({"dest": changes["dest"]} if "dest" in changes else {})})
        a.shared_option, a.changed = name, frozenset(changes) & {"dest"}
    return action


def add_verbosity(p: argparse.ArgumentParser) -> None:
    """-v / -q (exclusive): the log level of teachable.workflow.logs.configure."""
    g = p.add_mutually_exclusive_group()
    add(g, "verbose")
    add(g, "quiet")


def add_config_arg(p: argparse.ArgumentParser, required: bool = True, help: str | None = None,
                   default: str | None = None, dest: str = "cfg") -> None:
    """`--config` (the one spelling of every command); `--cfg` stays as a hidden alias so
    that existing rule shell lines keep working. Required is checked after parsing (argparse
    cannot require one of two flags sharing a dest)."""
    help = help or _CONFIG_HELP
    add(p, "config", help=help + (" (required)" if required else ""), default=default, dest=dest)
    if required:
        p.set_defaults(_config_required=True)


def check_config_arg(p: argparse.ArgumentParser, args) -> None:
    if getattr(args, "_config_required", False) and not args.cfg:
        p.error("the following arguments are required: --config")


class _Parser(argparse.ArgumentParser):
    def parse_args(self, *a, **kw):
        args = super().parse_args(*a, **kw)
        check_config_arg(self, args)
        return args


def add_common(p: argparse.ArgumentParser, cfg: bool = True, threads: int = 1) -> argparse.ArgumentParser:
    """What every script takes (and `teachable label`'s rule stages, built from the same
    functions): --config (when `cfg`), --threads, -v/-q."""
    if cfg:
        add_config_arg(p)
    add(p, "threads", **({"default": threads} if threads != 1 else {}))
    add_verbosity(p)
    return p


def parser(description: str, cfg: bool = True) -> argparse.ArgumentParser:
    return add_common(_Parser(description=description), cfg)


def run_stage(description: str, args_fn: Callable, fn: Callable) -> None:
    """A script that is one stage function (e.g. teachable.labeling.stages): the common
    options, the stage's own (`args_fn(parser)`), `setup`, then `fn(args, cfg)`. `teachable
    label` builds its parsers from the same `args_fn` and calls the same `fn`."""
    p = parser(description)
    args_fn(p)
    args = p.parse_args()
    fn(args, setup(args))


def set_threads(n: int) -> None:
    """CPU threads for torch without importing it: a job that never loads a model (gathers,
    tables, mining) must not pay torch's import. torch reads OMP_NUM_THREADS when it loads;
    where it is loaded already, its pool is set directly."""
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)


def setup(args) -> dict:
    logs.configure(getattr(args, "verbosity", 0))
    set_threads(max(1, args.threads))
    cfg = cli_config(args.cfg) if getattr(args, "cfg", None) else {}
    st = cfg.get("student", {})
    if "max_live_episodes" in st or "reuse_prefix" in st or "max_batch_tokens" in st:
        from .. import engine

        engine.MAX_LIVE_EPISODES = int(st.get("max_live_episodes", engine.MAX_LIVE_EPISODES))
        engine.REUSE_PREFIX = bool(st.get("reuse_prefix", engine.REUSE_PREFIX))
        engine.MAX_BATCH_TOKENS = st.get("max_batch_tokens", engine.MAX_BATCH_TOKENS)
    return cfg


def run(main: Callable[[], None]) -> None:
    """Run a script's main; bad input ends with one 'error: ...' line and exit code 2, a
    teacher that stays down with one 'error: ...' line and exit code 1 (no traceback
    either way; `--debug` anywhere on the command line, or TEACHABLE_DEBUG=1, shows it)."""
    from ..teacher.base import TeacherError

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
    """The student a job loads (the built one, or student.base_model), checked against the
    config: a built student's prompt layout must be student.prompt_layout's
    (prompts.check_student_layout)."""
    from ..policy import resolve_student_path
    from ..prompts import check_student_layout

    path = built if cfg["student"]["base_model"] == "bootstrap" and built else resolve_student_path(cfg["student"])
    check_student_layout(path, cfg["student"])
    return path


def gather_shards(description: str, merge: Callable[[list], dict], summary: Callable[[dict, int], str],
                  indent: int | None = 2) -> None:
    """The whole CLI of a shard gather: `--shards F... --out F`, merged by `merge` (which
    sorts by id, so the result does not depend on the shard order) and written atomically."""
    from ..io import read_json, write_json

    p = parser(description, cfg=False)
    p.add_argument("--shards", nargs="+", required=True)
    add(p, "out", required=True)
    args = p.parse_args()
    setup(args)
    merged = merge([read_json(f) for f in args.shards])
    write_json(args.out, merged, indent=indent)
    print(summary(merged, len(args.shards)))


EVAL_SNAPSHOT_KEYS = ("snapshot_id", "quadrant", "heldout", "state", "history")


def add_model_args(p: argparse.ArgumentParser) -> None:
    """The model an evaluation job loads (BASE, or a run's adapter) and the labeled snapshots
    whose held-out part is its panel: shared by evaluate_base.py and validation_evaluate.py."""
    add(p, "student")
    p.add_argument("--labeled", required=True, help="phase1/labeled_snapshots.jsonl (panel: held-out only)")
    p.add_argument("--run-id", required=True)
    add(p, "seed", required=True)
    p.add_argument("--adapter", default=None, help="LoRA adapter dir (none for BASE)")


def read_eval_snapshots(args, cfg: dict) -> list[dict]:
    """The --labeled snapshots an evaluation reads, every record checked first."""
    from ..snapshot import read_snapshots

    return read_snapshots(args.labeled, EVAL_SNAPSHOT_KEYS, cfg["env"])


def exit_on_failed_gates(cfg: dict, failed: list[str]) -> None:
    """Name the gates not passed on stderr: a warning, or with gates.strict an error and exit 1."""
    if failed:
        strict = (cfg.get("gates") or {}).get("strict", False)
        print(("error: " if strict else "warning: ") + "gates not passed: " + ", ".join(failed), file=sys.stderr)
        if strict:
            sys.exit(1)


def parse_args(description: str, paths: dict[str, str], student: bool = False) -> tuple[argparse.Namespace, dict]:
    """The usual CLI in one call: --config, --threads, -v/-q, `--student` (the built student;
    optional) when asked, and one required option per `paths` item (flag -> help); then
    `setup` (logging, torch threads, the config). Returns (args, config)."""
    p = parser(description)
    if student:
        add(p, "student")
    for flag, help in paths.items():
        name = FLAG_NAMES.get(flag)
        if name:
            add(p, name, required=True, help=help)
        else:
            p.add_argument(flag, required=True, help=help)
    args = p.parse_args()
    return args, setup(args)

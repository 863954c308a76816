"""The Snakemake command that rebuilds one run's target with the run's own config.

Config values that differ from the current config file become overrides. Snakemake's
`--config key=value` only sets top-level keys and parses nested values as strings, so
top-level scalars go on `--config`, and nested overrides go into a small YAML file passed
after the main config with `--configfile` (Snakemake merges config files in order).
Keys of the run's config that the current config does not have are run-specific (set by
the rule from the wildcards, or removed since) and are listed, not overridden."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from ..io import InputError, write_text
from ..workflow.provenance import git_info
from .index import flatten
from .query import Registry


def _current_config(configfile: Path) -> dict:
    if not configfile.exists():
        return {}
    try:
        cfg = yaml.safe_load(configfile.read_text()) or {}
    except yaml.YAMLError as e:
        raise InputError(f"{configfile}: malformed YAML ({e})") from None
    try:  # fill schema defaults when the schema is available and the file is valid
        from ..config import validate_config

        validate_config(cfg, source=str(configfile))
    except Exception:
        pass
    return cfg


def _nest(flat: dict[str, Any]) -> dict:
    out: dict = {}
    for key, v in flat.items():
        cur = out
        parts = key.split(".")
        for p in parts[:-1]:
            cur = cur.setdefault(p, {})
        cur[parts[-1]] = v
    return out


_SAFE_STR = re.compile(r"[A-Za-z_][\w.\-/]*")
_BOOL_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "none", "~"}


def _scalar_arg(v: Any) -> str | None:
    """`--config` text for a value Snakemake reads back unchanged, else None."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str) and _SAFE_STR.fullmatch(v) and v.lower() not in _BOOL_WORDS:
        try:
            float(v)
        except ValueError:
            return v
    return None


def reproduce_plan(reg: Registry, run: dict, *, configfile: str | Path = "config/config.yaml",
                   cores: int = 2, overrides_file: str | Path | None = None,
                   write: bool = True) -> dict:
    """Plan for one run: target, overrides, command (and the overrides file, written when
    nested overrides exist and write=True)."""
    results = reg.results_dir
    rel = run["run_json"] or run["eval_json"]
    target = os.path.relpath(results / rel)
    configfile = Path(configfile)
    cur = dict(flatten(_current_config(configfile)))
    ran = dict(flatten(reg.config(run["pk"])))
    overrides = {k: v for k, v in ran.items() if k in cur and cur[k] != v}
    run_only = sorted(k for k in ran if k not in cur)
    not_in_run = sorted(k for k in cur if k not in ran) if ran else []
    config_args, nested = [], {}
    for k, v in sorted(overrides.items()):
        arg = _scalar_arg(v) if "." not in k else None
        if arg is None:
            nested[k] = v
        else:
            config_args.append(f"{k}={arg}")
    argv = ["snakemake", "--cores", str(cores), target, "--forcerun", target]
    ofile = None
    if nested:
        ofile = Path(overrides_file) if overrides_file else \
            results / "reproduce" / run["run_id"] / f"seed{run['seed']}.yaml"
        if write:
            write_text(ofile, f"# config overrides to reproduce {run['key']} ({run['stage']})\n"
                       + yaml.safe_dump(_nest(nested), sort_keys=True))
        argv += ["--configfile", str(configfile), os.path.relpath(ofile)]
    if config_args:
        argv += ["--config", *config_args]
    notes = []
    if not configfile.exists():
        notes.append(f"{configfile} not found: overrides could not be computed against it")
    if not ran:
        notes.append("no config recorded for this run (evaluation-only entry)")
    code = git_info()
    if run["git_commit"] and code["commit"] and run["git_commit"] != code["commit"]:
        notes.append(f"the run used commit {run['git_commit'][:12]}, the code here is at "
                     f"{code['commit'][:12]}: `git checkout {run['git_commit'][:12]}` to match")
    if run["git_dirty"]:
        notes.append("the run's code had uncommitted changes (dirty): an exact rebuild may differ")
    return {"run": run["key"], "stage": run["stage"], "target": target,
            "command": shlex.join(argv), "argv": argv, "overrides": overrides,
            "overrides_file": str(ofile) if ofile else None, "run_only_keys": run_only,
            "not_in_run_config": not_in_run, "run_commit": run["git_commit"],
            "current_commit": code["commit"], "notes": notes}

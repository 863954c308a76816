"""`teachable config show`: the effective, validated config of a run with the same
--configfile/--config arguments as `snakemake` (teachable.config.effective_config, the
function the Snakefile's merge follows)."""

from __future__ import annotations

import json

import yaml

from ..config import effective_config, parse_overrides
from ..workflow.scripting import add


def register(sub) -> None:
    p = sub.add_parser("config", help="effective configuration")
    csub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = csub.add_parser("show", help="print the effective validated config (YAML, or --json)")
    add(show, "configfiles")
    add(show, "overrides")
    add(show, "json", help="print JSON instead of YAML")
    show.set_defaults(func=run_show)


def run_show(args) -> int:
    cfg = effective_config(args.configfile, parse_overrides(args.config))
    if args.json:
        print(json.dumps(cfg, indent=2, sort_keys=True))
    else:
        print(yaml.safe_dump(cfg, sort_keys=False, default_flow_style=None), end="")
    return 0

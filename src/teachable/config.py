"""Config loading and JSON-schema validation with defaults.

The Snakefile and every script use `load_config`/`validate_config`, so a bad key stops a
Snakemake run and a by-hand script run with the same one-line message."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .io import InputError

# The package's copy of the schema: src/teachable/schema.yaml is a symlink to
# config/schema.yaml (one file to edit), shipped as package data so that a non-editable
# install validates configs too.
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "config" / "schema.yaml"


def _with_defaults(validator_cls):
    validate_props = validator_cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from validate_props(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_cls, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft7Validator)


# libyaml's loader when present: the schema is parsed on every `snakemake` start
# (planning speed, docs/cluster.md); same result as yaml.safe_load
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_schema(path: str | Path | None = None) -> dict:
    if path is None:  # the package's copy: also works from a non-editable install
        from importlib.resources import files

        return yaml.load(files("teachable").joinpath("schema.yaml").read_text(), Loader=_YAML_LOADER)
    return yaml.load(Path(path).read_text(), Loader=_YAML_LOADER)


def _coerce(value: Any, schema: dict) -> Any:
    """Strings from `snakemake --config k=v` become the schema's number/integer/boolean."""
    types = schema.get("type")
    types = [types] if isinstance(types, str) else (types or [])
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for k, v in value.items():
            if k in props:
                value[k] = _coerce(v, props[k])
        return value
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_coerce(v, schema["items"]) for v in value]
    if isinstance(value, str) and "string" not in types:
        low = value.strip().lower()
        if "boolean" in types and low in ("true", "false"):
            return low == "true"
        if "null" in types and low in ("null", "none"):
            return None
        for t, conv in (("integer", int), ("number", float)):
            if t in types:
                try:
                    return conv(value)
                except ValueError:
                    pass
    return value


def validate_config(config: dict, schema: dict | None = None, source: str = "config") -> dict:
    """Fill defaults in place and validate; raise InputError naming the offending key."""
    schema = schema or load_schema()
    _coerce(config, schema)
    errors = sorted(_Validator(schema).iter_errors(config), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        where = ".".join(str(p) for p in e.path) or "(top level)"
        if e.validator == "additionalProperties":
            extra = sorted(set(e.instance) - set(e.schema.get("properties", {})))
            key = ".".join([*map(str, e.path), extra[0]]) if extra else where
            raise InputError(f"{source}: unknown config key '{key}' (not in config/schema.yaml)")
        raise InputError(f"{source}: invalid value at '{where}': {e.message}")
    from .config_checks import check_config  # values that name something (docs: README, bad inputs)

    return check_config(config, source)


def load_config(path: str | Path, overrides: dict | None = None) -> dict:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: config file not found")
    try:
        cfg = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise InputError(f"{path}: malformed YAML ({e})") from None
    deep_update(cfg, overrides or {})
    return validate_config(cfg, source=str(path))


def deep_update(base: dict, upd: dict) -> dict:
    for k, v in upd.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            deep_update(base[k], v)
        else:
            base[k] = v
    return base


def cli_config(value: str) -> dict:
    """`--cfg` for scripts: a JSON object (what Snakemake rules pass, so params carry it)
    or the path of a YAML config file (for runs by hand), validated either way."""
    if value.lstrip().startswith("{"):
        try:
            cfg = json.loads(value)
        except json.JSONDecodeError as e:
            raise InputError(f"--cfg: malformed JSON ({e.msg})") from None
        return cfg
    return load_config(value)


def get(cfg: dict, dotted: str) -> Any:
    cur: Any = cfg
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise InputError(f"config: missing key '{dotted}'")
        cur = cur[part]
    return cur


# ------------------------------------------------------------ effective config (docs/cluster.md)

PILOT_CONFIGFILE = "config/config.yaml"


def default_configfiles(given: list | tuple | None) -> list[str]:
    """The config files a run starts from: the ones given with --configfile, else the pilot
    file. A given file is never merged onto the pilot file, so each shipped file means what
    it says (schema defaults fill what it leaves out). The Snakefile applies exactly these."""
    return [str(f) for f in given] if given else [PILOT_CONFIGFILE]


def parse_overrides(items: list[str] | None) -> dict:
    """`--config k=v ...` as Snakemake reads it: each value parsed as YAML; a dict value
    merges into its section (Snakemake's update_config is recursive too)."""
    out: dict = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--config: expected KEY=VALUE, got '{item}'")
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise InputError(f"--config {key}: malformed YAML value ({e})") from None
    return out


def effective_config(configfiles: list | tuple | None = None, overrides: dict | None = None,
                     base_dir: str | Path | None = None) -> dict:
    """What a Snakemake run with these --configfile/--config arguments validates: the files
    of `default_configfiles` merged in order, the overrides on top, schema defaults filled."""
    base = Path(base_dir) if base_dir is not None else SCHEMA_PATH.parents[1]
    cfg: dict = {}
    for f in default_configfiles(configfiles):
        path = Path(f) if Path(f).is_absolute() or Path(f).exists() else base / f
        if not path.exists():
            raise InputError(f"{f}: config file not found")
        try:
            deep_update(cfg, yaml.safe_load(path.read_text()) or {})
        except yaml.YAMLError as e:
            raise InputError(f"{path}: malformed YAML ({e})") from None
    deep_update(cfg, copy.deepcopy(overrides or {}))
    return validate_config(cfg, load_schema(base / "config" / "schema.yaml"), source="config")

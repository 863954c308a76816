"""Checks of config values that name something (env families, selection methods, local
paths, seed lists, manual thresholds), run when the config is validated, i.e. when
Snakemake builds the DAG: `snakemake -n` stops naming the key instead of a job failing
after work has started. The JSON schema checks types and ranges; these check meaning.

Each check raises InputError("<source>: <dotted.key>: what is wrong")."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from .io import InputError


def _families_of(env: dict) -> list[str] | None:
    """Known task families of the configured env; None when the env takes any name."""
    if env.get("name") == "babyai":
        from .envs.babyai import FAMILY_LEVELS  # imports minigrid: only for babyai configs

        return sorted(FAMILY_LEVELS)
    return None


def looks_like_path(value: str) -> bool:
    """A model name that is meant as a local path: absolute, ./ ../ ~, or an existing
    entry. Hub ids ('gpt2', 'Qwen/Qwen2.5-0.5B') are not."""
    return value.startswith(("/", "./", "../", "~")) or value.startswith("results" + os.sep)


def _unique(cfg: dict, dotted: str, what: str) -> None:
    values = _get(cfg, dotted)
    if values is None:
        return
    seen, dup = set(), []
    for v in values:
        key = repr(v)
        if key in seen and v not in dup:
            dup.append(v)
        seen.add(key)
    if dup:
        raise InputError(f"{dotted}: duplicate {what} {', '.join(map(str, dup))} (each must appear once)")


def _get(cfg: dict, dotted: str):
    cur = cfg
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def check_env(cfg: dict) -> None:
    env = cfg.get("env") or {}
    fams = env.get("families")
    if fams is not None and not fams:
        raise InputError("env.families: empty (name at least one task family)")
    known = _families_of(env)
    if known is not None and fams:
        for i, f in enumerate(fams):
            if f not in known:
                raise InputError(f"env.families[{i}]: unknown {env['name']} task family '{f}' "
                                 f"(known: {', '.join(known)})")


def check_paths(cfg: dict) -> None:
    st = cfg.get("student") or {}
    base = st.get("base_model")
    if isinstance(base, str) and base != "bootstrap" and looks_like_path(base):
        p = Path(base).expanduser()
        if not p.is_dir():
            raise InputError(f"student.base_model: local model directory '{base}' does not exist "
                             "(a Hugging Face id has no leading / ./ ../ ~)")
        if not (p / "config.json").is_file():
            raise InputError(f"student.base_model: '{base}' has no config.json (not a save_pretrained directory)")
    ad = st.get("adapter")
    if isinstance(ad, str) and ad:
        p = Path(ad).expanduser()
        if not (p / "adapter_config.json").is_file():
            raise InputError(f"student.adapter: '{ad}' is not a LoRA adapter directory (no adapter_config.json)")


def check_teacher(cfg: dict) -> None:
    url = _get(cfg, "teacher.base_url")
    if isinstance(url, str):
        u = urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise InputError(f"teacher.base_url: '{url}' is not an http(s) URL (e.g. http://127.0.0.1:8000/v1)")


def check_selection(cfg: dict) -> None:
    sel = cfg.get("selection") or {}
    methods = sel.get("methods") or []
    if not methods:
        return
    base = sel.get("baseline")
    if base is not None and base not in methods:
        raise InputError(f"selection.baseline: '{base}' is not one of selection.methods ({', '.join(methods)})")
    for i, pair in enumerate(sel.get("gate_pairs") or []):
        for m in pair:
            if m not in methods:
                raise InputError(f"selection.gate_pairs[{i}]: '{m}' is not one of selection.methods "
                                 f"({', '.join(methods)})")
        if len(pair) == 2 and pair[0] == pair[1]:
            raise InputError(f"selection.gate_pairs[{i}]: compares '{pair[0]}' with itself")


def check_quadrants(cfg: dict) -> None:
    q = cfg.get("quadrants") or {}
    if q.get("method") == "manual":
        missing = [k for k in ("U_threshold", "L_threshold") if q.get(k) is None]
        if missing:
            raise InputError(f"quadrants.{missing[0]}: quadrants.method is 'manual' but "
                             f"{' and '.join('quadrants.' + k for k in missing)} not set")


def check_labeling(cfg: dict) -> None:
    from .envs import PROGRESS_ENVS

    name = (cfg.get("env") or {}).get("name")
    if _get(cfg, "labeling.outcome") == "progress" and name and name not in PROGRESS_ENVS:
        raise InputError(f"labeling.outcome: 'progress' needs an env that tells its steps to go "
                         f"({', '.join(PROGRESS_ENVS)}); env '{name}' cannot: set labeling.outcome: success")


def check_seeds(cfg: dict) -> None:
    _unique(cfg, "training.seeds", "seed")
    _unique(cfg, "phase0.k_offsets", "offset")  # duplicate offsets would mine duplicate snapshot ids
    _unique(cfg, "predictor.k_values", "K")
    _unique(cfg, "predictor.ngrams", "n-gram size")
    phases = _get(cfg, "validation.phases")
    if phases and any(b <= a for a, b in zip(phases, phases[1:])):
        raise InputError(f"validation.phases: seed counts must increase (cumulative phases), got {phases}")
    start, seeds = _get(cfg, "validation.seed_start"), _get(cfg, "training.seeds")
    if start is not None and seeds and phases:
        fresh = set(range(start, start + max(phases)))
        clash = sorted(fresh & set(seeds))
        if clash:
            raise InputError(f"validation.seed_start: fresh validation seeds overlap training.seeds ({clash[0]})")


CHECKS = (check_env, check_paths, check_teacher, check_selection, check_quadrants, check_labeling, check_seeds)


def check_config(cfg: dict, source: str = "config") -> dict:
    """Run every check on a validated (defaults filled) config; InputError names the key."""
    for check in CHECKS:
        try:
            check(cfg)
        except InputError as e:
            raise InputError(f"{source}: {e}") from None
    return cfg

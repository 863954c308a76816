"""Environments are plug-ins chosen by name: make_env(name, **params)."""

from __future__ import annotations

from ..io import InputError
from .base import InvalidAction, Obs, TextEnv


def _babyai(**kw):
    from .babyai import BabyAITextEnv

    return BabyAITextEnv(**kw)


def _textworld(**kw):
    from .textworld import TextWorldEnv

    return TextWorldEnv(**kw)


def _mock(**kw):
    from .mock import MockEnv

    return MockEnv(**kw)


REGISTRY = {"babyai": _babyai, "mock": _mock, "textworld": _textworld}
# envs whose steps_to_go() tells the shortest plan length (labeling.outcome: progress)
PROGRESS_ENVS = ("babyai", "mock", "textworld")
# envs whose tasks split into phase-0/labeling tasks and held-out evaluation tasks
SPLIT_ENVS = ("textworld",)


def check_state(env: TextEnv, state: bytes) -> None:
    """Validate a state for `env` as data, without restoring it (ValueError if bad)."""
    env.check_state(state)


def make_env(name: str, **params) -> TextEnv:
    if name not in REGISTRY:
        raise InputError(f"env.name: unknown environment '{name}' (known: {', '.join(sorted(REGISTRY))})")
    return REGISTRY[name](**params)


def job_section(env_cfg: dict) -> dict:
    """The `env` section as a job sees it: without the nested options of the other envs
    (`env.textworld` in a BabyAI run), so that a change to them does not make the job stale."""
    return {k: v for k, v in env_cfg.items() if k not in REGISTRY or k == env_cfg["name"]}


def env_from_config(env_cfg: dict, expert: bool = True, split: str = "tasks") -> TextEnv:
    """The env of a config's `env` section; expert=False where no stage asks for the expert
    (evaluation), so an env whose expert costs time (BabyAI's bot) can skip it. A nested
    section named after an env (`env.textworld`) holds that env's own options; split='eval'
    asks envs with a finite task pool (SPLIT_ENVS) for their held-out evaluation tasks."""
    name = env_cfg["name"]
    params = {k: v for k, v in env_cfg.items() if k != "name" and k not in REGISTRY}
    params.update(env_cfg.get(name) or {})
    if name in SPLIT_ENVS:
        params["split"] = split
    return make_env(name, expert=expert, **params)


__all__ = ["Obs", "TextEnv", "InvalidAction", "make_env", "env_from_config", "job_section", "check_state", "REGISTRY"]

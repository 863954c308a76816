"""Environments are plug-ins chosen by name: make_env(name, **params)."""

from __future__ import annotations

from ..io import InputError
from .base import InvalidAction, Obs, TextEnv


def _babyai(**kw):
    from .babyai import BabyAITextEnv

    return BabyAITextEnv(**kw)


def _mock(**kw):
    from .mock import MockEnv

    return MockEnv(**kw)


REGISTRY = {"babyai": _babyai, "mock": _mock}


def check_state(env: TextEnv, state: bytes) -> None:
    """Validate a state for `env` as data, without restoring it (ValueError if bad)."""
    env.check_state(state)


def make_env(name: str, **params) -> TextEnv:
    if name not in REGISTRY:
        raise InputError(f"env.name: unknown environment '{name}' (known: {', '.join(sorted(REGISTRY))})")
    return REGISTRY[name](**params)


def env_from_config(env_cfg: dict, expert: bool = True) -> TextEnv:
    """The env of a config's `env` section; expert=False where no stage asks for the expert
    (evaluation), so an env whose expert costs time (BabyAI's bot) can skip it."""
    params = {k: v for k, v in env_cfg.items() if k != "name"}
    return make_env(env_cfg["name"], expert=expert, **params)


__all__ = ["Obs", "TextEnv", "InvalidAction", "make_env", "env_from_config", "check_state", "REGISTRY"]

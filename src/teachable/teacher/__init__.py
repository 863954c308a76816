"""Teachers behind one interface (docs/design.md §5; docs/teacher.md):

    teacher = make_teacher(cfg["teacher"], cache_dir="results/phase1/teacher_cache")
    teacher.check_ready()                      # before any work: e.g. no API key -> InputError
    advice = teacher.advise(TeacherRequest(...))   # TeacherAdvice; advice.to_dict() for JSON
    write_json(path, teacher.usage.to_dict())  # per shard; merge_usage(list of dicts) sums shards
"""

from __future__ import annotations

from ..io import InputError
from .base import BACKENDS, DEFAULTS, ERROR_TYPES, TeacherAdvice, TeacherError, TeacherRequest, resolve_config
from .cache import DiskCache
from .usage import COUNTS, Usage, merge_usage


class Teacher:
    """A backend plus the disk cache and the usage counters.

    Cache policy: backends that cost money (openai) use the disk cache; bot and mock are
    deterministic and free and never touch it. Only valid answers are cached: a flagged
    answer (valid=False) is asked again on the next run, so a fixed prompt, model or server
    can repair it; `usage.flagged` says how many such re-asks a rerun will pay for."""

    def __init__(self, backend, cfg: dict, cache_dir=None, usage: Usage | None = None):
        self.backend = backend
        self.cfg = cfg
        self.cache = DiskCache(cache_dir if backend.uses_cache else None)
        self.usage = usage if usage is not None else Usage()
        self.usage.backend, self.usage.model = backend.name, backend.model
        self.usage.price_in_per_1k = cfg["price_in_per_1k"] if backend.name == "openai" else 0.0
        self.usage.price_out_per_1k = cfg["price_out_per_1k"] if backend.name == "openai" else 0.0

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def model(self) -> str:
        return self.backend.model

    def __repr__(self) -> str:
        return f"Teacher({self.backend!r}, cache={self.cache.root})"

    def check_ready(self) -> None:
        """Fail at once (InputError) when the backend cannot work, e.g. no API key."""
        self.backend.check_ready()

    def advise(self, req: TeacherRequest) -> TeacherAdvice:
        req.check()
        self.usage.requests += 1
        key = None
        if self.cache.root is not None:
            prompt, params = self.backend.cache_fields(req)
            key = self.cache.key(self.backend.name, self.backend.model, prompt, params)
            hit = self.cache.get(key)
            if hit is not None:
                self.usage.cache_hits += 1
                return TeacherAdvice.from_dict({**hit["advice"], "cached": True, "retries": 0})
        try:
            adv, stats = self.backend.answer(req)
        except TeacherError as e:
            self.usage.add(e.stats)
            self.usage.failures += 1
            raise
        self.usage.add(stats)
        if adv.valid:
            if key is not None:
                self.cache.put(key, adv.to_dict(), {k: stats.get(k, 0) for k in ("tokens_in", "tokens_out")})
        else:
            self.usage.flagged += 1
        return adv


def make_teacher(cfg: dict | None, cache_dir=None, usage: Usage | None = None) -> Teacher:
    """The teacher named by cfg['backend'] ('bot' | 'openai' | 'mock'); missing keys take
    DEFAULTS. An unknown backend or a bad value raises InputError naming `teacher.<key>`."""
    cfg = resolve_config(cfg)
    name = cfg["backend"]
    if name == "bot":
        from .bot import BotTeacher as B
    elif name == "openai":
        from .openai_backend import OpenAITeacher as B
    elif name == "mock":
        from .mock import MockTeacher as B
    else:  # resolve_config already refused it; kept for a backend added to BACKENDS only
        raise InputError(f"teacher.backend: unknown backend {name!r} (known: {', '.join(BACKENDS)})")
    return Teacher(B(cfg), cfg, cache_dir, usage)


__all__ = ["make_teacher", "merge_usage", "resolve_config", "Teacher", "TeacherRequest", "TeacherAdvice",
           "TeacherError", "Usage", "DiskCache", "ERROR_TYPES", "BACKENDS", "DEFAULTS", "COUNTS"]

"""Teachers behind one interface: make_teacher(cfg, cache_dir).advise(TeacherRequest)."""

from __future__ import annotations

from ..io import InputError
from .base import ERROR_TYPES, TeacherAdvice, TeacherError, TeacherRequest
from .cache import DiskCache
from .usage import Usage, merge_usage

BACKENDS = ("bot", "openai", "mock")


class Teacher:
    """A backend plus the disk cache and the usage counters. Only valid answers are cached,
    so a flagged answer is asked again on the next run."""

    def __init__(self, backend, cfg: dict, cache_dir=None):
        self.backend = backend
        self.cfg = cfg
        self.cache = DiskCache(cache_dir)
        self.usage = Usage(backend=backend.name, model=backend.model,
                           price_in_per_1k=cfg.get("price_in_per_1k", 0.0),
                           price_out_per_1k=cfg.get("price_out_per_1k", 0.0))

    def check_ready(self) -> None:
        self.backend.check_ready()

    def advise(self, req: TeacherRequest) -> TeacherAdvice:
        self.usage.requests += 1
        params = self.backend.request_params(req) if hasattr(self.backend, "request_params") else {}
        prompt = [req.mission, req.obs_text, list(req.valid_actions), req.student_action,
                  req.expert_action, req.expert_subgoal]
        key = self.cache.key(self.backend.name, self.backend.model, prompt, params)
        hit = self.cache.get(key)
        if hit is not None:
            self.usage.cache_hits += 1
            return TeacherAdvice(**{**hit, "cached": True})
        try:
            adv, stats = self.backend.answer(req)
        except TeacherError as e:
            self._count(e.stats)
            self.usage.errors += 1
            raise
        self._count(stats)
        if adv.valid:
            self.cache.put(key, adv.to_dict())
        else:
            self.usage.flagged += 1
        return adv


    def _count(self, stats: dict) -> None:
        for k in ("calls", "tokens_in", "tokens_out", "invalid_answers", "errors"):
            setattr(self.usage, k, getattr(self.usage, k) + stats.get(k, 0))
        self.usage.retries += max(0, stats.get("calls", 0) - 1)


def make_teacher(cfg: dict, cache_dir=None) -> Teacher:
    name = cfg.get("backend", "bot")
    if name == "bot":
        from .bot import BotTeacher as B
    elif name == "openai":
        from .openai_backend import OpenAITeacher as B
    elif name == "mock":
        from .mock import MockTeacher as B
    else:
        raise InputError(f"teacher.backend: unknown backend '{name}' (known: {', '.join(BACKENDS)})")
    return Teacher(B(cfg), cfg, cache_dir)


__all__ = ["make_teacher", "merge_usage", "Teacher", "TeacherRequest", "TeacherAdvice", "TeacherError",
           "ERROR_TYPES", "BACKENDS", "Usage"]

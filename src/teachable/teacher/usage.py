"""Teacher usage accounting. Each labeling shard writes its `Usage.to_dict()`; the gather
step sums them with `merge_usage` into results/phase1/teacher_usage.json."""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..io import InputError

# Counters, summed by merge_usage.
COUNTS = {
    "requests": "advice requests (cache hits included)",
    "cache_hits": "requests answered from the disk cache (no call, no cost)",
    "calls": "backend calls: HTTP requests sent (openai, retries included) or answers computed (bot, mock)",
    "retries": "calls beyond the first of a request",
    "errors": "failed calls: HTTP 429/5xx/other status, timeouts, connection errors",
    "invalid_answers": "answers whose suggested_action is not one of the valid actions",
    "malformed_answers": "answers that are not JSON of the advice schema",
    "repaired_answers": "accepted answers whose envelope or auxiliary fields were repaired (see the flags)",
    "repaired_fenced_json": "accepted answers whose JSON object came inside a ``` fence",
    "repaired_surrounding_text": "accepted answers whose JSON object was surrounded by other text",
    "repaired_confidence_word": "accepted answers whose confidence was a word (mapped to a number)",
    "repaired_confidence_string": "accepted answers whose confidence was a numeric string",
    "repaired_error_type": "accepted answers whose error_type was a near miss of a known type",
    "param_switches": "calls re-sent with max_completion_tokens after the server refused max_tokens",
    "flagged": "requests that ended in a flagged record (valid=False)",
    "failures": "requests that raised TeacherError (no record; the stage stopped)",
    "tokens_in": "prompt tokens reported by the server (every answered call)",
    "tokens_out": "completion tokens reported by the server (every answered call)",
}


@dataclass
class Usage:
    backend: str = ""
    model: str = ""
    price_in_per_1k: float = 0.0
    price_out_per_1k: float = 0.0
    requests: int = 0
    cache_hits: int = 0
    calls: int = 0
    retries: int = 0
    errors: int = 0
    invalid_answers: int = 0
    malformed_answers: int = 0
    repaired_answers: int = 0
    repaired_fenced_json: int = 0
    repaired_surrounding_text: int = 0
    repaired_confidence_word: int = 0
    repaired_confidence_string: int = 0
    repaired_error_type: int = 0
    param_switches: int = 0
    flagged: int = 0
    failures: int = 0
    tokens_in: int = 0
    tokens_out: int = 0

    @property
    def estimated_cost_usd(self) -> float:
        return self.tokens_in / 1000 * self.price_in_per_1k + self.tokens_out / 1000 * self.price_out_per_1k

    def add(self, stats: dict) -> None:
        """Add the counters of one backend answer (keys of COUNTS; others are ignored)."""
        for k in COUNTS:
            if k in stats:
                setattr(self, k, getattr(self, k) + int(stats[k]))

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["estimated_cost_usd"] = round(self.estimated_cost_usd, 6)
        return d


def merge_usage(parts: list[dict]) -> dict:
    """Sum several usage dicts (one per labeling shard). Costs are summed as written (each
    shard priced its own tokens); backend/model/prices are kept when all parts agree and
    joined with ',' (prices: None) when they differ. `n_parts` counts the inputs."""
    parts = list(parts)
    for i, p in enumerate(parts):
        if not isinstance(p, dict):
            raise InputError(f"merge_usage: part {i} is a {type(p).__name__}, expected a usage dict")
    out: dict = {}
    for k in ("backend", "model"):
        vals = sorted({str(p[k]) for p in parts if p.get(k)})
        out[k] = ",".join(vals)
    for k in ("price_in_per_1k", "price_out_per_1k"):
        vals = {p[k] for p in parts if k in p}
        out[k] = vals.pop() if len(vals) == 1 else (0.0 if not vals else None)
    for k in COUNTS:
        try:
            out[k] = sum(int(p.get(k, 0)) for p in parts)
        except (TypeError, ValueError):
            raise InputError(f"merge_usage: counter '{k}' is not an integer in one of the parts") from None
    out["estimated_cost_usd"] = round(sum(float(p.get("estimated_cost_usd", 0.0)) for p in parts), 6)
    out["n_parts"] = len(parts)
    return out

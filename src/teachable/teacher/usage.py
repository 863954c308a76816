"""Teacher usage accounting; shards write theirs and a gather step sums them."""

from __future__ import annotations

from dataclasses import asdict, dataclass

COUNTS = ("calls", "cache_hits", "retries", "invalid_answers", "errors", "tokens_in", "tokens_out")


@dataclass
class Usage:
    backend: str = ""
    model: str = ""
    price_in_per_1k: float = 0.0
    price_out_per_1k: float = 0.0
    requests: int = 0  # advice requests (cached or not)
    calls: int = 0  # HTTP calls made (retries included)
    cache_hits: int = 0
    retries: int = 0
    invalid_answers: int = 0  # answers outside valid_actions (before retry)
    flagged: int = 0  # records finally flagged invalid
    errors: int = 0
    tokens_in: int = 0
    tokens_out: int = 0

    @property
    def estimated_cost_usd(self) -> float:
        return self.tokens_in / 1000 * self.price_in_per_1k + self.tokens_out / 1000 * self.price_out_per_1k

    def to_dict(self) -> dict:
        return {**asdict(self), "estimated_cost_usd": round(self.estimated_cost_usd, 6)}


def merge_usage(parts: list[dict]) -> dict:
    """Sum the counters of several usage dicts (one per labeling shard)."""
    if not parts:
        return Usage().to_dict()
    total = Usage(backend=parts[0].get("backend", ""), model=parts[0].get("model", ""),
                  price_in_per_1k=parts[0].get("price_in_per_1k", 0.0),
                  price_out_per_1k=parts[0].get("price_out_per_1k", 0.0))
    for p in parts:
        for k in ("requests", "flagged", *COUNTS):
            setattr(total, k, getattr(total, k) + int(p.get(k, 0)))
    out = total.to_dict()
    out["n_parts"] = len(parts)
    return out

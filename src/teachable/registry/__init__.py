"""Run registry: every run.json, metrics.jsonl and per-run evaluation under a results dir,
indexed into SQLite (results/registry.sqlite) and queried by run name.

Names load on first use (teachable._lazy): a training job that needs only the W&B mirror
does not pay for scipy.stats, which `values` imports."""

from .._lazy import lazy_exports

_EXPORTS = {"build_registry": "index", "IndexReport": "index", "flatten": "index", "Registry": "query",
            "seed_values": "values", "SeedValues": "values"}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)

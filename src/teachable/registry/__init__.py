"""Run registry: every run.json, metrics.jsonl and per-run evaluation under a results dir,
indexed into SQLite (results/registry.sqlite) and queried by run name."""

from .index import IndexReport, build_registry, flatten
from .query import Registry
from .values import SeedValues, seed_values

__all__ = ["build_registry", "IndexReport", "flatten", "Registry", "seed_values", "SeedValues"]

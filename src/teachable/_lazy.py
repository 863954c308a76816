"""Package namespaces whose names load on first use (PEP 562 module __getattr__).

A job imports a package for one function; loading every submodule up front would make it
pay for scipy.stats, statsmodels or matplotlib as well (about a second per process, and the
DAG runs hundreds of processes)."""

from __future__ import annotations

from importlib import import_module
from typing import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], object]:
    """A module __getattr__ for `package` that imports `exports[name]` (a submodule) on first use;
    another name is looked up as a submodule, as attribute access finds an imported one."""
    def __getattr__(name: str):
        if name in exports:
            return getattr(import_module(f".{exports[name]}", package), name)
        try:
            return import_module(f".{name}", package)
        except ModuleNotFoundError as e:
            if e.name != f"{package}.{name}":
                raise
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None

    return __getattr__

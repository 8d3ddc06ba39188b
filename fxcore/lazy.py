"""Lazy package attributes, so that ``fx`` starts without importing torch and friends.

A job package (``fxcore.explore``, ``fxcore.mds``) re-exports names from heavy modules::

    __getattr__ = lazy_attributes(__name__, {"run_mds": "fxcore.mds.run"})

and each name is imported from its module on first access (PEP 562).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``names[name]`` and returns its attribute ``name``."""

    def __getattr__(name: str) -> Any:
        if name in names:
            return getattr(importlib.import_module(names[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__

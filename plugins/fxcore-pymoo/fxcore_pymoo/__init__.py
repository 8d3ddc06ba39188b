"""fxcore plugin ``pymoo``: the ``ga`` selector (a genetic algorithm, pymoo ask/tell)."""

from __future__ import annotations

from fxcore import hookimpl
from fxcore_pymoo.selector import GaParams, GaSelector


@hookimpl
def fxcore_register_selectors(register):  # type: ignore[no-untyped-def]
    register("ga", GaSelector, GaParams)


__all__ = ["GaParams", "GaSelector"]

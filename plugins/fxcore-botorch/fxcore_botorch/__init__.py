"""fxcore plugin ``botorch``: the ``botorch`` selector (GP Bayesian optimisation)."""

from __future__ import annotations

from fxcore import hookimpl
from fxcore_botorch.model import GpFitter, build_gp
from fxcore_botorch.selector import BotorchParams, BotorchSelector


@hookimpl
def fxcore_register_selectors(register):  # type: ignore[no-untyped-def]
    register("botorch", BotorchSelector, BotorchParams)


__all__ = ["BotorchParams", "BotorchSelector", "GpFitter", "build_gp"]

"""fxcore plugin ``botorch``: the ``botorch`` selector (GP Bayesian optimisation)."""

from __future__ import annotations

import warnings

from fxcore import hookimpl
from fxcore.quiet import hide_library_warnings

with warnings.catch_warnings():  # linear_operator calls torch.jit.script at import (deprecated)
    hide_library_warnings()
    from fxcore_botorch.model import GpFitter, build_gp
    from fxcore_botorch.selector import BotorchParams, BotorchSelector


@hookimpl
def fxcore_register_selectors(register):  # type: ignore[no-untyped-def]
    register("botorch", BotorchSelector, BotorchParams)


__all__ = ["BotorchParams", "BotorchSelector", "GpFitter", "build_gp"]

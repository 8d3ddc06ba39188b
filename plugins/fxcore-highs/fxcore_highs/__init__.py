"""fxcore-highs: the OPAL accuracy-targeted labeller as a MILP solved with HiGHS.

Registers the labeller ``opal-milp`` (:class:`OpalMilpLabeller`, params
:class:`OpalMilpParams`). The solver modules (:mod:`~fxcore_highs.milp`,
:mod:`~fxcore_highs.reduce`, :mod:`~fxcore_highs.cones`, :mod:`~fxcore_highs.bounds`,
:mod:`~fxcore_highs.opal`) use numpy and highspy only and work without the kernel.
"""

from __future__ import annotations

from typing import Any

from .labeller import OpalMilpLabeller, OpalMilpParams
from .milp import fit_opal
from .opal import OpalPolicy

__all__ = ["OpalMilpLabeller", "OpalMilpParams", "OpalPolicy", "fit_opal"]

try:
    import fxcore
except ImportError:  # the kernel is not installed: the solver still works on its own
    fxcore = None

if fxcore is not None:

    @fxcore.hookimpl
    def fxcore_register_labellers(register: Any) -> None:
        """Register ``opal-milp``."""
        register("opal-milp", OpalMilpLabeller, OpalMilpParams)

"""fxcore plugin ``allpairs``: the ``tway`` selector (combinatorial t-way testing)."""

from __future__ import annotations

from fxcore import hookimpl
from fxcore_allpairs.coverage import TupleIndex
from fxcore_allpairs.selector import TwayParams, TwaySelector, covering_rows


@hookimpl
def fxcore_register_selectors(register):  # type: ignore[no-untyped-def]
    register("tway", TwaySelector, TwayParams)


__all__ = ["TupleIndex", "TwayParams", "TwaySelector", "covering_rows"]

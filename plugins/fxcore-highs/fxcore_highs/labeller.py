"""The ``opal-milp`` labeller component (contract :class:`fxcore.contracts.Labeller`)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .milp import fit_opal
from .opal import OpalPolicy


class OpalMilpParams(BaseModel):
    """Parameters of ``opal-milp``; see ``docs/labellers.md``."""

    model_config = ConfigDict(extra="forbid")

    condition: Literal["all", "majority"] = Field(
        "all", description="OPAL Condition 1: all classifiers agree, or the unique majority label"
    )
    formulation: Literal["tight", "paper"] = Field(
        "tight", description="tight: reductions + cone search + HiGHS; paper: the literal MILP"
    )
    time_limit: float = Field(60.0, gt=0, description="seconds for the whole fit")
    guarantee: float | None = Field(
        None, gt=0, lt=1,
        description="δ: require the Clopper–Pearson (1−δ) bound on the auto-label error ≤ 1−α",
    )
    mip_rel_gap: float = Field(0.0, ge=0, description="HiGHS relative gap at which to stop")
    threads: int = Field(1, ge=1, description="HiGHS threads")
    verbose: bool = Field(False, description="print the HiGHS log")


class OpalMilpLabeller:
    """OPAL labeller: fit ``w`` on an optimisation set so that as few items as possible go to
    a person while the target accuracy α holds (see :func:`fxcore_highs.milp.fit_opal`)."""

    def __init__(self, **params: object) -> None:
        self.params = OpalMilpParams.model_validate(params)

    def fit(self, probs: np.ndarray, truth: np.ndarray, target_accuracy: float) -> OpalPolicy:
        """``probs (M, N, C)``, ``truth (N,)``, α -> a fitted :class:`OpalPolicy`."""
        p = self.params
        return fit_opal(
            probs,
            truth,
            target_accuracy,
            condition=p.condition,
            formulation=p.formulation,
            guarantee=p.guarantee,
            time_limit=p.time_limit,
            mip_rel_gap=p.mip_rel_gap,
            threads=p.threads,
            verbose=p.verbose,
        )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.model_dump().items())
        return f"OpalMilpLabeller({args})"

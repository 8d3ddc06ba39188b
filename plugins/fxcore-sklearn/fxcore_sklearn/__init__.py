"""fxcore-sklearn: surrogate-BO selectors with scikit-learn regressors.

Selectors: ``surrogate`` (any model and acquisition), the presets ``rf``, ``lasso``, ``linear``,
``svr``, ``bayesian-ridge``, ``additive-gp`` (the model fixed), and ``lasso-greedy`` (the BO
paper's rule).
"""

from __future__ import annotations

from functools import partial

import fxcore
from fxcore_sklearn.selector import (
    AcquisitionParams,
    LassoGreedyParams,
    SurrogateParams,
    SurrogateSelector,
    lasso_greedy,
)

__all__ = ["SurrogateSelector", "SurrogateParams", "lasso_greedy"]

PRESETS = ("rf", "lasso", "linear", "svr", "bayesian-ridge", "additive-gp")


@fxcore.hookimpl
def fxcore_register_selectors(register):  # type: ignore[no-untyped-def]
    register("surrogate", SurrogateSelector, SurrogateParams)
    for model in PRESETS:
        register(model, partial(SurrogateSelector, model=model), AcquisitionParams)
    register("lasso-greedy", lasso_greedy, LassoGreedyParams)

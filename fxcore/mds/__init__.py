"""The ``mds`` job: GeValDi's maximally different samples (Algorithm 1) and its ensemble study.

- :mod:`fxcore.mds.optimise` — gradient ascent on ``D[{p_m(y|g(z))}] + λ log p(z)`` per batch;
- :mod:`fxcore.mds.run` — components from a config, chunks of starts recorded in the run store;
- :mod:`fxcore.mds.records` — top-n predictions, Δz and the hierarchical set distance;
- :mod:`fxcore.mds.report` — image grids, divergence and Δz curves (PNG + JSON), summary;
- :mod:`fxcore.mds.ensemble` — bagging ensemble, scores on test vs MDS sets, DBSCAN of latents.

Names are imported lazily so that ``fx`` (which imports ``fxcore.mds.cli``) starts without torch.
"""

from __future__ import annotations

from fxcore.lazy import lazy_attributes

_NAMES = {
    "MdsSetup": "fxcore.mds.optimise",
    "check_setup": "fxcore.mds.optimise",
    "optimise_batch": "fxcore.mds.optimise",
    "prepare": "fxcore.mds.run",
    "run_mds": "fxcore.mds.run",
}
__all__ = sorted(_NAMES)

__getattr__ = lazy_attributes(__name__, _NAMES)

"""The ``mds`` job: GeValDi's maximally different samples (Algorithm 1) and its ensemble study.

- :mod:`fxcore.mds.optimise` — gradient ascent on ``D[{p_m(y|g(z))}] + λ log p(z)`` per batch;
- :mod:`fxcore.mds.run` — components from a config, chunks of starts recorded in the run store;
- :mod:`fxcore.mds.records` — top-n predictions, Δz and the hierarchical set distance;
- :mod:`fxcore.mds.report` — image grids, divergence and Δz curves (PNG + JSON), summary;
- :mod:`fxcore.mds.ensemble` — bagging ensemble, scores on test vs MDS sets, DBSCAN of latents.
"""

from fxcore.mds.optimise import MdsSetup, check_setup, optimise_batch
from fxcore.mds.run import prepare, run_mds

__all__ = ["MdsSetup", "check_setup", "optimise_batch", "prepare", "run_mds"]

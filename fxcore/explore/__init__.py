"""The ``explore`` job: find the subdomains of an evaluation domain where a classifier fails
(Le Coz et al. 2024, Algorithm 1). See ``docs/explore.md``."""

from fxcore.explore.job import build_components, explore, explore_file
from fxcore.explore.loop import ExploreResult, evaluate_subdomain, image_seed, run_explore

__all__ = [
    "ExploreResult",
    "build_components",
    "evaluate_subdomain",
    "explore",
    "explore_file",
    "image_seed",
    "run_explore",
]

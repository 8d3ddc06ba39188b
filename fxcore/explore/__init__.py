"""The ``explore`` job: find the subdomains of an evaluation domain where a classifier fails
(Le Coz et al. 2024, Algorithm 1). See ``docs/explore.md``.

Names are imported lazily so that ``fx`` (which imports ``fxcore.explore.cli``) starts fast.
"""

from __future__ import annotations

from fxcore.lazy import lazy_attributes

_NAMES = {
    "build_components": "fxcore.explore.job",
    "explore": "fxcore.explore.job",
    "EXPLORE": "fxcore.explore.job",
    "ExploreResult": "fxcore.explore.loop",
    "evaluate_subdomain": "fxcore.explore.loop",
    "image_seed": "fxcore.explore.loop",
    "run_explore": "fxcore.explore.loop",
}

__all__ = sorted(_NAMES)

__getattr__ = lazy_attributes(__name__, _NAMES)

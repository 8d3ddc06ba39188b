"""fxcore: generative validation of image classifiers.

The kernel holds the schemas, the component contracts, the plugin hooks, the run store and the
three pipelines (``explore``, ``mds``, ``label``). Models, solvers and optimisers live in plugins.
"""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

PROJECT_NAME = "fxcore"
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Decorator for plugin hook implementations: ``@fxcore.hookimpl``."""

__all__ = ["PROJECT_NAME", "__version__", "hookimpl"]

"""fxcore-timm: any timm image model as an fxcore classifier named ``timm``.

timm is imported when a classifier is built, so discovering the plugin stays fast.
"""

from __future__ import annotations

import fxcore
from fxcore_timm.classifier import TimmClassifier, TimmParams

__all__ = ["TimmClassifier", "TimmParams"]


@fxcore.hookimpl
def fxcore_register_classifiers(register):  # type: ignore[no-untyped-def]
    register("timm", TimmClassifier, TimmParams)

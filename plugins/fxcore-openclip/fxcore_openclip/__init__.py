"""fxcore-openclip: the BO paper's zero-shot CLIP filter as an fxcore filter named ``openclip``.

open_clip is imported when a filter is built, so discovering the plugin stays fast.
"""

from __future__ import annotations

import fxcore
from fxcore_openclip.filter import OpenClipFilter, OpenClipParams

__all__ = ["OpenClipFilter", "OpenClipParams"]


@fxcore.hookimpl
def fxcore_register_filters(register):  # type: ignore[no-untyped-def]
    register("openclip", OpenClipFilter, OpenClipParams)

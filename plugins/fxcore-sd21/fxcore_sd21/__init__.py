"""fxcore-sd21: Stable Diffusion 2.1 (diffusers) as an fxcore generator named ``sd21``.

diffusers is imported only when a model is loaded, so discovering the plugin stays fast.
"""

from __future__ import annotations

import fxcore
from fxcore_sd21.generator import (
    DEFAULT_MODEL,
    REALISTIC_SUFFIX,
    SD21Params,
    StableDiffusionGenerator,
)

__all__ = ["DEFAULT_MODEL", "REALISTIC_SUFFIX", "SD21Params", "StableDiffusionGenerator"]


@fxcore.hookimpl
def fxcore_register_generators(register):  # type: ignore[no-untyped-def]
    register("sd21", StableDiffusionGenerator, SD21Params)

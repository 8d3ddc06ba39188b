"""fxcore-biggan: class-conditional BigGAN-deep as an fxcore latent generator named ``biggan``
(for ``fx mds``), also registered as a generator of the same name (``generate``, for
``fx explore``: the class comes from an attribute)."""

from __future__ import annotations

import fxcore
from fxcore_biggan.generator import DEFAULT_MODEL, BigGANGenerator, BigGANParams

__all__ = ["DEFAULT_MODEL", "BigGANGenerator", "BigGANParams"]


@fxcore.hookimpl
def fxcore_register_latent_generators(register):  # type: ignore[no-untyped-def]
    register("biggan", BigGANGenerator, BigGANParams)


@fxcore.hookimpl
def fxcore_register_generators(register):  # type: ignore[no-untyped-def]
    register("biggan", BigGANGenerator, BigGANParams)

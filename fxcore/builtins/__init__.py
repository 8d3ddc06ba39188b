"""Components that ship with the kernel, registered through the same hooks as any plugin."""

from __future__ import annotations

from fxcore import hookimpl
from fxcore.builtins.divergences import KL, DivergenceParams, JensenShannon, ReverseKL
from fxcore.builtins.selectors import ExhaustiveSelector, RandomSelector


@hookimpl
def fxcore_register_selectors(register):  # type: ignore[no-untyped-def]
    register("random", RandomSelector)
    register("exhaustive", ExhaustiveSelector)


@hookimpl
def fxcore_register_divergences(register):  # type: ignore[no-untyped-def]
    register("kl", KL, DivergenceParams)
    register("reverse-kl", ReverseKL, DivergenceParams)
    register("js", JensenShannon, DivergenceParams)

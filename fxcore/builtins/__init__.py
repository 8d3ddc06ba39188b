"""Components that ship with the kernel, registered through the same hooks as any plugin."""

from __future__ import annotations

from fxcore import hookimpl
from fxcore.builtins.divergences import KL, DivergenceParams, JensenShannon, ReverseKL
from fxcore.builtins.python import PythonParams, python_classifier
from fxcore.builtins.selectors import ExhaustiveSelector, RandomSelector


@hookimpl
def fxcore_register_selectors(register):  # type: ignore[no-untyped-def]
    register("random", RandomSelector)
    register("exhaustive", ExhaustiveSelector)


@hookimpl
def fxcore_register_classifiers(register):  # type: ignore[no-untyped-def]
    # your own model, only where FXCORE_ALLOW_PYTHON allows its module (fxcore.builtins.python)
    register("python", python_classifier, PythonParams)


@hookimpl
def fxcore_register_executors(register):  # type: ignore[no-untyped-def]
    from fxcore.builtins.executors import LocalExecutor

    register("local", LocalExecutor)


@hookimpl
def fxcore_register_divergences(register):  # type: ignore[no-untyped-def]
    register("kl", KL, DivergenceParams)
    register("reverse-kl", ReverseKL, DivergenceParams)
    register("js", JensenShannon, DivergenceParams)


@hookimpl
def fxcore_register_annotators(register):  # type: ignore[no-untyped-def]
    from fxcore.label.annotators import (
        FileAnnotator,
        FileParams,
        PromptAnnotator,
        PromptParams,
        SimulatedAnnotator,
        SimulateParams,
    )

    register("simulate", SimulatedAnnotator, SimulateParams)
    register("file", FileAnnotator, FileParams)
    register("prompt", PromptAnnotator, PromptParams)
    from fxcore.label.web import WebAnnotator, WebParams  # FastAPI is imported when it serves

    register("web", WebAnnotator, WebParams)


@hookimpl
def fxcore_register_labellers(register):  # type: ignore[no-untyped-def]
    from fxcore.label.baselines import ThresholdLabeller, ThresholdParams

    register("threshold", ThresholdLabeller, ThresholdParams)

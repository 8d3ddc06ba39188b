"""The built-in classifier ``python``: your own model, named by a config, **only** where the
environment that runs ``fx`` allows its module.

A config may not run code (it can come from anywhere: a colleague, a bug report, a benchmark
folder). So ``classifier = {name = "python", params = {object = "mymodels:build"}}`` is refused
when the config is checked — nothing imported — unless the variable ``FXCORE_ALLOW_PYTHON``
lists the module (``mymodels``) or a package above it (``mypkg`` allows ``mypkg.nets``). The
variable is set by whoever runs ``fx``, never by the config, so a config alone cannot import
code. From Python, pass the model itself instead (``components={"classifier": model}``); no
variable is needed there.

``object`` names a callable, called with ``kwargs``, or a module-level object. What it gives is
used as it is when it follows the Classifier contract, and wrapped in
:class:`fxcore.models.TorchClassifier` (with ``classes``, ``device``, ``channels``, ``size``,
``mean``, ``std``, ``output``) when it is a ``torch.nn.Module``.
"""

from __future__ import annotations

import importlib
import os
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ALLOW_VAR = "FXCORE_ALLOW_PYTHON"
_OBJECT = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


def allowed_modules() -> list[str]:
    """The modules (and packages) ``FXCORE_ALLOW_PYTHON`` allows, comma-separated."""
    return [m.strip() for m in os.environ.get(ALLOW_VAR, "").split(",") if m.strip()]


def check_allowed(obj: str) -> str:
    """``obj`` (``module:attribute``) if the environment allows its module; else a one-line
    ``ValueError`` saying how to allow it. Nothing is imported."""
    if not _OBJECT.match(obj):
        raise ValueError(f"{obj!r} is not 'module:attribute' (e.g. 'mymodels:build')")
    module = obj.partition(":")[0]
    allowed = allowed_modules()
    if not any(module == m or module.startswith(m + ".") for m in allowed):
        now = f" (it allows: {', '.join(allowed)})" if allowed else ""
        raise ValueError(
            f"{obj!r} is refused: a config alone cannot import code (nothing was imported); "
            f"whoever runs fx may allow the module by setting {ALLOW_VAR}={module}{now}, or pass "
            "the model from Python: components={'classifier': model} (docs/howto.md)")
    return obj


class PythonParams(BaseModel):
    """Params of ``python``; ``object`` is checked against ``FXCORE_ALLOW_PYTHON``."""

    model_config = ConfigDict(extra="forbid")

    object: str = Field(description="'module:callable' (or 'module:object') giving the model")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="arguments of the call")
    classes: list[str] | None = Field(
        None, description="output column names; needed for a bare nn.Module")
    device: str = "cpu"
    channels: Literal[1, 3] = 3
    size: int | tuple[int, int] | None = Field(None, description="resize images to this")
    mean: list[float] | None = None
    std: list[float] | None = None
    output: Literal["logits", "probabilities", "log-probabilities"] = "logits"

    @field_validator("object")
    @classmethod
    def _allowed(cls, v: str) -> str:
        return check_allowed(v)


def python_classifier(object: str, kwargs: dict[str, Any] | None = None,  # noqa: A002
                      classes: list[str] | None = None, device: str = "cpu",
                      channels: Literal[1, 3] = 3, size: int | tuple[int, int] | None = None,
                      mean: list[float] | None = None, std: list[float] | None = None,
                      output: Literal["logits", "probabilities", "log-probabilities"] = "logits",
                      ) -> Any:
    """Import ``object`` (allowed by the environment), call it, and return a classifier."""
    check_allowed(object)  # again: a factory called directly gets the same rule
    import torch

    from fxcore.contracts import Classifier
    from fxcore.models import TorchClassifier

    module_name, _, attr = object.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import {object!r}: {exc}") from None
    made = found(**(kwargs or {})) if callable(found) and not isinstance(
        found, torch.nn.Module) else found
    if kwargs and made is found:
        raise ValueError(f"{object!r} is not callable, so kwargs cannot be passed to it")
    if isinstance(made, torch.nn.Module):
        if classes is None:
            raise ValueError(f"{object!r} gave a torch.nn.Module: give classes = [...], the "
                             "names of its output columns")
        return TorchClassifier(made, classes, device=device, channels=channels, size=size,
                               mean=mean, std=std, output=output)
    if isinstance(made, Classifier):
        return made
    raise ValueError(f"{object!r} gave a {type(made).__name__}, neither a torch.nn.Module nor "
                     "a classifier (classes, differentiable, predict_proba)")

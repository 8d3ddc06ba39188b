"""A test plugin whose components return garbage on demand, for the boundary checks' tests.

Every component wraps a working one (the digits plugin of ``explore_digits``; a small latent
generator for ``mds``) and takes ``mode`` (``ok`` or one of the kind's garbage modes below) and
``after`` (calls answered correctly before the garbage starts), so a run records some good
evaluations first and the bad output is the next one:

- generator ``garbage/gen`` and latent generator ``garbage/latent``: :data:`GENERATOR_MODES`;
- classifier ``garbage/clf``: :data:`CLASSIFIER_MODES`;
- filter ``garbage/filter``: :data:`FILTER_MODES`;
- selector ``garbage/sel`` (lowest candidate rows first): :data:`SELECTOR_MODES`.

Register with ``Registry.load(modules={"garbage": garbage_components})``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import explore_digits
import numpy as np
import torch
from pydantic import BaseModel, ConfigDict

import fxcore

Tensor = torch.Tensor


def _poke(x: Tensor, value: float) -> Tensor:
    x = x.detach().clone()
    x.view(-1)[0] = value
    return x


GENERATOR_MODES: dict[str, Callable[[Tensor], Any]] = {
    "nan": lambda x: _poke(x, float("nan")),
    "inf": lambda x: _poke(x, float("inf")),
    "negative": lambda x: x - 0.5,
    "x255": lambda x: x * 255,
    "short": lambda x: x[:-3],
    "long": lambda x: torch.cat([x, x]),
    "uint8": lambda x: (x * 255).to(torch.uint8),
    "numpy": lambda x: x.detach().numpy(),
    "3d": lambda x: x[:, 0],
}

CLASSIFIER_MODES: dict[str, Callable[[Tensor], Any]] = {
    "nan": lambda p: _poke(p, float("nan")),
    "inf": lambda p: _poke(p, float("inf")),
    "zeros": torch.zeros_like,
    "negative": lambda p: -p,
    "x1000": lambda p: p * 1000,
    "half": lambda p: p / 2,  # in [0, 1], rows sum to 0.5
    "logits": lambda p: torch.logit(p, eps=1e-6),
    "short": lambda p: p[:-3],
    "long": lambda p: torch.cat([p, p]),
    "columns": lambda p: p[:, :-1],
    "string": lambda p: "cat",
}

FILTER_MODES: dict[str, Callable[[Tensor, Tensor], Any]] = {
    "short-mask": lambda m, s: (m[:-1], s),
    "long-mask": lambda m, s: (torch.cat([m, m]), s),
    "int-mask": lambda m, s: (m.long(), s),
    "float-mask": lambda m, s: (m.float(), s),
    "nan-scores": lambda m, s: (m, _poke(s, float("nan"))),
    "short-scores": lambda m, s: (m, s[:-1]),
    "mask-only": lambda m, s: m,
}

SELECTOR_MODES: dict[str, Callable[[np.ndarray, np.ndarray, int], Any]] = {
    "floats": lambda rows, cand, k: rows + 0.5,
    "whole-floats": lambda rows, cand, k: rows.astype(np.float64),
    "bools": lambda rows, cand, k: np.ones(len(rows), dtype=bool),
    "duplicates": lambda rows, cand, k: np.repeat(rows[:1], 2),
    "too-many": lambda rows, cand, k: cand[: k + 1],
    "evaluated": lambda rows, cand, k: np.array([0]),  # row 0 was proposed first
    "out-of-range": lambda rows, cand, k: np.array([10**6]),
    "negative": lambda rows, cand, k: np.array([-1]),
    "empty": lambda rows, cand, k: np.zeros(0, dtype=np.int64),
}


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: str = "ok"
    after: int = 0


class _Switch:
    """Counts calls; ``bad()`` is true once ``after`` calls were answered correctly."""

    def __init__(self, modes: dict[str, Any], mode: str = "ok", after: int = 0) -> None:
        if mode != "ok" and mode not in modes:
            raise ValueError(f"mode {mode!r}: use ok or one of {sorted(modes)}")
        self.corrupt = modes.get(mode)
        self.after = after
        self.calls = 0

    def bad(self) -> bool:
        self.calls += 1
        return self.corrupt is not None and self.calls > self.after


class Generator(_Switch):
    channels = 1

    def __init__(self, mode: str = "ok", after: int = 0) -> None:
        super().__init__(GENERATOR_MODES, mode, after)
        self.inner = explore_digits.Render()

    def generate(self, prompt: str, attributes: dict[str, str], n: int, seed: int) -> Any:
        x = self.inner.generate(prompt, attributes, n, seed)
        return self.corrupt(x) if self.bad() else x


class Latent(_Switch):
    """An unconditional latent generator: ``sigmoid(W z)`` as 1x8x8 images (for ``mds``)."""

    latent_dim = 4
    channels = 1
    conditions = None

    def __init__(self, mode: str = "ok", after: int = 0) -> None:
        super().__init__(GENERATOR_MODES, mode, after)
        self.w = torch.randn(4, 64, generator=torch.Generator().manual_seed(0))

    def sample_latent(self, n: int, seed: int) -> Tensor:
        return torch.randn(n, 4, generator=torch.Generator().manual_seed(seed))

    def decode(self, z: Tensor, condition: Tensor | None = None) -> Any:
        x = torch.sigmoid(z @ self.w).view(-1, 1, 8, 8)
        return self.corrupt(x) if self.bad() else x

    def log_prior(self, z: Tensor) -> Tensor:
        return -0.5 * z.pow(2).sum(1)


class Classifier(_Switch):
    differentiable = True

    def __init__(self, mode: str = "ok", after: int = 0) -> None:
        super().__init__(CLASSIFIER_MODES, mode, after)
        self.inner = explore_digits.Softmax()
        self.classes = self.inner.classes

    def predict_proba(self, images: Tensor) -> Any:
        p = self.inner.predict_proba(images)
        return self.corrupt(p) if self.bad() else p


class Filter(_Switch):
    def __init__(self, mode: str = "ok", after: int = 0) -> None:
        super().__init__(FILTER_MODES, mode, after)
        self.inner = explore_digits.Ink(min_ink=0.0)

    def keep(self, images, subdomain, domain):  # type: ignore[no-untyped-def]
        mask, scores = self.inner.keep(images, subdomain, domain)
        return self.corrupt(mask, scores) if self.bad() else (mask, scores)


class Selector(_Switch):
    def __init__(self, mode: str = "ok", after: int = 0) -> None:
        super().__init__(SELECTOR_MODES, mode, after)

    def setup(self, space, seed: int) -> None:  # type: ignore[no-untyped-def]
        self.calls = 0  # a resume replays the calls from the start

    def propose(self, observed, candidates: np.ndarray, k: int) -> Any:  # type: ignore[no-untyped-def]
        rows = np.sort(candidates)[:k]
        return self.corrupt(rows, candidates, k) if self.bad() else rows


@fxcore.hookimpl
def fxcore_register_generators(register):  # type: ignore[no-untyped-def]
    register("gen", Generator, Params)


@fxcore.hookimpl
def fxcore_register_latent_generators(register):  # type: ignore[no-untyped-def]
    register("latent", Latent, Params)


@fxcore.hookimpl
def fxcore_register_classifiers(register):  # type: ignore[no-untyped-def]
    register("clf", Classifier, Params)


@fxcore.hookimpl
def fxcore_register_filters(register):  # type: ignore[no-untyped-def]
    register("filter", Filter, Params)


@fxcore.hookimpl
def fxcore_register_selectors(register):  # type: ignore[no-untyped-def]
    register("sel", Selector, Params)

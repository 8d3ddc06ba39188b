"""A small real plugin for the explore tests: scikit-learn's 8x8 handwritten digits.

- generator ``digits/render``: samples real digit images of the subdomain's ``digit`` and applies
  the attributes ``rotation`` (degrees), ``noise`` (Gaussian std) and ``occlusion`` (``none``,
  ``top`` half blanked, ``all`` blanked: the filter then rejects every image);
- classifier ``digits/softmax``: multinomial logistic regression trained on the upright,
  clean images (fit once per process with L-BFGS, < 1 s);
- filter ``digits/ink``: keeps images with enough ink.

Registered with ``Registry.load(modules={"digits": explore_digits})``; the subprocess tests import
it through ``tests/explore_launch.py``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

import fxcore


@functools.cache
def _digits() -> tuple[torch.Tensor, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32).unsqueeze(1)
    return x, d.target


def _rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    t = math.radians(degrees)
    theta = torch.tensor([[math.cos(t), -math.sin(t), 0.0], [math.sin(t), math.cos(t), 0.0]])
    grid = torch.nn.functional.affine_grid(theta.expand(len(x), 2, 3), list(x.shape), False)
    return torch.nn.functional.grid_sample(x, grid, align_corners=False)


class RenderParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pool: int = Field(1000, gt=0, description="images drawn from (the test images' rows)")


class Render:
    channels = 1

    def __init__(self, pool: int = 1000) -> None:
        self.pool = pool

    def generate(self, prompt: str, attributes: dict[str, str], n: int, seed: int) -> torch.Tensor:
        x, y = _digits()
        rows = np.flatnonzero(y[-self.pool:] == int(attributes["digit"])) + len(y) - self.pool
        rng = np.random.default_rng(seed)
        g = torch.Generator().manual_seed(seed)
        img = x[rng.choice(rows, size=n)]
        img = _rotate(img, float(attributes.get("rotation", 0)))
        img = img + float(attributes.get("noise", 0)) * torch.randn(img.shape, generator=g)
        occ = attributes.get("occlusion", "none")
        if occ == "top":
            img[:, :, :4] = 0
        elif occ == "all":
            img[:] = 0
        return img.clamp(0, 1)


class Softmax:
    differentiable = True

    def __init__(self) -> None:
        self.classes = [str(i) for i in range(10)]
        self.weight = _fit()

    def predict_proba(self, images: torch.Tensor) -> torch.Tensor:
        w, b = self.weight
        return torch.softmax(images.reshape(len(images), -1) @ w + b, dim=1)


@functools.cache
def _fit() -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _digits()
    x, t = x[:797].reshape(797, -1), torch.tensor(y[:797])
    torch.manual_seed(0)
    w = torch.zeros(64, 10, requires_grad=True)
    b = torch.zeros(10, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=100)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ w + b, t) + 1e-3 * (w**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


class InkParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_ink: float = Field(0.05, ge=0, description="minimum mean intensity")


class Ink:
    def __init__(self, min_ink: float = 0.05) -> None:
        self.min_ink = min_ink

    def keep(self, images, subdomain, domain):  # type: ignore[no-untyped-def]
        score = images.mean(dim=(1, 2, 3))
        return score >= self.min_ink, score


@fxcore.hookimpl
def fxcore_register_generators(register):  # type: ignore[no-untyped-def]
    register("render", Render, RenderParams)


@fxcore.hookimpl
def fxcore_register_classifiers(register):  # type: ignore[no-untyped-def]
    register("softmax", Softmax)


@fxcore.hookimpl
def fxcore_register_filters(register):  # type: ignore[no-untyped-def]
    register("ink", Ink, InkParams)

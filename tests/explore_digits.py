"""A small real plugin for the explore tests: scikit-learn's 8x8 handwritten digits.

- generator ``digits/render``: samples real digit images of the subdomain's ``digit`` and applies
  the attributes ``rotation`` (degrees), ``noise`` (Gaussian std) and ``occlusion`` (``none``,
  ``top`` half blanked, ``all`` blanked: the filter then rejects every image);
- classifier ``digits/softmax``: multinomial logistic regression trained on the upright,
  clean images (fit once per process with L-BFGS, < 1 s);
- filter ``digits/ink``: keeps images with enough ink;
- selector ``digits/nearest-worst``: proposes the candidates most similar (shared attribute
  values) to the worst subdomain observed so far, ties broken by the seeded RNG: its proposals
  depend on the observations, which is what a resume must replay;
- selector ``digits/unseeded``: random without a seed, deliberately breaking the Selector
  contract (a resume must refuse it).

Attribute values may be numbers or words (``rotation = "tilted"``, ``digit = "seven"``).

Registered with ``Registry.load(modules={"digits": explore_digits})``; the subprocess tests import
it through ``tests/explore_launch.py``.
"""

from __future__ import annotations

import functools
import math
import time
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

import fxcore


@functools.cache
def _digits() -> tuple[torch.Tensor, np.ndarray]:
    """The 1797 digits of ``sklearn.datasets.load_digits``, read from the file sklearn ships
    (importing sklearn itself takes seconds)."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    assert spec is not None and spec.submodule_search_locations
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    data = np.loadtxt(path, delimiter=",")
    x = torch.tensor(data[:, :64].reshape(-1, 1, 8, 8) / 16.0, dtype=torch.float32)
    return x, data[:, 64].astype(int)


def _rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    t = math.radians(degrees)
    theta = torch.tensor([[math.cos(t), -math.sin(t), 0.0], [math.sin(t), math.cos(t), 0.0]])
    grid = torch.nn.functional.affine_grid(theta.expand(len(x), 2, 3), list(x.shape), False)
    return torch.nn.functional.grid_sample(x, grid, align_corners=False)


DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
WORDS = {"upright": 0.0, "tilted": 45.0, "sideways": 90.0, "clean": 0.0, "noisy": 0.3}


def _number(value: str) -> float:
    return WORDS[value] if value in WORDS else float(value)


class RenderParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pool: int = Field(1000, gt=0, description="images drawn from (the test images' rows)")
    delay: float = Field(0.0, ge=0, description="seconds slept per call (a generation cost)")


class Render:
    channels = 1

    def __init__(self, pool: int = 1000, delay: float = 0.0) -> None:
        self.pool = pool
        self.delay = delay

    def generate(self, prompt: str, attributes: dict[str, str], n: int, seed: int) -> torch.Tensor:
        x, y = _digits()
        d = attributes["digit"]
        digit = DIGITS.index(d) if d in DIGITS else int(d)
        rows = np.flatnonzero(y[-self.pool:] == digit) + len(y) - self.pool
        rng = np.random.default_rng(seed)
        g = torch.Generator().manual_seed(seed)
        img = x[rng.choice(rows, size=n)]
        img = _rotate(img, _number(attributes.get("rotation", "0")))
        img = img + _number(attributes.get("noise", "0")) * torch.randn(img.shape, generator=g)
        if self.delay:
            time.sleep(self.delay)
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
    """Multinomial logistic regression on the first 797 images (L-BFGS, L2 1e-3)."""
    from scipy.optimize import minimize

    x, y = _digits()
    a = np.hstack([x[:797].reshape(797, -1).numpy().astype(np.float64), np.ones((797, 1))])
    t = np.eye(10)[y[:797]]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        w = w.reshape(65, 10)
        z = a @ w
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        nll = -np.sum(t * np.log(p + 1e-12)) / len(a) + 1e-3 * np.sum(w[:64] ** 2)
        grad = a.T @ (p - t) / len(a)
        grad[:64] += 2e-3 * w[:64]
        return float(nll), grad.ravel()

    w = minimize(loss, np.zeros(650), jac=True, method="L-BFGS-B", options={"maxiter": 200}).x
    w = torch.tensor(w.reshape(65, 10), dtype=torch.float32)
    return w[:64].contiguous(), w[64].contiguous()


class InkParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_ink: float = Field(0.05, ge=0, description="minimum mean intensity")


class Ink:
    def __init__(self, min_ink: float = 0.05) -> None:
        self.min_ink = min_ink

    def keep(self, images, subdomain, domain):  # type: ignore[no-untyped-def]
        score = images.mean(dim=(1, 2, 3))
        return score >= self.min_ink, score


class NearestWorst:
    """The candidates sharing most attribute values with the worst observed subdomain."""

    def setup(self, space, seed: int) -> None:  # type: ignore[no-untyped-def]
        self.codes = space.codes
        self.rng = np.random.default_rng(seed)

    def propose(self, observed, candidates: np.ndarray, k: int) -> np.ndarray:  # type: ignore[no-untyped-def]
        noise = self.rng.random(len(candidates))
        if len(observed) == 0:
            return candidates[np.argsort(noise)[:k]]
        worst = self.codes[observed.rows[int(np.argmin(observed.accuracy))]]
        shared = (self.codes[candidates] == worst).sum(axis=1)
        return candidates[np.lexsort((noise, -shared))[:k]]


class Unseeded:
    """Random without a seed: breaks the Selector contract on purpose."""

    def setup(self, space, seed: int) -> None:  # type: ignore[no-untyped-def]
        self.rng = np.random.default_rng()

    def propose(self, observed, candidates: np.ndarray, k: int) -> np.ndarray:  # type: ignore[no-untyped-def]
        return self.rng.choice(candidates, size=min(k, len(candidates)), replace=False)


@fxcore.hookimpl
def fxcore_register_selectors(register):  # type: ignore[no-untyped-def]
    register("nearest-worst", NearestWorst)
    register("unseeded", Unseeded)


@fxcore.hookimpl
def fxcore_register_generators(register):  # type: ignore[no-untyped-def]
    register("render", Render, RenderParams)


@fxcore.hookimpl
def fxcore_register_classifiers(register):  # type: ignore[no-untyped-def]
    register("softmax", Softmax)


@fxcore.hookimpl
def fxcore_register_filters(register):  # type: ignore[no-untyped-def]
    register("ink", Ink, InkParams)


def evaluation_count(db: Path) -> int:
    """Evaluations recorded so far in a run's ``run.sqlite`` (0 while it does not exist yet),
    read-only, for tests that watch a run in another process."""
    import sqlite3

    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return int(con.execute(
                "SELECT COUNT(*) FROM records WHERE kind = 'evaluation'").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0

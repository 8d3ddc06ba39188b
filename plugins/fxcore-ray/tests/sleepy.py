"""A test plugin ``sleepy`` whose generator takes a fixed time per image (a stand-in for a GPU).

- generator ``sleepy/noise``: seeded noise images ``(n, 1, 8, 8)`` whose brightness follows the
  attribute ``light`` (0..1) plus a ``shade`` offset; sleeps ``per_image`` seconds per image
  (``time.sleep`` releases the CPU, so two workers on a 2-core machine overlap fully); with
  ``pid_dir`` each instance writes a file named by its process id there when it is built (the
  tests kill a worker by that id and count the rebuilds).
- filter ``sleepy/ink``: keeps images whose mean is at least ``min_ink``.
- classifier ``sleepy/mean``: classes ``dark``/``bright``, P(bright) a steep logistic of the
  image mean: the "light" attribute decides the accuracy.

Registered with ``Registry.load(modules={"sleepy": sleepy})`` (tests, ``launch.py``); workers in
other processes import it by name from this folder.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict, Field

import fxcore

LIGHT = {"black": 0.1, "dark": 0.3, "dim": 0.45, "grey": 0.5, "pale": 0.55, "bright": 0.7,
         "white": 0.9, "glare": 1.0}
SHADE = {"a": -0.06, "b": -0.03, "c": 0.0, "d": 0.03, "e": 0.06}


class NoiseParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    per_image: float = Field(0.0, ge=0, description="seconds slept per image generated")
    pid_dir: str | None = Field(None, description="folder to write <pid> files into when built")


class Noise:
    channels = 1

    def __init__(self, per_image: float = 0.0, pid_dir: str | None = None) -> None:
        self.per_image = per_image
        if pid_dir is not None:
            Path(pid_dir).mkdir(parents=True, exist_ok=True)
            (Path(pid_dir) / str(os.getpid())).write_text(f"{time.time()}\n")

    def check_attributes(self, values: dict[str, list[str]]) -> None:
        """Refuses a ``light`` it does not know (a shade it does not know fails at run time)."""
        unknown = sorted(set(values.get("light", [])) - set(LIGHT))
        if unknown:
            raise ValueError(f"attribute 'light': unknown values {unknown}")

    def generate(self, prompt: str, attributes: dict[str, str], n: int, seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        level = LIGHT[attributes["light"]] + SHADE[attributes.get("shade", "c")]
        x = level + 0.25 * torch.randn(n, 1, 8, 8, generator=g)
        if self.per_image:
            time.sleep(self.per_image * n)
        return x.clamp(0, 1)


class InkParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_ink: float = Field(0.0, ge=0)


class Ink:
    def __init__(self, min_ink: float = 0.0) -> None:
        self.min_ink = min_ink

    def keep(self, images, subdomain, domain):  # type: ignore[no-untyped-def]
        score = images.mean(dim=(1, 2, 3))
        return score >= self.min_ink, score


class Mean:
    classes = ("dark", "bright")
    differentiable = True

    def predict_proba(self, images: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(40 * (images.mean(dim=(1, 2, 3)) - 0.5))
        return torch.stack([1 - p, p], dim=1)


@fxcore.hookimpl
def fxcore_register_generators(register):  # type: ignore[no-untyped-def]
    register("noise", Noise, NoiseParams)


@fxcore.hookimpl
def fxcore_register_filters(register):  # type: ignore[no-untyped-def]
    register("ink", Ink, InkParams)


@fxcore.hookimpl
def fxcore_register_classifiers(register):  # type: ignore[no-untyped-def]
    register("mean", Mean)


def config(**over: object) -> dict[str, object]:
    """An explore config over the 40 subdomains light x shade (true class: bright)."""
    base: dict[str, object] = {
        "seed": 7,
        "budget": 40,
        "batch_size": 8,
        "images_per_subdomain": 8,
        "max_attempts": 3,
        "save_images": 2,
        "generator": "sleepy/noise",
        "classifier": "sleepy/mean",
        "filter": {"name": "sleepy/ink", "params": {"min_ink": 0.2}},
        "selector": "random",
        "domain": {
            "name": "sleepy",
            "prompt_template": "a {light} {shade} picture",
            "true_class": "bright",
            "attributes": {"light": list(LIGHT), "shade": list(SHADE)},
        },
    }
    base.update(over)
    return base


def evaluation_count(db: Path) -> int:
    """Evaluations recorded so far in a run's ``run.sqlite`` (0 before it exists), read-only."""
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

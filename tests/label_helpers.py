"""Shared helpers of the label tests: real data (scikit-learn's digits) and small torch
classifiers with ``fit``, registered as a test plugin."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from pydantic import BaseModel, ConfigDict

import fxcore
from fxcore.models import torch_threads
from fxcore.plugins import Registry

DIGITS = [str(d) for d in range(10)]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models train 10-20x faster on one thread than on two busy cores."""
    with torch_threads(1):
        yield


def digits_npz(path: Path, n: int | None = None) -> Path:
    """The 1,797 8×8 digits of scikit-learn as an ``.npz`` (images in [0, 1], labels)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = (d.images / 16.0).astype(np.float32)[:, None]
    labels = d.target.astype(np.int64)
    if n is not None:
        images, labels = images[:n], labels[:n]
    np.savez(path, images=images, labels=labels, classes=np.array(DIGITS))
    return path


class TinyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hidden: int = 0
    epochs: int = 60
    seed: int = 0
    nan: bool = False


class TinyClassifier:
    """Softmax regression (``hidden = 0``) or a one-hidden-layer MLP on flattened images."""

    differentiable = True
    classes = DIGITS

    def __init__(self, hidden: int = 0, epochs: int = 60, seed: int = 0, nan: bool = False):
        torch.manual_seed(seed)
        layers: list[torch.nn.Module] = [torch.nn.Flatten()]
        if hidden:
            layers += [torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10)]
        else:
            layers += [torch.nn.Linear(64, 10)]
        self.net = torch.nn.Sequential(*layers)
        self.epochs = epochs
        self.nan = nan

    def fit(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        # plain full-batch gradient descent (torch.optim imports torch._dynamo: seconds)
        params = list(self.net.parameters())
        for _ in range(self.epochs):
            loss = torch.nn.functional.cross_entropy(self.net(images), labels)
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                for p, g in zip(params, grads, strict=True):
                    p -= 0.5 * g

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1)

    def predict_proba(self, images: torch.Tensor) -> torch.Tensor:
        p = self.net(images).softmax(dim=1)
        if self.nan:
            p[0, 0] = float("nan")
        return p


def make_plugin() -> ModuleType:
    mod = ModuleType("label_test_plugin")

    @fxcore.hookimpl
    def fxcore_register_classifiers(register):  # type: ignore[no-untyped-def]
        register("tiny", TinyClassifier, TinyParams)

    mod.fxcore_register_classifiers = fxcore_register_classifiers  # type: ignore[attr-defined]
    sys.modules.setdefault(mod.__name__, mod)
    return mod


def registry() -> Registry:
    return Registry.load(entry_points=[], modules={"t": make_plugin()})


def config(npz: Path, **over: object) -> dict:
    base: dict = {
        "seed": 0,
        "data": {"path": str(npz)},
        "classifiers": [
            {"name": "t/tiny", "params": {"hidden": 0}},
            {"name": "t/tiny", "params": {"hidden": 32, "seed": 1}},
            {"name": "t/tiny", "params": {"hidden": 16, "seed": 2, "epochs": 40}},
        ],
        "labeller": {"name": "threshold"},
        "annotator": "simulate",
        "target_accuracy": 0.97,
        "split": {"fraction": 0.3, "representation": "pixels"},
        # plain OPAL unless a test asks for the certificate (tests/test_label_certified.py)
        "certify": {"enabled": False},
    }
    base.update(over)
    return base

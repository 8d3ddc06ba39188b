"""Shared fixtures: one intra-op thread, and small classifiers trained once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fxcore.models import torch_threads

from fxcore_mnist.classifiers import MnistClassifier

#: epochs of the session's classifiers: enough for real accuracy, seconds of CPU in all
EPOCHS = 3


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> Iterator[None]:
    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fxcore-cache")


@pytest.fixture(scope="session")
def trained(cache_dir: Path) -> dict[str, MnistClassifier]:
    """``cnn``, ``mlp`` and ``linear`` trained on MNIST-5k in a fresh cache."""
    return {
        arch: MnistClassifier(arch=arch, dataset="mnist", epochs=EPOCHS, cache_dir=cache_dir)
        for arch in ("cnn", "mlp", "linear")
    }

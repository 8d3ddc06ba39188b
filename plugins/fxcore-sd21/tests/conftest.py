"""Fixtures: networking is impossible, and a tiny SD pipeline is saved once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from fxcore.models import forbid_network

# The hubs' offline switches, set before diffusers / transformers / huggingface_hub are imported.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# One thread: tiny models gain nothing from more, and on a busy 2-core machine OpenMP threads
# spinning against each other make every call 10-30x slower.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Offline switches on and every socket connection refused, for every test."""
    for var in ("FXCORE_PLUGINS_STRICT", "FXCORE_PLUGINS_ALLOW", "FXCORE_PLUGINS_DENY"):
        monkeypatch.delenv(var, raising=False)
    with forbid_network():
        yield


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight SD 2.x-layout pipeline saved with ``save_pretrained`` (32 x 32 images)."""
    from fxcore_sd21.testing import save_tiny_pipeline

    with forbid_network():
        return save_tiny_pipeline(tmp_path_factory.mktemp("sd") / "tiny-sd", sample_size=16)

"""Fixtures: networking is impossible; a tiny CLIP checkpoint is saved once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from fxcore.models import forbid_network

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Offline switches on and every socket connection refused, for every test."""
    for var in ("FXCORE_PLUGINS_STRICT", "FXCORE_PLUGINS_ALLOW", "FXCORE_PLUGINS_DENY"):
        monkeypatch.delenv(var, raising=False)
    with forbid_network():
        yield


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(config JSON, safetensors checkpoint)`` of a random-weight tiny CLIP."""
    from fxcore_openclip.testing import save_tiny_clip

    with forbid_network():
        return save_tiny_clip(tmp_path_factory.mktemp("clip"))

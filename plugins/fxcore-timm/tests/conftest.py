"""Fixtures: networking is impossible; a tiny timm checkpoint is saved once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fxcore.testing import no_network, offline_and_one_thread  # noqa: F401 (fixture)

offline_and_one_thread()


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight ``test_resnet`` with a 5-class head, saved as safetensors."""
    from fxcore_timm.testing import save_tiny_timm

    return save_tiny_timm(tmp_path_factory.mktemp("timm") / "tiny.safetensors", num_classes=5)


@pytest.fixture(scope="session")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """12 real handwritten digits (sklearn), 0..4, as (N, 3, 32, 32) images in [0, 1]."""
    from sklearn.datasets import load_digits

    data = load_digits()
    keep = data.target < 5
    x = torch.tensor(data.images[keep][:12] / 16.0, dtype=torch.float32)[:, None]
    x = torch.nn.functional.interpolate(x, size=(32, 32), mode="bilinear").repeat(1, 3, 1, 1)
    return x.clamp(0, 1), torch.tensor(data.target[keep][:12])

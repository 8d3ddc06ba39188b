"""Fixtures: networking is impossible, and a tiny BigGAN is saved once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from fxcore.models import forbid_network
from fxcore.testing import no_network, offline_and_one_thread  # noqa: F401 (fixture)

offline_and_one_thread()


@pytest.fixture(scope="session")
def tiny_biggan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight BigGAN-deep (32 x 32, 1000 classes): config.json + pytorch_model.bin."""
    from fxcore_biggan.testing import save_tiny_biggan

    with forbid_network():
        return save_tiny_biggan(tmp_path_factory.mktemp("biggan") / "tiny", seed=0)

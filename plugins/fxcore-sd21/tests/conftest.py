"""Fixtures: networking is impossible, and a tiny SD pipeline is saved once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from fxcore.models import forbid_network
from fxcore.testing import no_network, offline_and_one_thread  # noqa: F401 (fixture)

offline_and_one_thread()


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight SD 2.x-layout pipeline saved with ``save_pretrained`` (32 x 32 images)."""
    from fxcore_sd21.testing import save_tiny_pipeline

    with forbid_network():
        return save_tiny_pipeline(tmp_path_factory.mktemp("sd") / "tiny-sd", sample_size=16)

"""Fixtures: networking is impossible; a tiny CLIP checkpoint is saved once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from fxcore.models import forbid_network
from fxcore.testing import no_network, offline_and_one_thread  # noqa: F401 (fixture)

offline_and_one_thread()


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(config JSON, safetensors checkpoint)`` of a random-weight tiny CLIP."""
    from fxcore_openclip.testing import save_tiny_clip

    with forbid_network():
        return save_tiny_clip(tmp_path_factory.mktemp("clip"))

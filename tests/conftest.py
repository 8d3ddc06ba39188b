from __future__ import annotations

import os

import pytest

# Model hubs must never be reached from tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_plugin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without the plugin switches a developer may have set."""
    for var in ("FXCORE_PLUGINS_STRICT", "FXCORE_PLUGINS_ALLOW", "FXCORE_PLUGINS_DENY"):
        monkeypatch.delenv(var, raising=False)

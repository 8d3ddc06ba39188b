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


@pytest.fixture(scope="module")
def npz(tmp_path_factory):
    """scikit-learn's 8×8 digits as an ``.npz`` for the label tests, once per module."""
    from label_helpers import digits_npz

    return digits_npz(tmp_path_factory.mktemp("data") / "digits.npz")


@pytest.fixture(scope="module")
def reg():
    """A registry with the label tests' tiny classifiers (plugin ``t``)."""
    from label_helpers import registry

    return registry()

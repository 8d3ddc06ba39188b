from __future__ import annotations

import os
import shutil
from pathlib import Path

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


def test_artefacts(name: str) -> Path:
    """Where tests leave what a person should look at (screenshots): $FXCORE_TEST_ARTEFACTS
    /<name>, default ${TMPDIR:-/tmp}/fxcore-artefacts/<name>."""
    root = os.environ.get("FXCORE_TEST_ARTEFACTS")
    base = Path(root) if root else Path(os.environ.get("TMPDIR", "/tmp")) / "fxcore-artefacts"
    folder = base / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


test_artefacts.__test__ = False  # type: ignore[attr-defined]  # not a test despite its name


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    """Debian's chromium (or FXCORE_CHROMIUM) driven by Playwright for Python; the tests that use
    it skip, saying what is missing, where either is not installed."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests: Playwright for Python is not installed (pip install "
                    "playwright)")
    exe = (os.environ.get("FXCORE_CHROMIUM") or shutil.which("chromium")
           or shutil.which("chromium-browser"))
    if not exe:
        pytest.skip("browser tests: no chromium (apt-get install chromium, or set "
                    "FXCORE_CHROMIUM to a Chromium/Chrome executable)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        yield b
        b.close()

"""``fx demo`` part of explore: the MNIST example end to end (when the plugin is installed)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from fxcore.errors import FxError
from fxcore.explore import demo


def test_missing_plugin_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setattr(demo, "PLUGIN", "fxcore_not_installed_anywhere")
    with pytest.raises(FxError, match=r"pip install \./plugins/fxcore-mnist"):
        demo.run_demo(tmp_path)
    assert not (tmp_path / "run").exists()


def _has_example() -> bool:
    spec = importlib.util.find_spec(demo.PLUGIN)
    if spec is None or not spec.submodule_search_locations:
        return False
    return (Path(spec.submodule_search_locations[0]) / demo.EXAMPLE).is_file()


@pytest.mark.skipif(not _has_example(), reason="the MNIST reference plugin is not installed")
def test_demo_explores_the_mnist_example_and_writes_the_report(monkeypatch, tmp_path,
                                                               tmp_path_factory):
    # a fresh cache: the demo includes training the classifier on first use
    monkeypatch.setenv("FXCORE_CACHE", str(tmp_path_factory.getbasetemp() / "mnist-cache"))
    lines = demo.run_demo(tmp_path / "demo")
    text = "\n".join(lines)
    assert "worst subdomains found:" in text and "accuracy" in text
    report = tmp_path / "demo" / "run" / "report"
    assert (report / "index.html").is_file()
    doc = json.loads((report / "report.json").read_text())
    assert doc["n_evaluated"] == demo.example_config().budget
    # a second demo resumes the complete run: no new work, same lines
    assert demo.run_demo(tmp_path / "demo")[1:] == lines[1:]

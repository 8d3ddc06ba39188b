"""Build the plugin of docs/plugins.md from its code blocks, pip-install it, and use it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def doc_files() -> dict[str, str]:
    blocks = re.findall(r"```(?:toml|python)\n# file: (\S+)\n(.*?)```", DOC.read_text(), re.S)
    return {name: body for name, body in blocks}


MANIFEST = re.compile(r'\n# the manifest:[^\n]*\n\[project\.entry-points\."fxcore\.components"\]\n'
                      r'(?:"[^\n]*\n)+')


def install(tmp_path_factory: pytest.TempPathFactory, files: dict[str, str]) -> Path:
    """pip-install the package made of ``files`` into a fresh folder; returns the folder."""
    pkg = tmp_path_factory.mktemp("fxcore-coverage")
    for name, body in files.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(body)
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(pkg)],
        check=True, capture_output=True, timeout=300,
    )
    return target


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    files = doc_files()
    assert set(files) == {"pyproject.toml", "fxcore_coverage/__init__.py"}
    return install(tmp_path_factory, files)


@pytest.fixture(scope="module")
def site_without_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same plugin as written before manifests existed."""
    files = doc_files()
    files["pyproject.toml"], n = MANIFEST.subn("\n", files["pyproject.toml"])
    assert n == 1 and "fxcore.components" not in files["pyproject.toml"]
    return install(tmp_path_factory, files)


def fx(site: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site), "FXCORE_PLUGINS_STRICT": "1"}
    code = "import sys; from fxcore.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=600)


def test_fx_plugins_lists_the_installed_plugin(site: Path) -> None:
    """From its manifest (pip wrote it into the metadata), then imported by --check."""
    out = fx(site, "plugins", "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)["plugins"]}
    row = rows["coverage"]
    assert row["distribution"] == "fxcore-coverage" and row["version"] == "0.1.0"
    assert row["status"] == "available" and row["manifest"]
    assert row["components"] == {"divergence": ["tv"], "selector": ["coverage"]}
    out = fx(site, "plugins", "--check", "--json")
    assert out.returncode == 0, out.stderr
    row = {r["name"]: r for r in json.loads(out.stdout)["plugins"]}["coverage"]
    assert row["status"] == "loaded"
    assert row["components"] == {"selector": ["coverage"], "divergence": ["tv"]}


def test_a_plugin_without_manifest_works_unchanged(site_without_manifest: Path) -> None:
    out = fx(site_without_manifest, "plugins", "--json")
    assert out.returncode == 0, out.stderr
    row = {r["name"]: r for r in json.loads(out.stdout)["plugins"]}["coverage"]
    assert row["status"] == "loaded" and not row["manifest"]
    assert row["components"] == {"selector": ["coverage"], "divergence": ["tv"]}


def test_a_run_uses_its_selector(site: Path, tmp_path: Path) -> None:
    out = fx(site, "bench", "--table", "lecoz2024-dog", "--selector", "coverage",
             "--repeats", "2", "--budget", "60", "--json", str(tmp_path / "b.json"))
    assert out.returncode == 0, out.stderr
    result = json.loads((tmp_path / "b.json").read_text())
    cov = result["selectors"]["coverage"]["coverage"]
    assert len(cov) == 2 and len(cov[0]) == 60
    assert 0 < cov[0][-1] < 1


def test_its_divergence_and_params_through_the_registry(site: Path) -> None:
    code = (
        "import torch; from fxcore.plugins import Registry; r = Registry.load(strict=True);"
        "tv = r.create('divergence', 'coverage/tv');"
        "p = torch.tensor([[[1.0, 0.0]], [[0.25, 0.75]]]);"
        "print(float(tv(p)[0]));"
        "r.create('selector', {'name': 'coverage', 'params': {'tie_break': 'sideways'}})"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.stdout.strip() == "0.75"
    assert "params.tie_break: String should match pattern" in out.stderr

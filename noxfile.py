"""Test matrix: the kernel alone, each plugin alone (with only the kernel), everything together.

Every session installs non-editable, as a user would. CPU sessions pin ``torch==2.13.0`` (a CPU
wheel on the build machines; an unpinned torch would pull a multi-GB CUDA build). Plugins that
need torchvision (timm, open_clip) get ``torch==2.14.1`` + ``torchvision==0.29.1``, the pair that
imports together here.

    nox                      # the default run: lint, typecheck, kernel, each plugin, all
    nox -s kernel            # one session
    nox -s "plugin(name='highs')"
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PLUGINS = sorted(
    p.name.removeprefix("fxcore-")
    for p in (ROOT / "plugins").iterdir()
    if (p / "pyproject.toml").is_file()
)


def _pip_config() -> dict[str, str]:
    """The machine's pip settings (find-links, extra index), so uv sees the same packages."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True
    ).stdout
    conf: dict[str, str] = {}
    for line in out.splitlines():
        key, _, value = line.partition("=")
        conf[key.split(".")[-1]] = value.strip().strip("'\"")
    return conf


_PIP = _pip_config()
_FIND_LINKS = (_PIP.get("find-links") or os.environ.get("PIP_FIND_LINKS", "")).split()
_EXTRA_INDEX = (_PIP.get("extra-index-url") or os.environ.get("PIP_EXTRA_INDEX_URL", "")).split()
# uv installs from a shared cache (seconds per session instead of minutes); it is told about the
# same wheel folders and indexes pip uses here.
os.environ.setdefault("UV_FIND_LINKS", " ".join(_FIND_LINKS))
if _EXTRA_INDEX:
    os.environ.setdefault("UV_EXTRA_INDEX_URL", " ".join(_EXTRA_INDEX))
    os.environ.setdefault("UV_INDEX_STRATEGY", "unsafe-best-match")
for key in [k for k in ("UV_FIND_LINKS",) if not os.environ[k]]:
    del os.environ[key]
nox.options.default_venv_backend = "uv|virtualenv"

# The CPU wheel on disk, when the machine has one, else the registry's torch 2.13.0.
_CPU_WHEELS = [w for d in _FIND_LINKS for w in glob.glob(f"{d}/torch-2.13.0+cpu-*.whl")]
TORCH_CPU = [_CPU_WHEELS[0]] if _CPU_WHEELS else ["torch==2.13.0"]
TORCH_VISION = ["torch==2.14.1", "torchvision==0.29.1"]
NEEDS_TORCHVISION = {"timm", "openclip"}
# pip + setuptools: a kernel test pip-installs the plugin of docs/plugins.md (uv venvs lack pip)
TEST_TOOLS = ["pytest>=7", "hypothesis>=6", "pytest-timeout>=2", "pip", "setuptools>=68"]
PYTEST = ["pytest", "-q", "-p", "no:cacheprovider", "--timeout=900"]

nox.options.sessions = ["lint", "typecheck", "kernel", "plugin", "all"]
nox.options.error_on_missing_interpreters = True


def _env() -> dict[str, str]:
    # No hub may be reached; thread counts fit the 2-core machines.
    return {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
        "FXCORE_CACHE": str(ROOT / ".nox" / "fxcore-cache"),
        "MPLBACKEND": "Agg",
    }


@nox.session(python=False)
def lint(session: nox.Session) -> None:
    """ruff over the whole tree (uses the ruff on PATH, installing it if missing)."""
    session.run(sys.executable, "-m", "pip", "install", "-q", "ruff", external=True)
    session.run(sys.executable, "-m", "ruff", "check", ".", external=True)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy on the kernel."""
    session.install(*TORCH_CPU)
    session.install(".", "mypy", "types-PyYAML")
    session.run("mypy", "fxcore")


@nox.session
def kernel(session: nox.Session) -> None:
    """The kernel alone: no plugin installed."""
    session.install(*TORCH_CPU)
    session.install(".[test]", *TEST_TOOLS)
    session.run(*PYTEST, "tests", *session.posargs, env=_env())


@nox.session
@nox.parametrize("name", PLUGINS)
def plugin(session: nox.Session, name: str) -> None:
    """One plugin with only the kernel beside it."""
    session.install(*(TORCH_VISION if name in NEEDS_TORCHVISION else TORCH_CPU))
    session.install(".", f"./plugins/fxcore-{name}[test]", *TEST_TOOLS)
    session.run(*PYTEST, f"plugins/fxcore-{name}/tests", *session.posargs, env=_env())


@nox.session
def all(session: nox.Session) -> None:  # noqa: A001 - the session's name on the command line
    """The kernel and every plugin together."""
    session.install(*(TORCH_VISION if NEEDS_TORCHVISION & set(PLUGINS) else TORCH_CPU))
    session.install(".[test]", *(f"./plugins/fxcore-{n}[test]" for n in PLUGINS), *TEST_TOOLS)
    session.run(*PYTEST, "tests", *(f"plugins/fxcore-{n}/tests" for n in PLUGINS),
                *session.posargs, env=_env())

"""Test matrix: the kernel alone, each plugin alone (with only the kernel), everything together.

Every session installs non-editable, as a user would. CPU sessions pin ``torch==2.13.0`` (a CPU
wheel on the build machines; an unpinned torch would pull a multi-GB CUDA build). Plugins that
need torchvision (timm, open_clip) get ``torch==2.14.1`` + ``torchvision==0.29.1``, the pair that
imports together here.

Each test runs once: the kernel's tests in ``kernel``, each plugin's in its ``plugin`` session.
A test that needs more than that skips there; those sessions log the skipped node ids
(``.ci/pytest_skiplog.py``) and ``all`` runs exactly them, with everything installed, plus
``fx plugins`` in strict mode (every plugin loads beside the others). ``nox -s all`` on its own
(no kernel/plugin session before it in the same nox run) runs every test. Long sessions use
pytest-xdist on 2 workers with one torch thread each. Timings: benchmarks/test_matrix.md.

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
# That torch is a CUDA build; triton (0.9 GB, GPU kernels for torch.compile) is of no use on
# the CPU, so uv is told to leave it out (pip has no such switch and installs it).
UV_OVERRIDES = ROOT / ".nox" / "uv-overrides.txt"
NEEDS_TORCHVISION = {"timm", "openclip"}
# pip + setuptools: a kernel test pip-installs the plugin of docs/plugins.md (uv venvs lack pip)
TEST_TOOLS = ["pytest>=7", "hypothesis>=6", "pytest-timeout>=2", "pytest-xdist>=3", "pip",
              "setuptools>=68"]
PYTEST = ["pytest", "-q", "-p", "no:cacheprovider", "--timeout=900", "-p", "pytest_skiplog"]
# pytest-xdist workers per test run, where it pays on 2 cores (benchmarks/test_matrix.md): the
# kernel's many subprocess- and sleep-bound tests overlap their waits; biggan and mnist build
# module fixtures that each worker would build again (twice the CPU, no gain). 0 = in process.
# FXCORE_TEST_WORKERS overrides (e.g. 0 to debug, 4 on a bigger machine).
WORKERS = {"kernel": 2, "all": 2, "botorch": 2}
SKIPLOGS = ROOT / ".nox" / "skiplog"
# node ids skipped per test directory by the kernel/plugin sessions of this nox run
_SKIPPED: dict[str, list[str]] = {}

nox.options.sessions = ["lint", "typecheck", "kernel", "plugin", "all"]
nox.options.error_on_missing_interpreters = True


def _env(workers: int = 0) -> dict[str, str]:
    # No hub may be reached; thread counts fit the 2-core machines (one per xdist worker).
    return {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1" if workers > 1 else "2"),
        "FXCORE_CACHE": str(ROOT / ".nox" / "fxcore-cache"),
        "MPLBACKEND": "Agg",
        "PYTHONPATH": str(ROOT / ".ci"),  # pytest_skiplog
    }


def _install(session: nox.Session, *args: str) -> None:
    if session.venv_backend == "uv":
        UV_OVERRIDES.parent.mkdir(exist_ok=True)
        UV_OVERRIDES.write_text('triton ; sys_platform == "never"\n')
        args = ("--override", str(UV_OVERRIDES), *args)
    session.install(*args)


def _pytest(session: nox.Session, key: str, *targets: str) -> None:
    """pytest on ``targets``; for a kernel/plugin session, remember what it skipped."""
    workers = int(os.environ.get("FXCORE_TEST_WORKERS", WORKERS.get(key, 0)))
    log = SKIPLOGS / f"{key}.txt"
    log.unlink(missing_ok=True)
    xdist = ["-p", "no:xdist"]
    if workers > 1:  # in ``all`` whole modules per worker: their fixtures train mnist models
        xdist = ["-n", str(workers), "--dist", "loadfile" if key == "all" else "load"]
    try:
        session.run(*PYTEST, *xdist, f"--skiplog={log}", *targets, *session.posargs,
                    env=_env(workers))
    finally:
        # The log exists when pytest went through, failures or not (a failed test fails this
        # session; running it again in ``all`` would not tell more). posargs may select a part.
        if key != "all" and not session.posargs and log.exists():
            _SKIPPED[targets[0]] = log.read_text().split("\n")[:-1]


@nox.session(python=False)
def lint(session: nox.Session) -> None:
    """ruff over the whole tree (uses the ruff on PATH, installing it if missing)."""
    session.run(sys.executable, "-m", "pip", "install", "-q", "ruff", external=True)
    session.run(sys.executable, "-m", "ruff", "check", ".", external=True)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy on the kernel."""
    _install(session, *TORCH_CPU)
    _install(session, ".", "mypy", "types-PyYAML")
    session.run("mypy", "fxcore")


@nox.session
def kernel(session: nox.Session) -> None:
    """The kernel alone: no plugin installed."""
    _install(session, *TORCH_CPU)
    _install(session, ".[test]", *TEST_TOOLS)
    _pytest(session, "kernel", "tests")


@nox.session
@nox.parametrize("name", PLUGINS)
def plugin(session: nox.Session, name: str) -> None:
    """One plugin with only the kernel beside it."""
    _install(session, *(TORCH_VISION if name in NEEDS_TORCHVISION else TORCH_CPU))
    _install(session, ".", f"./plugins/fxcore-{name}[test]", *TEST_TOOLS)
    _pytest(session, name, f"plugins/fxcore-{name}/tests")


@nox.session
def all(session: nox.Session) -> None:  # noqa: A001 - the session's name on the command line
    """The kernel and every plugin together: every plugin loads beside the others, and the tests
    that skipped in the kernel/plugin sessions of this nox run (they need more than one package)
    run here. Run alone, it runs every test."""
    _install(session, *(TORCH_VISION if NEEDS_TORCHVISION & set(PLUGINS) else TORCH_CPU))
    _install(session, ".[test]", *(f"./plugins/fxcore-{n}[test]" for n in PLUGINS), *TEST_TOOLS)
    session.run("fx", "plugins", env={**_env(), "FXCORE_PLUGINS_STRICT": "1"})
    targets: list[str] = []
    for tests in ["tests", *(f"plugins/fxcore-{n}/tests" for n in PLUGINS)]:
        targets += _SKIPPED.get(tests, [tests])
    if targets:
        _pytest(session, "all", *targets)
    else:
        session.log("every test ran in the kernel and plugin sessions; none skipped there")

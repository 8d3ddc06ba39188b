"""``fxcore.threads``: which thread count a job gets, and that torch runs on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from fxcore.errors import ConfigError
from fxcore.threads import DEFAULT_THREADS, LIBRARY_VARS, THREADS_ENV, resolve_threads


@pytest.fixture(autouse=True)
def _no_threads_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(THREADS_ENV, raising=False)


def test_explicit_beats_env_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_threads() == DEFAULT_THREADS == 1
    monkeypatch.setenv(THREADS_ENV, "3")
    assert resolve_threads() == 3
    assert resolve_threads(None) == 3
    assert resolve_threads(2) == 2
    monkeypatch.setenv(THREADS_ENV, "  ")  # blank: as if unset
    assert resolve_threads() == DEFAULT_THREADS


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "2"])
def test_bad_option_names_threads_option(bad: object) -> None:
    with pytest.raises(ConfigError, match="--threads must be a whole number >= 1") as info:
        resolve_threads(bad)  # type: ignore[arg-type]
    assert info.value.exit_code == 2  # bad usage, not a failed run


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5"])
def test_bad_env_names_the_variable(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv(THREADS_ENV, bad)
    with pytest.raises(ConfigError, match=f"{THREADS_ENV} must be a whole number >= 1"):
        resolve_threads()
    assert resolve_threads(2) == 2  # an explicit --threads never reads the variable


def _run(code: str, **env: str) -> dict[str, object]:
    """``code`` in a fresh interpreter (torch's thread count is per process); its last stdout
    line, parsed as JSON."""
    environ = {k: v for k, v in os.environ.items()
               if k != THREADS_ENV and k not in LIBRARY_VARS}
    environ.update(env)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=environ, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


JOB = """
import json, os, sys
from fxcore.threads import apply_threads
{before}
got = apply_threads({arg})
loaded = "torch" in sys.modules
import torch
x = torch.randn(64, 64, requires_grad=True)
(x @ x).sum().backward()  # a job-style step after the call
print(json.dumps({{"got": got, "torch": torch.get_num_threads(), "loaded_by_apply": loaded,
                  "env": [os.environ[v] for v in {vars!r}]}}))
"""


def _job(before: str, arg: str, **env: str) -> dict[str, object]:
    return _run(JOB.format(before=before, arg=arg, vars=LIBRARY_VARS), **env)


# torch loaded after the call reads OMP_NUM_THREADS, capped at the CPU count, so that case uses
# 1 (torch's own default is the CPU count); torch already loaded takes any count
@pytest.mark.parametrize(("before", "n"), [("", 1), ("import torch", 3)],
                         ids=["torch-later", "torch-loaded"])
def test_torch_runs_on_the_setting(before: str, n: int) -> None:
    out = _job(before, str(n))
    assert out["got"] == out["torch"] == n
    assert out["env"] == [str(n)] * len(LIBRARY_VARS)  # child processes inherit it
    assert out["loaded_by_apply"] == bool(before)  # apply_threads never imports torch itself


def test_env_reaches_torch() -> None:
    out = _job("import torch", "", FXCORE_THREADS="3")
    assert out["got"] == out["torch"] == 3

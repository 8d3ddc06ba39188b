"""Importing the plugin prints no ``torch.jit.script`` deprecation (linear_operator, under
gpytorch, scripts two functions at import; torch 2.14 warns FutureWarning, shown by default)."""

from __future__ import annotations

import subprocess
import sys


def test_import_prints_no_torch_jit_warning() -> None:
    code = "import fxcore_botorch.model, fxcore_botorch.selector"
    flags = ["-W", "error::FutureWarning", "-W", "error:`torch.jit.script`:DeprecationWarning"]
    proc = subprocess.run([sys.executable, *flags, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "torch.jit" not in proc.stderr

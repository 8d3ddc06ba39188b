"""``fx`` starts without torch or scipy.stats: both are imported by the commands that need them."""

import subprocess
import sys


def test_cli_import_loads_neither_torch_nor_scipy_stats() -> None:
    code = ("import sys, fxcore.cli; "
            "print(sorted(m for m in ('torch', 'scipy.stats') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

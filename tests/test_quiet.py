"""``fxcore.quiet``: the torch.jit.script deprecation is hidden, nothing else is."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

from fxcore.quiet import hide_library_warnings

JIT = "`torch.jit.script` is deprecated. Please switch to `torch.compile` or `torch.export`."


def _shown(*cases: tuple[str, type[Warning], str]) -> list[str]:
    """The messages that pass the filters, each case issued as ``(message, category, module)``."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        hide_library_warnings()
        hide_library_warnings()  # calling it again changes nothing
        for message, category, module in cases:
            warnings.warn_explicit(message, category, f"{module}.py", 1, module=module)
    return [str(w.message) for w in seen]


def test_hides_only_the_jit_script_deprecation() -> None:
    class PluginWarning(UserWarning):
        pass

    kept = [
        ("a plugin failed to load", PluginWarning, "fxcore.plugins"),
        ("fxcore's own deprecation", DeprecationWarning, "fxcore.config"),
        ("fxcore's own future change", FutureWarning, "fxcore.mds.run"),
        (JIT, DeprecationWarning, "fxcore.mds.optimise"),  # same words, issued by fxcore
        ("`torch.jit.script_method` is deprecated.", FutureWarning, "torch.jit._script"),
        ("`torch.jit.trace` is deprecated", DeprecationWarning, "torch.jit._trace"),
        ("some other torch change", FutureWarning, "torch.jit._script"),
    ]
    hidden = [(JIT, DeprecationWarning, "torch.jit._script"),  # torch 2.13
              (JIT, FutureWarning, "torch.jit._script")]  # torch 2.14
    assert _shown(*hidden, *kept) == [m for m, _, _ in kept]


SCRIPT = """
{hide}
import torch
def f(x: torch.Tensor) -> torch.Tensor:
    return x + 1
assert int(torch.jit.script(f)(torch.zeros(1))) == 1
"""


def _script(path: Path, hide: bool) -> subprocess.CompletedProcess[str]:
    """``torch.jit.script`` (as linear_operator, under BoTorch, calls it at import) in a fresh
    interpreter under ``-W error`` for both warning categories torch has used for it."""
    hide_code = "from fxcore.quiet import hide_library_warnings; hide_library_warnings()"
    path.write_text(SCRIPT.format(hide=hide_code if hide else ""))  # TorchScript reads source
    flags = ["-W", "error::DeprecationWarning", "-W", "error::FutureWarning"]
    return subprocess.run([sys.executable, *flags, str(path)], capture_output=True, text=True,
                          timeout=120, check=False)


def test_torch_jit_script_is_silent_even_under_w_error(tmp_path: Path) -> None:
    bare = _script(tmp_path / "bare.py", hide=False)
    assert bare.returncode != 0 and "`torch.jit.script` is deprecated" in bare.stderr
    quiet = _script(tmp_path / "quiet.py", hide=True)
    assert quiet.returncode == 0, quiet.stderr
    assert "jit" not in quiet.stderr


def test_fx_installs_the_filter(tmp_path: Path) -> None:
    """``fx`` (fxcore.cli.main) hides the jit warning in every command, fxcore's own still show."""
    code = (
        "import warnings, sys\n"
        "from fxcore.cli import main\n"
        "main(['--version'])\n"
        f"warnings.warn_explicit({JIT!r}, FutureWarning, 'x.py', 1, module='torch.jit._script')\n"
        "warnings.warn_explicit('own', FutureWarning, 'y.py', 1, module='fxcore.mds.run')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=False, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "jit" not in out.stderr and "fx: warning: own" in out.stderr

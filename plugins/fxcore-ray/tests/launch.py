"""``python launch.py ARGS``: the ``fx`` CLI with the ``sleepy`` test plugin registered (for the
subprocess tests; Ray workers import the plugin by name from this folder)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sleepy  # noqa: E402

from fxcore import plugins  # noqa: E402

plugins._DEFAULT = plugins.Registry.load(modules={"sleepy": sleepy})

from fxcore.cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))

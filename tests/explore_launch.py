"""``python tests/explore_launch.py ARGS``: the ``fx`` CLI with the digits test plugin registered
(for the subprocess tests, which need a plugin the child process can load)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import explore_digits  # noqa: E402

from fxcore import plugins  # noqa: E402

plugins._DEFAULT = plugins.Registry.load(modules={"digits": explore_digits})

from fxcore.cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))

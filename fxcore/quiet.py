"""Library warnings that are not the user's business, hidden narrowly.

Each entry of :data:`LIBRARY_WARNINGS` matches one known warning by category, message and the
module that issues it, so fxcore's own warnings, a plugin's ``PluginWarning`` and anything else a
library says still show. Where fxcore or a plugin could avoid the cause, it does instead.
"""

from __future__ import annotations

import warnings

#: (category, message regex, issuing-module regex) of each hidden warning
LIBRARY_WARNINGS: tuple[tuple[type[Warning], str, str], ...] = (
    # linear_operator (under gpytorch and BoTorch, so the botorch selector) decorates two
    # functions with torch.jit.script at import; torch 2.13 warns DeprecationWarning, 2.14
    # FutureWarning (shown by default). Nothing a user of fx can change.
    (DeprecationWarning, r"`torch\.jit\.script` is deprecated", r"torch\.jit\._script"),
    (FutureWarning, r"`torch\.jit\.script` is deprecated", r"torch\.jit\._script"),
)


def hide_library_warnings() -> None:
    """Put an ``ignore`` filter for each :data:`LIBRARY_WARNINGS` entry in front of the others
    (so also in front of ``-W error``). Call once at start, or inside ``warnings.catch_warnings``
    around an import."""
    for category, message, module in LIBRARY_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)

"""Errors with one-line messages meant for users. The CLI maps them to exit codes."""

from __future__ import annotations


class FxError(Exception):
    """Base of fxcore's user-facing errors; ``str(err)`` is a complete one-line message."""

    exit_code = 1


class ConfigError(FxError):
    """A config, table or argument is invalid. Nothing has been written. Exit code 2."""

    exit_code = 2


class ComponentNotFound(ConfigError):
    """A component name is not registered by any installed plugin."""


class PluginError(FxError):
    """A plugin failed to load (raised only in strict mode; otherwise a warning)."""


class RunError(FxError):
    """A failure during a run (the store keeps everything recorded so far). Exit code 1."""

"""Output paths checked before anything is written, each failure one :class:`ConfigError` line.

:func:`check_out_dir` is for run folders (``--out``), :func:`check_out_file` for files a command
writes (``--json FILE``, ``--plot``); :func:`not_regular` is what :func:`fxcore.store.write_atomic`
refuses to replace.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from fxcore.errors import ConfigError

_KINDS = (
    (stat.S_ISLNK, "a symlink"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISSOCK, "a socket"),
)


def not_regular(path: Path) -> str | None:
    """What ``path`` is (``"a symlink"``, ``"a device"``, ...) unless a regular file or missing."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a file")


def _folder_problem(folder: Path) -> str | None:
    """Why new entries cannot be made in the existing ``folder``, or ``None``."""
    if not folder.is_dir():
        return f"{folder} is not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"folder {folder} is not writable"
    return None


def check_out_file(path: Path, flag: str) -> None:
    """``path`` can be written atomically: its folder exists and is writable, and ``path`` is
    missing or a regular file."""
    kind = not_regular(path)
    if kind is not None:
        raise ConfigError(f"{flag} {path}: {path} is {kind}, not a regular file")
    folder = path.parent
    if not folder.exists() and not folder.is_symlink():
        raise ConfigError(f"{flag} {path}: folder {folder} does not exist")
    problem = _folder_problem(folder)
    if problem is not None:
        raise ConfigError(f"{flag} {path}: {problem}")


def check_out_dir(path: Path, flag: str = "--out") -> None:
    """``path`` is a folder, or can be made one: its nearest existing ancestor is a writable
    folder. Whether it already holds a run is the run store's check."""
    path = Path(path)
    existing = next((p for p in (path, *path.parents) if p.exists() or p.is_symlink()), Path("."))
    if existing == path and not path.is_dir():
        kind = not_regular(path) or "a regular file"
        raise ConfigError(f"{flag} {path}: {path} is {kind}, not a folder")
    problem = _folder_problem(existing)
    if problem is not None:
        raise ConfigError(f"{flag} {path}: {problem}")

"""Reading the files a user names: text, CSV rows, TOML / YAML / JSON mappings, ``.npz`` arrays.

Each problem is one :class:`~fxcore.errors.ConfigError` line naming the file. This module needs
no plugin machinery, so components (the built-in annotators) may read files without importing
:mod:`fxcore.config`, which imports :mod:`fxcore.plugins`, which registers those components.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import tomllib

from fxcore.errors import ConfigError


def read_text_file(path: str | Path, what: str = "file") -> str:
    """The text of a UTF-8 file (a byte-order mark is dropped); a missing or unreadable file is
    a one-line :class:`ConfigError` naming it (``"{what} {path} not found"``)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {path} not found")
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None


def read_csv_rows(path: Path, where: str) -> list[list[str]]:
    """The non-blank rows of the CSV file ``path`` (UTF-8, a byte-order mark dropped); an
    unreadable file is one :class:`ConfigError` line starting with ``where``."""
    import csv

    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{where}: cannot be read as CSV ({exc})") from None
    return [r for r in rows if any(cell.strip() for cell in r)]


def load_npz(path: str | Path, field: str) -> dict[str, Any]:
    """Every array of the ``.npz`` file ``path`` (named by the config key ``field``), loaded
    without pickle; a missing or unreadable file, or one holding object arrays, is one
    :class:`ConfigError` line naming the file."""
    import zipfile

    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{field}: {path} not found")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except ValueError as exc:
        if "pickle" in str(exc) and not str(exc).startswith("Object arrays"):
            raise ConfigError(f"{field}: {path} is not an .npz file (numpy would read it as "
                              "pickled data, which fxcore does not load)") from None
        if not str(exc).startswith("Object arrays"):
            raise ConfigError(f"{field}: {path} is not a readable .npz file ({exc})") from None
        raise ConfigError(
            f"{field}: {path} holds object arrays, which fxcore does not load (they can run "
            "code); save plain numeric arrays"
        ) from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"{field}: {path} is not a readable .npz file ({exc})") from None


def read_mapping(path: str | Path) -> dict[str, Any]:
    """Parse a TOML / YAML / JSON file into a dict; errors name the file."""
    path = Path(path)
    text = read_text_file(path, "config file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif suffix in {".yaml", ".yml"}:
            import yaml

            data = yaml.safe_load(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(f"{path}: unknown config format {suffix!r} (use .toml, .yaml, .json)")
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - parser errors of three libraries
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{path}: not valid {suffix[1:].upper()}: {first}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a table of keys")
    return data

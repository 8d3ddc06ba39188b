"""Load and validate job configs (TOML, YAML or JSON).

Every problem becomes one :class:`~fxcore.errors.ConfigError` whose message names the file and
the field path (``config.toml: generator.params.steps: Input should be greater than 0``).
Nothing is written before a config has passed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import tomllib
from pydantic import ValidationError

from fxcore.errors import ConfigError
from fxcore.plugins import Registry, default_registry, format_validation_error
from fxcore.schemas import ComponentSpec, JobConfig

C = TypeVar("C", bound=JobConfig)


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


def validate_config(
    data: dict[str, Any], model: type[C], registry: Registry | None = None, source: str = ""
) -> C:
    """Validate ``data`` as ``model``, then check each component exists and its params."""
    where = f"{source}: " if source else ""
    try:
        config = model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(where + format_validation_error(exc)) from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ConfigError(f"{where}{exc}") from None
    check_components(config, registry or default_registry(), where)
    return config


def check_components(config: JobConfig, registry: Registry, where: str = "") -> None:
    """Every component named by ``config`` is installed and accepts its params."""
    for field, kind in type(config).component_fields.items():
        value: Any = config
        for part in field.split("."):  # "data.dataset": a field of a nested table
            value = getattr(value, part, None)
        specs: list[tuple[str, ComponentSpec]]
        if value is None:
            continue
        if isinstance(value, list):
            specs = [(f"{field}.{i}", s) for i, s in enumerate(value)]
        else:
            specs = [(field, value)]
        for path, spec in specs:
            try:
                registry.validate_params(kind, spec, where=path)
            except ConfigError as exc:
                msg = str(exc)
                if not msg.startswith(path):
                    msg = f"{path}.name: {msg}"
                raise ConfigError(where + msg) from None


def load_config(path: str | Path, model: type[C], registry: Registry | None = None) -> C:
    """Read and validate a job config file."""
    return validate_config(read_mapping(path), model, registry, source=str(path))

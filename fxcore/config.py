"""Load and validate job configs (TOML, YAML or JSON).

Every problem becomes one :class:`~fxcore.errors.ConfigError` whose message names the file and
the field path (``config.toml: generator.params.steps: Input should be greater than 0``).
Nothing is written before a config has passed.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from fxcore.errors import ConfigError
from fxcore.files import load_npz, read_mapping, read_text_file
from fxcore.plugins import Registry, default_registry, format_validation_error
from fxcore.schemas import ComponentSpec, JobConfig

__all__ = ["check_components", "load_config", "load_npz", "read_mapping", "read_text_file",
           "validate_config"]

C = TypeVar("C", bound=JobConfig)


def validate_config(
    data: dict[str, Any], model: type[C], registry: Registry | None = None, source: str = "",
    given: Collection[str] = (),
) -> C:
    """Validate ``data`` as ``model``, then check each component exists and its params; the
    fields in ``given`` (``classifier``, ``classifiers.0``: components passed from Python) are
    not looked up, their objects replace them."""
    where = f"{source}: " if source else ""
    try:
        config = model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(where + format_validation_error(exc)) from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ConfigError(f"{where}{exc}") from None
    check_components(config, registry or default_registry(), where, given)
    return config


def check_components(config: JobConfig, registry: Registry, where: str = "",
                     given: Collection[str] = ()) -> None:
    """Every component named by ``config`` (but the ``given`` fields) is installed and accepts
    its params."""
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
            if path in given:
                continue
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

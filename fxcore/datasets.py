"""Registered data sets (contract :class:`fxcore.contracts.Dataset`) as the jobs read them.

A config names a data set (``dataset = "mnist/mnist"``), never code; the plugin that registered
it decides which files are read. :func:`dataset_files` lists those files for the run's identity.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fxcore.errors import ConfigError
from fxcore.plugins import Registry, default_registry
from fxcore.schemas import ComponentSpec


def open_dataset(spec: ComponentSpec, registry: Registry | None, where: str) -> Any:
    """Build the data set ``spec`` names; a plugin's missing-data error becomes a ConfigError."""
    try:
        return (registry or default_registry()).create("dataset", spec, where=where)
    except (FileNotFoundError, ValueError) as exc:
        raise ConfigError(f"{where}: {spec.name}: {exc}") from None


def read_split(dataset: Any, which: str, where: str) -> tuple[Any, Any]:
    """``(images, labels)`` of split ``which``; an unknown split is an error listing them."""
    splits = [str(s) for s in dataset.splits]
    if which not in splits:
        raise ConfigError(f"{where}: {which!r} is not a split of the data set "
                          f"(it has: {', '.join(splits)})")
    images, labels = dataset.split(which)
    return images, labels


def dataset_files(dataset: Any, where: str) -> dict[str, Path]:
    """The files the data set reads (its optional ``files``), labelled ``where[i]``."""
    files = [Path(f) for f in getattr(dataset, "files", None) or ()]
    return {f"{where}[{i}]": f for i, f in enumerate(files)}

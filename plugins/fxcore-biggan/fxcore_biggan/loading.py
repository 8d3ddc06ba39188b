"""Find and load BigGAN weights without unpickling arbitrary objects.

A model is a directory holding ``config.json`` and ``model.safetensors`` or ``pytorch_model.bin``,
or one of the names of ``pytorch_pretrained_biggan`` (``biggan-deep-128``, ``-256``, ``-512``),
whose files that library downloads into its cache (``~/.pytorch_pretrained_biggan`` or
``$PYTORCH_PRETRAINED_BIGGAN_CACHE``). In offline mode (``HF_HUB_OFFLINE=1``) a name is looked
up in that cache only. Weights are read with ``safetensors`` or with
``torch.load(weights_only=True)``, which accepts tensors and containers only: a ``.bin`` holding
any other object is refused instead of being executed. (``BigGAN.from_pretrained`` is not used:
it calls ``torch.load`` without ``weights_only`` and always asks the network for an ETag.)
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fxcore.errors import ConfigError
from fxcore.models import looks_like_path, model_source, offline_missing

CONFIG_NAME = "config.json"
WEIGHT_NAMES = ("model.safetensors", "pytorch_model.bin")
WHERE = "biggan params.model"


@dataclass(frozen=True)
class BigGANFiles:
    """The two files of a BigGAN model."""

    config: Path
    weights: Path


def known_names() -> list[str]:
    from pytorch_pretrained_biggan.model import PRETRAINED_MODEL_ARCHIVE_MAP

    return sorted(PRETRAINED_MODEL_ARCHIVE_MAP)


def default_cache_dir() -> Path:
    from pytorch_pretrained_biggan import file_utils

    return Path(file_utils.PYTORCH_PRETRAINED_BIGGAN_CACHE)


def resolve(model: str, cache_dir: str | None = None) -> BigGANFiles:
    """Local files of ``model`` (a directory or a known name); downloads only when online."""
    names = known_names()
    if model not in names:
        if not looks_like_path(model):
            raise ConfigError(
                f"{WHERE}: {model!r} is neither a directory nor a known BigGAN ({', '.join(names)})"
            )
        src = model_source(
            model, where=WHERE, required=[CONFIG_NAME, WEIGHT_NAMES], what="BigGAN model"
        )
        path = Path(src.ref)
        weights = next(path / w for w in WEIGHT_NAMES if (path / w).exists())
        return BigGANFiles(path / CONFIG_NAME, weights)
    from pytorch_pretrained_biggan.model import (
        PRETRAINED_CONFIG_ARCHIVE_MAP,
        PRETRAINED_MODEL_ARCHIVE_MAP,
    )

    urls = PRETRAINED_CONFIG_ARCHIVE_MAP[model], PRETRAINED_MODEL_ARCHIVE_MAP[model]
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    src = model_source(model, where=WHERE)
    if src.offline:
        found = [_cached(url, cache) for url in urls]
        if None in found:
            raise offline_missing(model, WHERE)
        return BigGANFiles(*found)  # type: ignore[arg-type]
    from pytorch_pretrained_biggan.file_utils import cached_path

    try:
        config, weights = (Path(cached_path(url, cache_dir=str(cache))) for url in urls)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{WHERE}: cannot download {model!r}: {_first_line(exc)}") from exc
    return BigGANFiles(config, weights)


def _cached(url: str, cache: Path) -> Path | None:
    """The file the library's cache holds for ``url``.

    The cache names it ``sha256(url)[.sha256(etag)]`` with its metadata in the same name plus
    ``.json``; the newest payload wins when several ETags were downloaded.
    """
    from pytorch_pretrained_biggan.file_utils import url_to_filename

    hits = [p for p in cache.glob(url_to_filename(url) + "*") if not p.name.endswith(".json")]
    return max(hits, key=lambda p: p.stat().st_mtime) if hits else None


def read_config(files: BigGANFiles) -> Any:
    """The ``BigGANConfig`` of the model."""
    from pytorch_pretrained_biggan import BigGANConfig

    try:
        return BigGANConfig.from_json_file(str(files.config))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{WHERE}: cannot read {files.config}: {_first_line(exc)}") from exc


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file, or of a ``.bin`` read with ``weights_only=True``."""
    try:
        if path.name.endswith(".safetensors"):
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ConfigError(
            f"{WHERE}: {path} holds objects other than tensors; refusing to unpickle it "
            "(convert the weights to safetensors from a trusted environment)"
        ) from exc
    except (OSError, RuntimeError, ValueError) as exc:
        raise ConfigError(f"{WHERE}: cannot read weights {path}: {_first_line(exc)}") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"{WHERE}: {path} is not a state dict of tensors")
    return state


def build_model(files: BigGANFiles, config: Any) -> torch.nn.Module:
    """``BigGAN(config)`` with the weights of ``files.weights``; missing weights are an error.

    Spectral-norm power-iteration vectors (``*.weight_u`` / ``*.weight_v``) may be absent from
    old checkpoints; torch recomputes them, as ``BigGAN.from_pretrained`` relies on too.
    """
    from pytorch_pretrained_biggan import BigGAN

    model = BigGAN(config)
    state = load_state_dict(files.weights)
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches between config.json and the weights
        raise ConfigError(
            f"{WHERE}: weights {files.weights.name} do not fit {files.config.name}: "
            f"{_first_line(exc)}"
        ) from exc
    missing = [k for k in result.missing_keys if not k.endswith(("_u", "_v"))]
    if missing:
        raise ConfigError(
            f"{WHERE}: {files.weights} lacks {len(missing)} weights of the model in "
            f"{files.config.name} (e.g. {missing[0]}); is it a BigGAN checkpoint?"
        )
    return model


def write_config(config: Any, path: Path) -> None:
    """Write a ``BigGANConfig`` as ``config.json``."""
    path.write_text(json.dumps(config.to_dict(), indent=2), encoding="utf-8")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__

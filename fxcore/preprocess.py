"""Differentiable evaluation preprocessing for pretrained image models (timm, open_clip).

Images arrive as float tensors ``(N, C, H, W)`` in ``[0, 1]`` (``C`` = 1 or 3). A model's
evaluation transform is, as in timm's and open_clip's own pipelines: resize so the shorter side
is ``floor(size / crop_pct)``, centre-crop to ``size`` and normalise with the model's
``mean`` / ``std``. Done in torch (``F.interpolate`` with antialiasing), so gradients flow back to
the images and no PIL round trip happens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

INTERPOLATIONS = {"bilinear": "bilinear", "bicubic": "bicubic", "nearest": "nearest"}


def check_images(images: object, channels: Sequence[int] = (1, 3), where: str = "images") -> None:
    """One-line TypeError / ValueError unless ``images`` is a float ``(N, C, H, W)`` tensor."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{where} must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] not in channels:
        shapes = " or ".join(f"(N, {c}, H, W)" for c in channels)
        raise ValueError(f"{where} must be {shapes}, got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"{where} must be float in [0, 1], got dtype {images.dtype}")


@dataclass(frozen=True)
class EvalTransform:
    """A model's evaluation transform on tensors: resize, centre crop, normalise.

    Args:
        size: ``(H, W)`` the model takes.
        mean, std: per-channel normalisation.
        interpolation: ``bilinear`` | ``bicubic`` | ``nearest``.
        crop_pct: the centre crop keeps this fraction of the resized image (1.0: no crop).
        squash: resize straight to ``size`` (aspect ratio not kept, nothing cropped).
    """

    size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str = "bicubic"
    crop_pct: float = 1.0
    squash: bool = False

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        check_images(images)
        x = images.float()
        if x.shape[1] == 1 and len(self.mean) == 3:
            x = x.expand(-1, 3, -1, -1)
        mode = INTERPOLATIONS.get(self.interpolation, "bilinear")
        th, tw = self.size
        if self.squash:
            x = _resize(x, (th, tw), mode)
        else:
            scale = max(th, tw) / self.crop_pct
            h, w = x.shape[-2:]
            ratio = math.floor(scale) / min(h, w)
            rh, rw = max(th, round(h * ratio)), max(tw, round(w * ratio))
            x = _resize(x, (rh, rw), mode)
            top, left = (rh - th) // 2, (rw - tw) // 2
            x = x[..., top : top + th, left : left + tw]
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std


def _resize(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    antialias = mode in ("bilinear", "bicubic")
    align = False if mode != "nearest" else None
    return F.interpolate(x, size=size, mode=mode, antialias=antialias, align_corners=align)

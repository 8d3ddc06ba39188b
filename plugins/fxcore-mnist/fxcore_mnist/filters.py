"""The ``ink`` filter: drops images whose digit is mostly destroyed.

For each image (channels averaged) the filter smooths with a 3×3 box (which damps pixel noise),
takes the background level ``b`` as the median and the deviation ``d = |smoothed - b|`` (so dark
ink on a light background counts too). ``contrast = max d``; ink pixels are those with
``d > 0.5 · contrast``. The score is the ink fraction of the canvas, or 0 when
``contrast < min_contrast``; an image is kept when ``score >= min_ink``.

A centred MNIST digit covers about 10-20 % of the canvas; a digit shifted out of the canvas,
erased by an occluder or scaled to a few pixels falls below the default 2 %.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from fxcore.schemas import EvaluationDomain, Subdomain
from pydantic import BaseModel, ConfigDict, Field


class InkParams(BaseModel):
    """Parameters of the ``ink`` filter."""

    model_config = ConfigDict(extra="forbid")

    min_ink: float = Field(0.02, ge=0, le=1, description="least ink fraction of the canvas")
    min_contrast: float = Field(0.15, ge=0, le=1, description="least ink-background contrast")


def ink_scores(images: torch.Tensor, min_contrast: float = 0.15) -> torch.Tensor:
    """``(N,)`` ink fraction of each image (0 below the contrast floor)."""
    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
    x = images.detach().float().mean(dim=1, keepdim=True)
    if len(x) == 0:
        return torch.zeros(0)
    smooth = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    flat = smooth.flatten(1)
    background = flat.median(dim=1, keepdim=True).values
    dev = (flat - background).abs()
    contrast = dev.amax(dim=1)
    ink = (dev > 0.5 * contrast.unsqueeze(1)).float().mean(dim=1)
    return torch.where(contrast >= min_contrast, ink, torch.zeros_like(ink)).cpu()


class InkFilter:
    """Filter ``ink`` (contract :class:`fxcore.contracts.Filter`)."""

    def __init__(self, min_ink: float = 0.02, min_contrast: float = 0.15) -> None:
        self.min_ink = min_ink
        self.min_contrast = min_contrast

    def keep(
        self,
        images: torch.Tensor,
        subdomain: Subdomain | None = None,
        domain: EvaluationDomain | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mask, scores)``: keep images whose ink fraction is at least ``min_ink``."""
        scores = ink_scores(images, self.min_contrast)
        return scores >= self.min_ink, scores

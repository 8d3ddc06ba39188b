"""Tiny random-weight timm models saved like fine-tuned checkpoints, for tests and benchmarks.

Nothing is downloaded::

    from fxcore_timm.testing import save_tiny_timm
    path = save_tiny_timm(tmp_path / "tiny.safetensors", num_classes=5)
    clf = registry.create("classifier", {"name": "timm", "params": {
        "model": "test_resnet", "checkpoint": str(path), "num_classes": 5}})

``test_resnet`` (timm's own test architecture, ~0.3 M parameters, 160 px) is the default; any
timm name works (``resnet50`` for benchmarks at the real size).
"""

from __future__ import annotations

from pathlib import Path

import torch

TINY_MODEL = "test_resnet"


def build_tiny_timm(
    model: str = TINY_MODEL, num_classes: int = 5, seed: int = 0
) -> torch.nn.Module:
    """A random-weight timm model with a ``num_classes`` head, in eval mode."""
    import timm

    torch.manual_seed(seed)
    net = timm.create_model(model, pretrained=False, num_classes=num_classes)
    with torch.no_grad():  # a non-zero head bias, so a re-initialised head would show
        net.get_classifier().bias.normal_(0.0, 1.0)
    return net.eval()


def save_tiny_timm(
    path: str | Path,
    model: str = TINY_MODEL,
    num_classes: int = 5,
    seed: int = 0,
    safetensors: bool = True,
) -> Path:
    """Build :func:`build_tiny_timm` and save its state dict to ``path`` (``.safetensors`` or
    a ``torch.save`` file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = {
        k: v.contiguous() for k, v in build_tiny_timm(model, num_classes, seed).state_dict().items()
    }
    if safetensors:
        from safetensors.torch import save_file

        save_file(sd, str(path))
    else:
        torch.save(sd, path)
    return path

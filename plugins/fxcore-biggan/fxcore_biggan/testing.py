"""A tiny random-weight BigGAN-deep, saved like the released ones, for tests and benchmarks.

``BigGAN(BigGANConfig(...))`` with random weights gives NaN: the unconditional batch norm's
affine parameters are uninitialised memory, and the spectral-norm estimates ``u, v`` are random
until power iterations run (in train mode). :func:`build_tiny_biggan` sets the former to
``(1, 0)`` and runs a few train-mode passes, then the model gives finite images in eval mode.
This is fixture work: released weights need none of it, so the plugin does none of it::

    from fxcore_biggan.testing import save_tiny_biggan
    path = save_tiny_biggan(tmp_path / "biggan-tiny")       # config.json + pytorch_model.bin
    gen = registry.create("latent-generator", {"name": "biggan", "params": {"model": str(path)}})
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch

from fxcore_biggan.loading import write_config

#: layer lists (up-sample?, in, out channel multipliers) of the released BigGAN-deep generators
DEEP_LAYERS: dict[int, list[tuple[bool, int, int]]] = {
    128: [(False, 16, 16), (True, 16, 16), (False, 16, 16), (True, 16, 8), (False, 8, 8),
          (True, 8, 4), (False, 4, 4), (True, 4, 2), (False, 2, 2), (True, 2, 1)],
    256: [(False, 16, 16), (True, 16, 16), (False, 16, 16), (True, 16, 8), (False, 8, 8),
          (True, 8, 8), (False, 8, 8), (True, 8, 4), (False, 4, 4), (True, 4, 2),
          (False, 2, 2), (True, 2, 1)],
}  # fmt: skip
# Channels per stage follow BigGAN's G_arch (in 16,16,8,8,4,2 x 128 at 256 px); the parameter
# counts, 50.4M and 55.9M, are the paper's for BigGAN-deep 128 and 256.


def tiny_config(resolution: int = 32, channel_width: int = 4, z_dim: int = 128) -> Any:
    """A BigGAN-deep config at toy width: 4x4 -> ``resolution`` (32 or 64), 1000 classes."""
    from pytorch_pretrained_biggan import BigGANConfig

    ups = {32: 3, 64: 4}[resolution]
    mults = [16 >> k for k in range(ups + 1)]  # 16, 8, 4, 2[, 1]
    layers = [(False, 16, 16)]
    layers += [(True, a, b) for a, b in zip(mults, mults[1:], strict=False)]
    if mults[-1] != 1:
        layers.append((False, mults[-1], 1))
    return BigGANConfig(
        output_dim=resolution,
        z_dim=z_dim,
        class_embed_dim=z_dim,
        channel_width=channel_width,
        num_classes=1000,
        layers=layers,
        attention_layer_position=len(layers) - 2,
    )


def deep_config(resolution: int = 256) -> Any:
    """The layout of the released ``biggan-deep-128`` / ``-256`` (width 128, attention at 64 px)."""
    from pytorch_pretrained_biggan import BigGANConfig

    return BigGANConfig(output_dim=resolution, layers=DEEP_LAYERS[resolution])


def build_tiny_biggan(
    seed: int = 0, resolution: int = 32, warmup: int = 5, full: bool = False
) -> torch.nn.Module:
    """Random-weight BigGAN with finite eval-mode outputs (see the module docstring).

    ``full=True`` builds the released layout (:func:`deep_config`, 128 or 256 px) instead of the
    toy one: the same compute as the real weights, for throughput benchmarks.
    """
    from pytorch_pretrained_biggan import BigGAN
    from pytorch_pretrained_biggan.model import BigGANBatchNorm

    torch.manual_seed(seed)
    config = deep_config(resolution) if full else tiny_config(resolution)
    model = BigGAN(config)
    for module in model.modules():
        if isinstance(module, BigGANBatchNorm) and not module.conditional:
            torch.nn.init.ones_(module.weight)
            torch.nn.init.zeros_(module.bias)
    model.train()
    with torch.no_grad():
        for _ in range(warmup):  # spectral-norm power iterations
            z = 0.4 * torch.randn(8, config.z_dim)
            y = torch.nn.functional.one_hot(torch.randint(0, 1000, (8,)), 1000).float()
            model(z, y, 0.4)
    return model.eval()


def save_tiny_biggan(
    path: str | Path,
    seed: int = 0,
    resolution: int = 32,
    weights: Literal["bin", "safetensors"] = "bin",
    full: bool = False,
) -> Path:
    """Write ``config.json`` and ``pytorch_model.bin`` (or ``model.safetensors``) to ``path``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model = build_tiny_biggan(seed=seed, resolution=resolution, full=full, warmup=2 if full else 5)
    write_config(model.config, path / "config.json")
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    if weights == "safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path / "model.safetensors"))
    else:
        torch.save(state, path / "pytorch_model.bin")
    return path

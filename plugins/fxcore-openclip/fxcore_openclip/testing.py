"""A tiny random-weight CLIP saved like a real checkpoint, for tests and benchmarks.

open_clip ships no tiny architecture, so :func:`save_tiny_clip` writes one as a model-config
JSON (a 2-layer ViT on 32 px images and a 2-layer text transformer, 32 wide, ~1.6 M parameters,
most of them the token embedding of open_clip's bundled 49 408-token BPE vocabulary, which works
offline) next to a ``.safetensors`` state dict::

    from fxcore_openclip.testing import save_tiny_clip
    config, weights = save_tiny_clip(tmp_path)
    flt = registry.create("filter", {"name": "openclip", "params": {
        "model": "fx-tiny-clip", "model_config_file": str(config), "pretrained": str(weights)}})
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

TINY_NAME = "fx-tiny-clip"
TINY_CONFIG: dict[str, Any] = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 4, "layers": 2},
}


def write_tiny_config(directory: str | Path, name: str = TINY_NAME) -> Path:
    """Write the architecture as ``<directory>/<name>.json`` (open_clip's config format)."""
    path = Path(directory) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(TINY_CONFIG, indent=2))
    return path


def build_tiny_clip(directory: str | Path, seed: int = 0, name: str = TINY_NAME) -> Any:
    """Register the tiny architecture with open_clip and build it with random weights."""
    import open_clip

    open_clip.add_model_config(write_tiny_config(directory, name))
    torch.manual_seed(seed)
    model = open_clip.create_model(name, pretrained=None)
    return model.eval()


def save_tiny_clip(
    directory: str | Path, seed: int = 0, name: str = TINY_NAME, safetensors: bool = True
) -> tuple[Path, Path]:
    """``(config JSON, checkpoint)`` of a random-weight tiny CLIP in ``directory``."""
    directory = Path(directory)
    model = build_tiny_clip(directory, seed, name)
    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    if safetensors:
        from safetensors.torch import save_file

        weights = directory / f"{name}.safetensors"
        save_file(sd, str(weights))
    else:
        weights = directory / f"{name}.pt"
        torch.save(sd, weights)
    return directory / f"{name}.json", weights

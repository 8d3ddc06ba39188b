"""A tiny random-weight Stable Diffusion pipeline, saved like a real one, for tests and benchmarks.

Nothing is downloaded: the CLIP tokenizer is a byte-level BPE with the 256 byte symbols (alone and
as word ends) and no merges, written as ``vocab.json`` + ``merges.txt``; the UNet, VAE and text
encoder have the SD 2.x layout (linear projections in the attention blocks, epsilon prediction,
the SD scheduler's betas) at toy width. ``save_tiny_pipeline(dir)`` writes a directory that
``fxcore-sd21`` loads exactly like a downloaded model::

    from fxcore_sd21.testing import save_tiny_pipeline
    path = save_tiny_pipeline(tmp_path / "sd-tiny")
    gen = registry.create("generator", {"name": "sd21", "params": {"model": str(path)}})

Images are ``sample_size * 2`` pixels square (the tiny VAE downsamples by 2). ``arch="sd21-base"``
builds the full SD 2.1-base layout with random weights (for throughput benchmarks).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import torch

SPECIALS = ("<|startoftext|>", "<|endoftext|>")


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2 / CLIP byte -> printable unicode symbol table."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    keep += list(range(ord("®"), ord("ÿ") + 1))
    codes = keep[:]
    extra = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(keep, map(chr, codes), strict=True))


def save_tiny_tokenizer(path: str | Path, max_length: int = 77) -> Path:
    """Write a byte-level CLIP BPE tokenizer (``vocab.json``, ``merges.txt``) to ``path``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    symbols = list(_bytes_to_unicode().values())
    vocab = {tok: i for i, tok in enumerate([*symbols, *(s + "</w>" for s in symbols), *SPECIALS])}
    (path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (path / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    (path / "tokenizer_config.json").write_text(json.dumps({"model_max_length": max_length}))
    return path


def architecture(arch: str, sample_size: int) -> dict[str, dict[str, Any]]:
    """Constructor arguments of the UNet, VAE and text encoder of ``arch``."""
    if arch == "tiny":
        return {
            "unet": dict(
                sample_size=sample_size,
                block_out_channels=(32, 64),
                layers_per_block=1,
                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
                cross_attention_dim=32,
                attention_head_dim=(2, 4),
            ),
            "vae": dict(
                block_out_channels=(32, 64),
                down_block_types=("DownEncoderBlock2D",) * 2,
                up_block_types=("UpDecoderBlock2D",) * 2,
                sample_size=sample_size * 2,
            ),
            "text": dict(
                hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4
            ),
        }
    if arch == "sd21-base":  # stabilityai/stable-diffusion-2-1-base: 512 px, OpenCLIP ViT-H text
        return {
            "unet": dict(
                sample_size=64,
                block_out_channels=(320, 640, 1280, 1280),
                layers_per_block=2,
                down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
                cross_attention_dim=1024,
                attention_head_dim=(5, 10, 20, 20),
            ),
            "vae": dict(
                block_out_channels=(128, 256, 512, 512),
                down_block_types=("DownEncoderBlock2D",) * 4,
                up_block_types=("UpDecoderBlock2D",) * 4,
                layers_per_block=2,
                sample_size=512,
            ),
            "text": dict(
                hidden_size=1024,
                intermediate_size=4096,
                num_hidden_layers=23,
                num_attention_heads=16,
                projection_dim=512,
                hidden_act="gelu",
            ),
        }
    raise ValueError(f"unknown architecture {arch!r} (tiny, sd21-base)")


def build_tiny_pipeline(seed: int = 0, sample_size: int = 16, arch: str = "tiny") -> Any:
    """A random-weight ``StableDiffusionPipeline`` with SD 2.x structure.

    ``arch="tiny"``: toy width, ``sample_size * 2`` pixels. ``arch="sd21-base"``: the full
    SD 2.1-base layout (865M-parameter UNet, 512 px) with random weights, for throughput
    benchmarks where the real weights cannot be downloaded (the compute is the same).
    """
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    parts = architecture(arch, sample_size)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = CLIPTokenizer.from_pretrained(save_tiny_tokenizer(tmp))
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        in_channels=4, out_channels=4, use_linear_projection=True, **parts["unet"]
    )
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, **parts["vae"])
    vocab = tokenizer.get_vocab()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(vocab),
            max_position_embeddings=tokenizer.model_max_length,
            bos_token_id=vocab[SPECIALS[0]],
            eos_token_id=vocab[SPECIALS[1]],
            pad_token_id=vocab[SPECIALS[1]],
            **parts["text"],
        )
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def save_tiny_pipeline(
    path: str | Path,
    seed: int = 0,
    sample_size: int = 16,
    safetensors: bool = True,
    arch: str = "tiny",
    dtype: torch.dtype = torch.float32,
) -> Path:
    """Build the pipeline and ``save_pretrained`` it to ``path`` (a diffusers directory).

    ``safetensors=False`` writes pickled ``.bin`` weights where diffusers still can (UNet, VAE)
    to test safe loading; ``dtype=torch.float16`` halves the size of an ``sd21-base`` save.
    """
    path = Path(path)
    pipe = build_tiny_pipeline(seed=seed, sample_size=sample_size, arch=arch)
    if dtype != torch.float32:
        pipe.to(dtype=dtype)
    pipe.save_pretrained(path, safe_serialization=safetensors)
    return path

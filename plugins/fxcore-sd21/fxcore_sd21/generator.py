"""Stable Diffusion 2.1 (diffusers ``StableDiffusionPipeline``) as an fxcore Generator.

Image ``i`` of ``generate(prompt, attributes, n, seed)`` starts from the latent noise drawn by a
CPU ``torch.Generator`` seeded with ``seed + i``, so it does not depend on ``n``, on the batch
size or on the device it runs on: ``generate(prompt, attributes, 1, seed + i)`` regenerates it.

The source is checked when the generator is built (a missing directory or an uncached hub model
in offline mode fails at once); the weights are loaded on the first ``generate`` (or by
:meth:`StableDiffusionGenerator.load`) and kept for the life of the object.
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, field_validator

from fxcore.errors import ConfigError
from fxcore.models import (
    model_source,
    offline_missing,
    oom_hint,
    resolve_device,
    resolve_dtype,
)

DEFAULT_MODEL = "stabilityai/stable-diffusion-2-1-base"
REALISTIC_SUFFIX = ", a realistic image"

#: ``scheduler`` option -> (diffusers class name, extra config)
SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "dpm++": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}),
    "ddim": ("DDIMScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler-ancestral": ("EulerAncestralDiscreteScheduler", {}),
    "pndm": ("PNDMScheduler", {}),
}


class SD21Params(BaseModel):
    """Parameters of the ``sd21`` generator (``[generator.params]`` in a job config)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(DEFAULT_MODEL, description="hub id or local diffusers pipeline directory")
    variant: str | None = Field(None, description='weight variant, e.g. "fp16"')
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    dtype: Literal["auto", "fp32", "fp16", "bf16"] = Field(
        "auto", description="auto: fp16 on CUDA, fp32 on CPU"
    )
    scheduler: Literal["default", "dpm++", "ddim", "euler", "euler-ancestral", "pndm"] = Field(
        "default", description="default: the model's own scheduler"
    )
    steps: int = Field(25, ge=1, le=1000)
    guidance_scale: float = Field(7.5, ge=0.0)
    negative_prompt: str | None = None
    prompt_suffix: str = Field("", description=f'appended to prompts, e.g. "{REALISTIC_SUFFIX}"')
    batch_size: int = Field(4, ge=1)
    height: int | None = Field(None, ge=8, multiple_of=8, description="default: the model's size")
    width: int | None = Field(None, ge=8, multiple_of=8, description="default: the model's size")
    resize: int | tuple[int, int] | None = Field(
        None, description="resize the output to S x S or (H, W), e.g. 224 for a classifier"
    )
    attention_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: bool = Field(False, description="model CPU offload (CUDA + accelerate)")
    use_safetensors: bool = Field(True, description="false also allows pickled .bin weights")

    @field_validator("resize")
    @classmethod
    def _positive_size(cls, v: int | tuple[int, int] | None) -> int | tuple[int, int] | None:
        sizes = [v] if isinstance(v, int) else list(v or ())
        if any(s < 1 for s in sizes):
            raise ValueError(f"sizes must be positive, got {v}")
        return v


class StableDiffusionGenerator:
    """Text-to-image generator: ``generate(prompt, attributes, n, seed) -> (n, 3, H, W)`` in [0, 1].

    ``attributes`` are not used: the subdomain's prompt already names them. The prompt sent to
    the model is ``prompt + prompt_suffix``.
    """

    channels = 3

    def __init__(self, **params: Any) -> None:
        self.params = p = SD21Params(**params)
        self.device = resolve_device(p.device, where="sd21 params.device")
        self.dtype = resolve_dtype(p.dtype, self.device, where="sd21 params.dtype")
        if p.cpu_offload:
            if self.device.type != "cuda":
                raise ConfigError("sd21 params.cpu_offload: needs a CUDA device")
            if importlib.util.find_spec("accelerate") is None:
                raise ConfigError("sd21 params.cpu_offload: needs accelerate (pip install it)")
        self.source = model_source(
            p.model,
            where="sd21 params.model",
            required=["model_index.json"],
            what="diffusers pipeline",
            hub_file="model_index.json",
        )
        self._pipe: Any = None

    # ------------------------------------------------------------------ loading
    @property
    def pipeline(self) -> Any:
        """The loaded ``StableDiffusionPipeline`` (loads it on first use)."""
        if self._pipe is None:
            with torch.inference_mode(False):
                self._pipe = self._load()
        return self._pipe

    def load(self) -> StableDiffusionGenerator:
        """Load the weights now instead of on the first ``generate``."""
        _ = self.pipeline
        return self

    def _load(self) -> Any:
        from diffusers import StableDiffusionPipeline

        p, src = self.params, self.source
        try:
            with warnings.catch_warnings():
                # newer diffusers rename torch_dtype to dtype; older ones know only torch_dtype
                warnings.filterwarnings("ignore", ".*torch_dtype.*deprecated", FutureWarning)
                pipe = StableDiffusionPipeline.from_pretrained(
                    src.ref,
                    torch_dtype=self.dtype,
                    # None: safetensors where present, else .bin (False would refuse safetensors)
                    use_safetensors=True if p.use_safetensors else None,
                    local_files_only=src.local_files_only,
                    variant=p.variant,
                )
        except (OSError, ValueError) as exc:
            raise self._load_error(exc) from exc
        if p.scheduler != "default":
            import diffusers

            cls_name, extra = SCHEDULERS[p.scheduler]
            scheduler_cls = getattr(diffusers, cls_name)
            pipe.scheduler = scheduler_cls.from_config(pipe.scheduler.config, **extra)
        pipe.set_progress_bar_config(disable=True)
        if p.attention_slicing:
            pipe.enable_attention_slicing()
        if p.vae_tiling:
            pipe.vae.enable_tiling()
        if p.cpu_offload:
            pipe.enable_model_cpu_offload(device=self.device)
        else:
            pipe.to(self.device)
        return pipe

    def _load_error(self, exc: Exception) -> ConfigError:
        src, where = self.source, "sd21 params.model"
        if src.offline and not src.local:
            return offline_missing(src.ref, where)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        hint = ""
        if self.params.use_safetensors and "safetensors" in str(exc).lower():
            hint = (
                "; the model has no .safetensors weights: set use_safetensors = false only if "
                "you trust its pickled .bin files"
            )
        return ConfigError(f"{where}: cannot load diffusers pipeline {src.ref!r}: {first}{hint}")

    # ------------------------------------------------------------------ generation
    def _size(self) -> tuple[int, int]:
        pipe, p = self.pipeline, self.params
        default = pipe.unet.config.sample_size * pipe.vae_scale_factor
        return p.height or default, p.width or default

    def output_size(self) -> tuple[int, int]:
        """``(H, W)`` of the images ``generate`` returns."""
        r = self.params.resize
        if r is None:
            return self._size()
        return (r, r) if isinstance(r, int) else r

    def generate(self, prompt: str, attributes: dict[str, str], n: int, seed: int) -> torch.Tensor:
        """``n`` images of ``prompt + prompt_suffix``; image ``i`` uses the seed ``seed + i``."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        p = self.params
        height, width = self._size()
        if n == 0:
            return torch.empty(0, 3, *self.output_size(), device=self.device)
        text = prompt + p.prompt_suffix
        batches = []
        with torch.inference_mode(), oom_hint(p.batch_size, where="sd21 params.batch_size"):
            for start in range(0, n, p.batch_size):
                m = min(p.batch_size, n - start)
                seeds = range(seed + start, seed + start + m)
                generators = [torch.Generator("cpu").manual_seed(s) for s in seeds]
                out = self.pipeline(
                    prompt=[text] * m,
                    negative_prompt=[p.negative_prompt] * m if p.negative_prompt else None,
                    height=height,
                    width=width,
                    num_inference_steps=p.steps,
                    guidance_scale=p.guidance_scale,
                    generator=generators,
                    output_type="pt",
                )
                batches.append(self._postprocess(out.images))
        return torch.cat(batches)  # outside inference mode: a normal tensor, usable in autograd

    def _postprocess(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device, torch.float32)
        if self.params.resize is not None:
            size = self.output_size()
            images = F.interpolate(images, size=size, mode="bilinear", antialias=True)
        return images.clamp_(0.0, 1.0)

    def __repr__(self) -> str:
        return f"StableDiffusionGenerator(model={self.source.ref!r}, device={self.device})"

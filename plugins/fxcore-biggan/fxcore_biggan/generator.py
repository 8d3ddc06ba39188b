"""Class-conditional BigGAN (``pytorch-pretrained-biggan``) as an fxcore LatentGenerator.

Latent prior (the BigGAN / TF-Hub truncation trick): ``z = ψ · u`` with ``u`` a standard normal
truncated to ``[-2, 2]`` in each of the ``d`` coordinates, and ``ψ`` the truncation (the same
``ψ`` selects the generator's batch-norm statistics). Hence ``z_i ~ N(0, ψ²)`` truncated to
``[-2ψ, 2ψ]`` and, inside that box,

    log p(z) = -||z||² / (2ψ²) - d · log(ψ · sqrt(2π) · (Φ(2) - Φ(-2))).

Outside the box the density is 0; ``log_prior`` returns the Gaussian term minus a steep wall
``WALL · Σ_i relu(|z_i| - 2ψ)² / ψ²`` instead of ``-inf``, so it stays finite and its gradient
points back into the support (use :meth:`BigGANGenerator.in_support` to test membership).

Class conditions are ImageNet indices, WordNet ids (``"n02085620"``) or unambiguous class names
(``"Chihuahua"``), resolved with :meth:`fxcore.hierarchy.ClassHierarchy.imagenet`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from fxcore.errors import ConfigError
from fxcore.hierarchy import ClassHierarchy
from fxcore.models import oom_hint, resolve_device, resolve_dtype
from fxcore_biggan import loading

DEFAULT_MODEL = "biggan-deep-256"
BOUND = 2.0  #: truncation of the unit normal u: |u_i| <= BOUND
WALL = 1e4  #: steepness of the log-prior penalty outside the support
_MASS = math.erf(BOUND / math.sqrt(2.0))  # Φ(2) - Φ(-2)

ClassRef = int | str


class BigGANParams(BaseModel):
    """Parameters of the ``biggan`` generator (``[generator.params]`` in a job config)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(DEFAULT_MODEL, description="biggan-deep-128/256/512 or a local directory")
    cache_dir: str | None = Field(None, description="download cache for named models")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    dtype: Literal["auto", "fp32", "fp16", "bf16"] = Field("auto", description="auto: fp32")
    truncation: float = Field(0.4, gt=0.0, le=1.0, description="ψ of the truncation trick")
    condition: ClassRef | None = Field(
        None, description="default class: ImageNet index, WordNet id or class name"
    )
    class_attribute: str = Field(
        "class", description="attribute whose value is the class in generate()"
    )
    batch_size: int = Field(16, ge=1)


class BigGANGenerator:
    """``decode(z, condition) -> (n, 3, H, W)`` in [0, 1], differentiable in ``z``.

    The config is read when the generator is built; the weights on first use (or by
    :meth:`load`), once. Image ``i`` of ``generate`` / row ``i`` of ``sample_latent`` uses the
    seed ``seed + i``.
    """

    channels = 3

    def __init__(self, **params: Any) -> None:
        self.params = p = BigGANParams(**params)
        self.device = resolve_device(p.device, where="biggan params.device")
        self.dtype = resolve_dtype(
            p.dtype, self.device, auto=torch.float32, where="biggan params.dtype"
        )
        self.files = loading.resolve(p.model, p.cache_dir)
        self.config = loading.read_config(self.files)
        self.latent_dim: int = int(self.config.z_dim)
        self.num_classes: int = int(self.config.num_classes)
        self.truncation = float(p.truncation)
        self.resolution: int = int(self.config.output_dim)
        self._hierarchy = ClassHierarchy.imagenet() if self.num_classes == 1000 else None
        self.conditions: Sequence[str] = (
            self._hierarchy.unique_names()
            if self._hierarchy is not None
            else [str(i) for i in range(self.num_classes)]
        )
        self._condition_index = {name: i for i, name in enumerate(self.conditions)}
        self.default_class = (
            self.class_index(p.condition, where="biggan params.condition")
            if p.condition is not None
            else None
        )
        self._model: torch.nn.Module | None = None

    # ------------------------------------------------------------------ model
    @property
    def model(self) -> torch.nn.Module:
        """The ``BigGAN`` module in eval mode, weights frozen (loaded on first use)."""
        if self._model is None:
            # normal tensors even when first used inside inference mode (generate), so that a
            # later decode can be differentiated
            with torch.inference_mode(False):
                model = loading.build_model(self.files, self.config)
                model.eval().requires_grad_(False)
                self._model = model.to(self.device, self.dtype)
        return self._model

    def load(self) -> BigGANGenerator:
        """Load the weights now instead of on first use."""
        _ = self.model
        return self

    # ------------------------------------------------------------------ conditions
    def class_index(self, ref: ClassRef, where: str = "condition") -> int:
        """The class index of an ImageNet index, WordNet id or class name."""
        if isinstance(ref, bool):
            raise ConfigError(f"{where}: expected a class index, WordNet id or name, got {ref!r}")
        if isinstance(ref, str) and ref.strip().isdigit():
            ref = int(ref)
        if isinstance(ref, str) and ref in self._condition_index:
            return self._condition_index[ref]
        if isinstance(ref, int):
            if not 0 <= ref < self.num_classes:
                raise ConfigError(f"{where}: class index {ref} not in 0..{self.num_classes - 1}")
            return ref
        if self._hierarchy is None:
            raise ConfigError(
                f"{where}: {ref!r}: this model has {self.num_classes} classes, "
                "not ImageNet's 1000; use a class index"
            )
        try:
            return self._hierarchy.index(ref)
        except KeyError as exc:
            raise ConfigError(f"{where}: {exc.args[0]}") from None

    def condition_vector(self, condition: Any, n: int) -> torch.Tensor:
        """``(n, num_classes)`` class vectors for ``decode``.

        ``condition``: ``None`` (the configured default class), a class reference (index, WordNet
        id or name), a sequence of ``n`` references, an integer tensor of ``n`` (or one) class
        indices, or a float tensor ``(n, num_classes)`` used as is (mixtures of classes).
        """
        if condition is None:
            if self.default_class is None:
                raise ConfigError(
                    "biggan params.condition: no class given; set a default class or pass one"
                )
            condition = self.default_class
        if isinstance(condition, torch.Tensor) and condition.is_floating_point():
            if condition.shape != (n, self.num_classes):
                raise ValueError(
                    f"condition: float class vectors must be ({n}, {self.num_classes}), "
                    f"got {tuple(condition.shape)}"
                )
            return condition.to(self.device, self.dtype)
        if isinstance(condition, torch.Tensor):
            idx = condition.reshape(-1).long()
        elif isinstance(condition, (int, str)):
            idx = torch.tensor([self.class_index(condition)])
        else:
            idx = torch.tensor([self.class_index(c) for c in condition])
        if idx.numel() == 1:
            idx = idx.expand(n)
        if idx.numel() != n:
            raise ValueError(f"condition: {idx.numel()} classes for {n} latents")
        if idx.min() < 0 or idx.max() >= self.num_classes:
            raise ValueError(f"condition: class indices must be in 0..{self.num_classes - 1}")
        return F.one_hot(idx.to(self.device), self.num_classes).to(self.dtype)

    # ------------------------------------------------------------------ latent space
    @property
    def latent_bound(self) -> float:
        """Half-width of the support box: ``|z_i| <= 2ψ``."""
        return BOUND * self.truncation

    def sample_latent(self, n: int, seed: int) -> torch.Tensor:
        """``(n, d)`` draws of ``ψ · TN(0, 1; [-2, 2])``; row ``i`` from the seed ``seed + i``."""
        lo = 0.5 * (1.0 - _MASS)  # Φ(-2)
        rows = []
        for i in range(n):
            g = torch.Generator("cpu").manual_seed(seed + i)
            u = torch.rand(self.latent_dim, generator=g, dtype=torch.float64)
            rows.append(torch.special.ndtri(lo + u * _MASS))  # inverse-CDF sampling
        if not rows:
            return torch.empty(0, self.latent_dim, device=self.device)
        z = torch.stack(rows).clamp_(-BOUND, BOUND) * self.truncation
        return z.to(self.device, torch.float32)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """``log p(z)`` per row (see the module docstring; a finite wall outside the box)."""
        psi, d = self.truncation, z.shape[-1]
        log_norm = d * math.log(psi * math.sqrt(2.0 * math.pi) * _MASS)
        inside = -(z**2).sum(-1) / (2.0 * psi**2) - log_norm
        excess = F.relu(z.abs() - self.latent_bound) / psi
        return inside - WALL * (excess**2).sum(-1)

    def in_support(self, z: torch.Tensor) -> torch.Tensor:
        """``(n,)`` bool: every coordinate within ``±2ψ``."""
        return (z.abs() <= self.latent_bound + 1e-6).all(-1)

    def decode(self, z: torch.Tensor, condition: Any = None) -> torch.Tensor:
        """Images ``(n, 3, H, W)`` in ``[0, 1]`` (BigGAN's ``[-1, 1]`` mapped affinely)."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must be (n, {self.latent_dim}), got {tuple(z.shape)}")
        cond = self.condition_vector(condition, z.shape[0])
        out = self.model(z.to(self.device, self.dtype), cond, self.truncation)
        return (out.float() + 1.0) / 2.0

    # ------------------------------------------------------------------ Generator
    def generate(self, prompt: str, attributes: dict[str, str], n: int, seed: int) -> torch.Tensor:
        """``n`` images of the class in ``attributes[class_attribute]``, else the default class,
        else the prompt read as a class name."""
        cls = attributes.get(self.params.class_attribute)
        if cls is not None:
            label = self.class_index(cls, where=f"attribute {self.params.class_attribute!r}")
        elif self.default_class is not None:
            label = self.default_class
        else:
            label = self.class_index(prompt.strip(), where="biggan prompt (no params.condition)")
        z = self.sample_latent(n, seed)
        bs = self.params.batch_size
        with torch.inference_mode(), oom_hint(bs, where="biggan params.batch_size"):
            parts = [self.decode(z[i : i + bs], label) for i in range(0, n, bs)]
        if not parts:
            return torch.empty(0, 3, self.resolution, self.resolution, device=self.device)
        return torch.cat(parts)

    def __repr__(self) -> str:
        return (
            f"BigGANGenerator(model={self.params.model!r}, ψ={self.truncation}, "
            f"device={self.device})"
        )

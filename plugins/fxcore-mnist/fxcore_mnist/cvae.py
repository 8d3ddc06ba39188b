"""A conditional VAE of 28×28 grey images: the embedded latent generator of ``mds`` (GeValDi).

``x ~ g(z, c)`` with ``z ∈ R^d`` (``d = latent_dim``, default 8), prior ``p(z) = N(0, I)`` and
condition ``c`` one of the data set's class names. Encoder and decoder are MLPs on
``[x, onehot(c)]`` and ``[z, onehot(c)]``; trained on the training split of ``dataset`` by the
ELBO (Bernoulli likelihood, ``β``-weighted KL) on first use and cached next to the classifiers
(``{cache_dir}/mnist/{dataset}-cvae-d{d}-h{hidden}-e{epochs}-n{n}-s{seed}-v{VERSION}.pt``, see
:func:`fxcore_mnist.classifiers.default_cache_dir`).

Follows :class:`fxcore.contracts.LatentGenerator`: ``decode(z, condition)`` is differentiable in
``z``; ``condition`` is a ``LongTensor (N,)`` of indices into ``conditions``.
"""

from __future__ import annotations

import io
import logging
import math
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from fxcore.models import torch_threads
from fxcore.store import write_atomic
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from fxcore_mnist.classifiers import default_cache_dir
from fxcore_mnist.data import load_dataset, to_tensor

_log = logging.getLogger(__name__)

#: bump when the architecture or the training recipe change (invalidates caches)
VERSION = 1
DEFAULT_EPOCHS: dict[str, int] = {"mnist": 20, "fashion": 4}
BATCH_SIZE = 128
DEFAULT_TRAIN_SIZE: dict[str, int | None] = {"mnist": None, "fashion": 20000}
PIXELS = 28 * 28


class CvaeParams(BaseModel):
    """Parameters of ``cvae``."""

    model_config = ConfigDict(extra="forbid")

    dataset: Literal["mnist", "fashion"] = "mnist"
    latent_dim: int = Field(8, gt=0, le=64, description="d, size of the latent z")
    hidden: int = Field(256, gt=0, description="width of the encoder and decoder layers")
    epochs: int | None = Field(None, gt=0, description="default 20 mnist, 4 fashion")
    train_size: int | None = Field(None, gt=0, description="default all mnist, 20000 fashion")
    beta: float = Field(1.0, gt=0, description="weight of the KL term of the ELBO")
    seed: int = Field(0, ge=0)
    cache_dir: str | None = Field(None, description="default $FXCORE_CACHE or ~/.cache/fxcore")


class _Net(nn.Module):
    def __init__(self, d: int, hidden: int, k: int) -> None:
        super().__init__()
        self.k = k
        self.enc = nn.Sequential(nn.Linear(PIXELS + k, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2 * d))
        self.dec = nn.Sequential(nn.Linear(d + k, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, PIXELS))

    def encode(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.enc(torch.cat([x.flatten(1), F.one_hot(c, self.k).float()], 1))
        mu, logvar = h.chunk(2, dim=1)
        return mu, logvar

    def logits(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.dec(torch.cat([z, F.one_hot(c, self.k).to(z.dtype)], 1))


class ConditionalVAE:
    """The ``mnist/cvae`` generator. ``origin``: ``"cache"`` or ``"trained"`` (now, and cached)."""

    channels = 1

    def __init__(
        self,
        dataset: str = "mnist",
        latent_dim: int = 8,
        hidden: int = 256,
        epochs: int | None = None,
        train_size: int | None = None,
        beta: float = 1.0,
        seed: int = 0,
        cache_dir: str | Path | None = None,
    ) -> None:
        data = load_dataset(dataset)
        self.dataset = dataset
        self.conditions: list[str] = list(data.classes)
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.epochs = epochs or DEFAULT_EPOCHS[dataset]
        self.train_size = train_size or DEFAULT_TRAIN_SIZE[dataset]
        self.beta = beta
        self.seed = seed
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        torch.manual_seed(seed)
        self.net = _Net(latent_dim, hidden, len(self.conditions))
        if self._load():
            self.origin = "cache"
        else:
            self._train()
            self._save()
            self.origin = "trained"
        self.net.eval()
        self.net.requires_grad_(False)

    # ------------------------------------------------------------ contract
    def sample_latent(self, n: int, seed: int) -> torch.Tensor:
        """``n`` draws from the prior ``N(0, I_d)``, reproducible by ``seed``."""
        gen = torch.Generator().manual_seed(int(seed))
        return torch.randn(n, self.latent_dim, generator=gen)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """``log N(z; 0, I)`` per row."""
        return -0.5 * (z.pow(2).sum(1) + self.latent_dim * math.log(2 * math.pi))

    def decode(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Images ``(N, 1, 28, 28)`` in [0, 1] (Bernoulli means); differentiable in ``z``."""
        if condition is None:
            raise ValueError(
                f"cvae is class-conditional: pass condition indices into {self.conditions}"
            )
        c = torch.as_tensor(condition, dtype=torch.long).reshape(-1)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must be (N, {self.latent_dim}), got {tuple(z.shape)}")
        if len(c) == 1 and len(z) > 1:
            c = c.expand(len(z))
        if len(c) != len(z) or int(c.min()) < 0 or int(c.max()) >= len(self.conditions):
            raise ValueError(
                f"condition must be {len(z)} indices in 0..{len(self.conditions) - 1}"
            )
        return torch.sigmoid(self.net.logits(z, c)).view(-1, 1, 28, 28)

    def generate(self, prompt: str, attributes: dict[str, str], n: int, seed: int) -> torch.Tensor:
        """``n`` images of the class named ``prompt`` (the Generator contract)."""
        if prompt not in self.conditions:
            raise ValueError(f"cvae prompt must be a class name, one of {self.conditions}")
        c = torch.full((n,), self.conditions.index(prompt), dtype=torch.long)
        with torch.no_grad():
            return self.decode(self.sample_latent(n, seed), c)

    # ------------------------------------------------------------ training and cache
    @property
    def cache_path(self) -> Path:
        n = self.train_size or "all"
        name = (f"{self.dataset}-cvae-d{self.latent_dim}-h{self.hidden}-e{self.epochs}-n{n}"
                f"-b{self.beta:g}-s{self.seed}-v{VERSION}.pt")
        return self.cache_dir / "mnist" / name

    def _load(self) -> bool:
        path = self.cache_path
        if not path.is_file():
            return False
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            self.net.load_state_dict(blob["state_dict"])
        except Exception as exc:  # noqa: BLE001 - an unreadable cache is retrained
            _log.warning("ignoring unreadable cvae cache %s (%s); retraining", path, exc)
            return False
        self.elbo = blob["meta"].get("test_elbo")
        return True

    def _save(self) -> None:
        buf = io.BytesIO()
        meta: dict[str, Any] = {"dataset": self.dataset, "latent_dim": self.latent_dim,
                                "epochs": self.epochs, "version": VERSION, "test_elbo": self.elbo}
        torch.save({"state_dict": self.net.state_dict(), "meta": meta}, buf)
        write_atomic(self.cache_path, buf.getvalue())

    def _loss(self, x: torch.Tensor, c: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        """Negative ELBO per image (nats): BCE reconstruction + β · KL(q(z|x,c) ‖ N(0, I))."""
        mu, logvar = self.net.encode(x, c)
        eps = torch.randn(mu.shape, generator=gen) if gen is not None else torch.zeros_like(mu)
        z = mu + eps * (0.5 * logvar).exp()
        rec = F.binary_cross_entropy_with_logits(
            self.net.logits(z, c), x.flatten(1), reduction="none").sum(1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
        return rec + self.beta * kl

    def _train(self) -> None:
        data = load_dataset(self.dataset)
        x_np, y_np = data.split("train")
        if self.train_size and self.train_size < len(y_np):
            pick = np.sort(np.random.default_rng(self.seed).choice(len(y_np), self.train_size,
                                                                   replace=False))
            x_np, y_np = x_np[pick], y_np[pick]
        x, y = to_tensor(x_np), torch.from_numpy(y_np)
        gen = torch.Generator().manual_seed(self.seed)
        opt = torch.optim.Adam(self.net.parameters(), lr=2e-3)
        start = time.perf_counter()
        self.net.train()
        with torch_threads(1):  # small matrices: one thread is as fast, never oversubscribes
            self._epochs(x, y, gen, opt)
        self.net.eval()
        xt, yt = data.split("test")
        with torch.no_grad():
            self.elbo = -float(self._loss(to_tensor(xt), torch.from_numpy(yt), None).mean())
        _log.info("fxcore-mnist: trained cvae on %s (%d images, %d epochs, %.1f s): test ELBO "
                  "(at the posterior mean) %.1f nats", self.dataset, len(y), self.epochs,
                  time.perf_counter() - start, self.elbo)

    def _epochs(self, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator,
                opt: torch.optim.Optimizer) -> None:
        for _ in range(self.epochs):
            order = torch.randperm(len(y), generator=gen)
            for i in range(0, len(y), BATCH_SIZE):
                idx = order[i : i + BATCH_SIZE]
                loss = self._loss(x[idx], y[idx], gen).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

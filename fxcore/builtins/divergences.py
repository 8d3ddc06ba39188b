"""Built-in divergences over M predictive distributions ``(M, N, C) -> (N,)``.

All are differentiable torch functions. Probabilities are clamped to ``eps`` before logs, so a
zero probability gives a large finite value rather than ``inf``.

torch is imported when a divergence is called, not with this module: the built-ins are
registered in every process, ``fx plugins`` included, which must start without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import torch

EPS = 1e-12


class DivergenceParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    eps: float = Field(1e-12, gt=0, lt=1e-3, description="clamp before log")


def _check(probs: torch.Tensor, at_least: int) -> None:
    if probs.dim() != 3:
        shape = tuple(probs.shape)
        raise ValueError(f"divergence expects probabilities (M, N, C), got shape {shape}")
    if probs.shape[0] < at_least:
        raise ValueError(f"divergence needs at least {at_least} classifiers, got {probs.shape[0]}")


def _kl(p: torch.Tensor, q: torch.Tensor, eps: float) -> torch.Tensor:
    p_ = p.clamp_min(eps)
    return (p * (p_.log() - q.clamp_min(eps).log())).sum(-1)


def _mean(rows: list[torch.Tensor]) -> torch.Tensor:
    import torch

    return torch.stack(rows).mean(0)


class KL:
    """KL(p_1 ‖ p_2) = Σ_c p_1 log(p_1 / p_2); order matters (GeValDi's expressivity study).

    With M > 2 classifiers: the mean of KL(p_1 ‖ p_m) over m = 2..M (classifier 1 is the reference).
    """

    def __init__(self, eps: float = EPS) -> None:
        self.eps = eps

    def __call__(self, probs: torch.Tensor) -> torch.Tensor:
        _check(probs, 2)
        return _mean([_kl(probs[0], q, self.eps) for q in probs[1:]])


class ReverseKL(KL):
    """KL(p_2 ‖ p_1): the reverse order; with M > 2, the mean of KL(p_m ‖ p_1)."""

    def __call__(self, probs: torch.Tensor) -> torch.Tensor:
        _check(probs, 2)
        return _mean([_kl(q, probs[0], self.eps) for q in probs[1:]])


class JensenShannon(KL):
    """Generalised Jensen–Shannon: H(mean_m p_m) − mean_m H(p_m) = mean_m KL(p_m ‖ p̄).

    Symmetric, bounded by log M; for M = 2 it is the usual JS divergence.
    """

    def __call__(self, probs: torch.Tensor) -> torch.Tensor:
        _check(probs, 2)
        mean = probs.mean(0)
        return _mean([_kl(p, mean, self.eps) for p in probs])

"""Active learning for the certified label run: which items a person labels next, and how many
errors the policy would still make (to plan the certificate's sample).

Notation: ``probs (M, N, C)`` of M classifiers; the policy's ``score (N,)`` (OPAL's
``Σ_k w_k c_ik`` where the classifiers agree, -inf where they do not) and its ``label (N,)``.
"""

from __future__ import annotations

from typing import get_args

import numpy as np

from fxcore.schemas.label import Pick

PICKS: tuple[str, ...] = get_args(Pick)


def uncertainty(probs: np.ndarray, score: np.ndarray, pick: str) -> np.ndarray:
    """Priority of each item, lowest first: ``uncertain`` the policy's score; ``margin`` the gap
    between the two most probable classes of the classifiers' mean; ``disagreement`` the share
    of classifiers that agree with the most common vote (ties broken by the margin)."""
    if pick == "uncertain":
        return np.asarray(score, dtype=np.float64)
    mean = probs.mean(axis=0)
    top2 = np.sort(mean, axis=1)[:, -2:] if mean.shape[1] > 1 else np.pad(mean, ((0, 0), (1, 0)))
    margin = top2[:, 1] - top2[:, 0]
    if pick == "margin":
        return margin
    if pick == "disagreement":
        pred = probs.argmax(axis=2)
        votes = np.stack([(pred == c).sum(axis=0) for c in np.unique(pred)])
        return votes.max(axis=0) / len(probs) + 1e-3 * margin
    raise ValueError(f"unknown pick {pick!r} (use one of {', '.join(PICKS)})")


def choose(pool: np.ndarray, priority: np.ndarray, size: int, pick: str,
           rng: np.random.Generator) -> np.ndarray:
    """``size`` items of ``pool``: the lowest ``priority`` (or a uniform draw for ``random``)."""
    size = min(size, len(pool))
    if pick == "random":
        return np.sort(rng.choice(pool, size=size, replace=False))
    order = np.lexsort((pool, priority[pool]))
    return np.sort(pool[order[:size]])


def error_scale(p_wrong: np.ndarray, wrong: np.ndarray) -> float:
    """κ such that ``κ·p_wrong`` matches the observed errors on held-out labelled items
    (smoothed by one error, so a clean sample does not give κ = 0). Agreeing classifiers are
    often under-confident on average (κ < 1), fine-tuned ones over-confident (κ > 1)."""
    return float((np.sum(wrong) + 1.0) / (np.sum(p_wrong) + 1.0))


def model_error(probs: np.ndarray, label: np.ndarray) -> np.ndarray:
    """The classifiers' own error probability of ``label``: 1 − mean_k p_k(label)."""
    n = probs.shape[1]
    safe = np.where(label >= 0, label, 0)
    return np.where(label >= 0, 1.0 - probs[:, np.arange(n), safe].mean(axis=0), 1.0)

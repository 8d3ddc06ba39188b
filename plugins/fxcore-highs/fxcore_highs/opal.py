"""OPAL conditions, input checks and the fitted policy (pure numpy, no kernel import).

Notation (OPAL paper): classifiers k = 1..n, items i = 1..m of the optimisation set; ``c_ik`` is
the confidence of classifier k in the label it gives item i (the probability of its predicted
label); ``w_k ≥ 0`` are the policy weights.

- OPAL Condition 1 (``condition="all"``): every classifier predicts the same label.
  ``condition="majority"``: the label is the unique most common prediction (a tie between the
  most common labels fails the condition); only the classifiers that voted for it count in
  Condition 2, i.e. ``c_ik = 0`` for the others.
- OPAL Condition 2: ``Σ_k w_k c_ik > 1``. The solver works with a margin ε = :data:`EPS`: an
  auto-labelled item of the optimisation set has ``Σ_k w_k c_ik ≥ 1 + ε``, an item whose
  manual status matters has ``Σ_k w_k c_ik ≤ 1``. :meth:`OpalPolicy.decide` auto-labels when
  ``Σ_k w_k c_ik ≥ 1 + ε/2`` (:data:`THRESHOLD`), which reproduces the solver's decisions with
  room ε/2 on either side for floating-point and solver tolerances.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Condition = Literal["all", "majority"]

EPS = 1e-4
"""Margin ε of OPAL Condition 2 in the MILP: auto needs Σ_k w_k c_ik ≥ 1 + ε."""
THRESHOLD = 1.0 + EPS / 2
"""Decision rule of a fitted policy: auto-label when Σ_k w_k c_ik ≥ 1 + ε/2 (> 1)."""
SUM_TOL = 1e-3
"""How far a row of probabilities may be from summing to 1."""


def check_probs(probs: object, name: str = "probs") -> np.ndarray:
    """``probs`` as a float array ``(M classifiers, N items, C classes)``, or a ValueError."""
    arr = np.asarray(probs, dtype=float)
    if arr.ndim != 3:
        raise ValueError(
            f"{name} must have shape (M classifiers, N items, C classes), got shape {arr.shape}"
        )
    n_clf, n_items, n_classes = arr.shape
    if n_clf < 1 or n_items < 1 or n_classes < 1:
        raise ValueError(f"{name} has an empty axis: shape {arr.shape}")
    if np.isnan(arr).any():
        k, i, _ = np.argwhere(np.isnan(arr))[0]
        raise ValueError(f"{name} contains NaN confidences (first at classifier {k}, item {i})")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains infinite values")
    if arr.min() < -SUM_TOL or arr.max() > 1 + SUM_TOL:
        raise ValueError(
            f"{name} must be probabilities in [0, 1]; found {arr.min():g}..{arr.max():g}"
        )
    sums = arr.sum(axis=2)
    bad = np.abs(sums - 1.0) > SUM_TOL
    if bad.any():
        k, i = np.argwhere(bad)[0]
        raise ValueError(
            f"{name} rows must sum to 1 (±{SUM_TOL:g}); classifier {k}, item {i} sums to "
            f"{sums[k, i]:.6g}"
        )
    return arr


def check_truth(truth: object, n_items: int, n_classes: int) -> np.ndarray:
    """True labels as an int array ``(N,)`` with values in ``0..C-1``, or a ValueError."""
    arr = np.asarray(truth)
    if arr.ndim != 1 or arr.shape[0] != n_items:
        raise ValueError(
            f"truth must have shape ({n_items},) to match probs (M, N={n_items}, C), "
            f"got shape {arr.shape}"
        )
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer)
        or (np.issubdtype(arr.dtype, np.floating) and np.all(np.mod(arr, 1) == 0))
    ):
        raise ValueError(f"truth must hold integer class labels, got dtype {arr.dtype}")
    labels = arr.astype(np.int64)
    bad = (labels < 0) | (labels >= n_classes)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"truth labels must be in 0..{n_classes - 1} (C={n_classes}); item {i} has {labels[i]}"
        )
    return labels


def check_alpha(alpha: float) -> float:
    """Target accuracy α in (0, 1], or a ValueError."""
    a = float(alpha)
    if not (0.0 < a <= 1.0):
        raise ValueError(f"target accuracy α must be in (0, 1], got {alpha!r}")
    return a


def agreement(probs: np.ndarray, condition: Condition) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OPAL Condition 1 and the confidences of Condition 2.

    Returns ``(agree (N,) bool, label (N,) int, conf (N, M))`` with ``conf[i, k] = c_ik``:
    the probability classifier k gives its predicted label when it voted for ``label[i]``,
    else 0 (only possible with ``condition="majority"``). ``label`` is -1 where Condition 1 fails.
    """
    n_clf, n_items, n_classes = probs.shape
    pred = probs.argmax(axis=2)  # (M, N)
    top = np.take_along_axis(probs, pred[..., None], axis=2)[..., 0]  # (M, N)
    if condition == "all":
        agree = (pred == pred[0]).all(axis=0)
        label = np.where(agree, pred[0], -1)
    elif condition == "majority":
        votes = np.zeros((n_items, n_classes), dtype=np.int64)
        np.add.at(votes, (np.arange(n_items)[None, :].repeat(n_clf, 0), pred), 1)
        best = votes.max(axis=1)
        agree = (votes == best[:, None]).sum(axis=1) == 1
        label = np.where(agree, votes.argmax(axis=1), -1)
    else:
        raise ValueError(f"condition must be 'all' or 'majority', got {condition!r}")
    voted = (pred == label[None, :]) & agree[None, :]
    conf = np.where(voted, top, 0.0).T.copy()
    return agree, label, conf


@dataclass
class FitStats:
    """What the fit did, in numbers (all counts are over the optimisation set)."""

    n_items: int = 0
    n_agree: int = 0
    n_auto: int = 0
    n_auto_wrong: int = 0
    accuracy: float = 1.0
    target_accuracy: float = 1.0
    error_limit: int | None = None
    guarantee: float | None = None
    auto_error_upper: float | None = None
    objective: float = 0.0
    bound: float = 0.0
    start_objective: float | None = None
    formulation: str = "tight"
    solver: str = "none"
    n_groups: int = 0
    n_free: int = 0
    n_hard: int = 0
    n_cuts: int = 0
    extra: dict[str, float] = field(default_factory=dict)


@dataclass(eq=False)
class OpalPolicy:
    """A fitted OPAL policy: auto-label item i iff Condition 1 holds and Σ_k w_k c_ik ≥ θ.

    Follows :class:`fxcore.contracts.LabelPolicy`. ``status`` is one of ``"optimal"`` (proven
    optimum), ``"gap_limit"`` (stopped at ``mip_rel_gap``), ``"time_limit"`` (best policy found
    in time, not proven optimal), ``"unreachable"`` (no auto-labelling meets the target: every
    item goes to a person) or ``"failed"`` (solver failure: every item goes to a person).
    """

    weights: np.ndarray
    condition: Condition
    n_classes: int
    status: str
    gap: float
    seconds: float
    message: str
    threshold: float = THRESHOLD
    stats: FitStats = field(default_factory=FitStats)

    def scores(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(agree, label, Σ_k w_k c_ik)`` for ``probs (M, N, C)``."""
        arr = check_probs(probs)
        if arr.shape[0] != len(self.weights) or arr.shape[2] != self.n_classes:
            raise ValueError(
                f"probs must have shape ({len(self.weights)}, N, {self.n_classes}) like the "
                f"optimisation set, got {arr.shape}"
            )
        agree, label, conf = agreement(arr, self.condition)
        return agree, label, conf @ self.weights

    def decide(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``probs (M, N, C)`` -> ``(auto (N,) bool, labels (N,) int)``; label -1 where manual."""
        agree, label, score = self.scores(probs)
        auto = agree & (score >= self.threshold)
        return auto, np.where(auto, label, -1)

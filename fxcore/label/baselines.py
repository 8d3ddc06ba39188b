"""Labelling baselines, for the benchmark (and the built-in ``threshold`` labeller).

- :class:`ThresholdLabeller` (registered as the built-in labeller ``threshold``): the
  single-metric threshold (like B-VIF): auto-label an item when the classifiers agree and the
  mean confidence of their label is ≥ t, with the smallest t whose accuracy on the optimisation
  set (manual items counted correct) is ≥ α. Exact by sorting; no solver. With one classifier
  it is the same rule as OPAL's (``w·c > 1`` is ``c > 1/w``).
- :func:`supervised`: one classifier fine-tuned on the whole labelled budget labels the rest.
- :func:`pseudo_labelling`: fine-tune, add confident predictions as labels, fine-tune again.
- :func:`rf_active_learning`: random-forest active learning like HiL-TV: query the items with
  the smallest margin in batches until the budget is spent, auto-label the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict


class ThresholdParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    condition: Literal["all", "majority"] = "all"


def agreed_scores(probs: np.ndarray, condition: str) -> tuple[np.ndarray, np.ndarray]:
    """``(label (N,), score (N,))``: the agreed label (-1 when Condition 1 fails) and the
    mean confidence of the classifiers that voted for it."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 3:
        raise ValueError(f"probs must be (M, N, C), got shape {probs.shape}")
    if np.isnan(probs).any():
        raise ValueError("probs contains NaN confidences")
    m, n, c = probs.shape
    pred = probs.argmax(axis=2)
    top = probs.max(axis=2)
    votes = np.zeros((n, c), dtype=np.int64)
    np.add.at(votes, (np.tile(np.arange(n), m), pred.ravel()), 1)
    best = votes.argmax(axis=1)
    if condition == "all":
        ok = votes[np.arange(n), best] == m
    else:
        ok = (votes == votes.max(axis=1, keepdims=True)).sum(axis=1) == 1
    voted = pred == best[None, :]
    score = (top * voted).sum(axis=0) / np.maximum(voted.sum(axis=0), 1)
    return np.where(ok, best, -1), np.where(ok, score, -np.inf)


@dataclass
class ThresholdPolicy:
    threshold: float
    condition: str
    status: str = "optimal"
    gap: float = 0.0
    seconds: float = 0.0
    message: str = ""

    def decide(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        label, score = agreed_scores(probs, self.condition)
        auto = (label >= 0) & (score >= self.threshold)
        return auto, np.where(auto, label, -1)


class ThresholdLabeller:
    """See the module docstring; follows :class:`fxcore.contracts.Labeller`."""

    def __init__(self, condition: str = "all") -> None:
        self.condition = condition

    def fit(self, probs: np.ndarray, truth: np.ndarray, target_accuracy: float) -> ThresholdPolicy:
        t0 = time.perf_counter()
        if not 0 < target_accuracy <= 1:
            raise ValueError(f"target accuracy α must be in (0, 1], got {target_accuracy}")
        truth = np.asarray(truth, dtype=np.int64)
        label, score = agreed_scores(probs, self.condition)
        if len(truth) != len(label):
            raise ValueError(f"truth has {len(truth)} items, probs {len(label)}")
        if (truth < 0).any() or (truth >= probs.shape[2]).any():
            raise ValueError("truth labels outside the class set")
        m = len(truth)
        order = np.argsort(-score, kind="stable")
        s, wrong = score[order], (label[order] != truth[order])
        valid = np.isfinite(s)
        budget = int(np.floor((1 - target_accuracy) * m + 1e-9))
        cum = np.concatenate([[0], np.cumsum(wrong & valid)])
        # j items auto-labelled is feasible when it cuts between distinct scores
        cut = np.concatenate([[True], np.append(s[1:] < s[:-1], True)[: len(s)]])
        cut[1:] &= valid
        ok = np.flatnonzero(cut & (cum <= budget))
        j = int(ok.max())
        t = float(s[j - 1]) if j > 0 else float("inf")
        acc = (m - cum[j]) / m
        msg = (f"exact (sort): {j} of {m} auto-labelled, accuracy {acc:.4f} on the "
               f"optimisation set, threshold {t:.4g}")
        return ThresholdPolicy(t, self.condition, seconds=time.perf_counter() - t0, message=msg)


# ----------------------------------------------------------------------------- baselines
@dataclass
class BaselineResult:
    """Accuracy over all items (labelled ones counted as given) and the manual effort."""

    name: str
    accuracy: float
    manual_effort: float
    rest_accuracy: float

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _score(name: str, final: np.ndarray, truth: np.ndarray, manual: np.ndarray,
           rest: np.ndarray) -> BaselineResult:
    ok = final == truth
    return BaselineResult(name, float(ok.mean()), float(manual.mean()), float(ok[rest].mean()))


def supervised(probs_rest: np.ndarray, truth: np.ndarray, labelled: np.ndarray,
               rest: np.ndarray) -> BaselineResult:
    """One classifier (fine-tuned on ``labelled``) predicts every item of ``rest``."""
    final = truth.copy()
    final[rest] = probs_rest.argmax(axis=1)
    manual = np.zeros(len(truth), dtype=bool)
    manual[labelled] = True
    return _score("supervised", final, truth, manual, np.isin(np.arange(len(truth)), rest))


def pseudo_labelling(fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray],
                     truth: np.ndarray, labelled: np.ndarray, rest: np.ndarray,
                     tau: float = 0.95) -> BaselineResult:
    """``fit_predict(index, labels) -> probs (N, C)`` trains a fresh model; round 1 on the
    labelled items, round 2 adds the rest items predicted with confidence ≥ ``tau``."""
    p1 = fit_predict(labelled, truth[labelled])
    conf = p1[rest].max(axis=1) >= tau
    index = np.concatenate([labelled, rest[conf]])
    labels = np.concatenate([truth[labelled], p1[rest[conf]].argmax(axis=1)])
    p2 = fit_predict(index, labels)
    return replace(supervised(p2[rest], truth, labelled, rest), name="pseudo-labelling")


def single_metric(probs: np.ndarray, truth: np.ndarray, labelled_opt: np.ndarray,
                  labelled: np.ndarray, rest: np.ndarray, alpha: float) -> BaselineResult:
    """One classifier's confidence as the single metric (like B-VIF's single score)."""
    policy = ThresholdLabeller().fit(probs[:1, labelled_opt], truth[labelled_opt], alpha)
    auto, lab = policy.decide(probs[:1, rest])
    final = truth.copy()
    final[rest[auto]] = lab[auto]
    manual = np.zeros(len(truth), dtype=bool)
    manual[labelled] = True
    manual[rest[~auto]] = True
    return _score("single-metric", final, truth, manual, np.isin(np.arange(len(truth)), rest))


def rf_active_learning(x: np.ndarray, truth: np.ndarray, budget: int, batch: int = 50,
                       seed: int = 0) -> BaselineResult:
    """HiL-TV-like: a random forest on ``x``, margin sampling in batches of ``batch`` until
    ``budget`` items are labelled, then the forest labels everything else."""
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(seed)
    n = len(truth)
    budget = int(min(max(budget, 2), n))
    labelled = rng.choice(n, size=min(batch, budget), replace=False)
    rf = RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)
    while True:
        rf.fit(x[labelled], truth[labelled])
        if len(labelled) >= budget:
            break
        pool = np.setdiff1d(np.arange(n), labelled)
        p = rf.predict_proba(x[pool])
        part = np.sort(p, axis=1)
        margin = part[:, -1] - (part[:, -2] if p.shape[1] > 1 else 0)
        take = pool[np.argsort(margin, kind="stable")[: min(batch, budget - len(labelled))]]
        labelled = np.concatenate([labelled, take])
    final = truth.copy()
    pool = np.setdiff1d(np.arange(n), labelled)
    final[pool] = rf.classes_[rf.predict_proba(x[pool]).argmax(axis=1)]
    manual = np.zeros(n, dtype=bool)
    manual[labelled] = True
    return _score("rf-active-learning", final, truth, manual, ~manual)

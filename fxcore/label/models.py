"""Adapters that give the OPAL pipeline one view of image classifiers and tabular models.

A :class:`Model` fits on item indices with labels, predicts ``(N, C)`` probabilities for every
item, and offers a representation of the items for the split.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch

from fxcore.checks import describe, probabilities
from fxcore.contracts import Fittable, HasFeatures
from fxcore.errors import ConfigError, RunError
from fxcore.schemas.label import TABULAR


class Model(Protocol):
    name: str

    def can_fit(self) -> bool: ...

    def fit(self, index: np.ndarray, labels: np.ndarray) -> None: ...

    def refit(self, index: np.ndarray, labels: np.ndarray) -> None:
        """Fit a fresh model on ``index`` (active learning: all items labelled so far)."""
        ...

    def proba(self) -> np.ndarray: ...

    def represent(self) -> np.ndarray | None: ...


def check_proba(p: np.ndarray, name: str, n_items: int, n_classes: int) -> np.ndarray:
    """One model's probabilities, checked by :func:`fxcore.checks.probabilities` (errors name
    the model), as float64 clipped to ``[0, 1]``."""
    probabilities(p, n_items, n_classes, describe("classifier", name))
    return np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)


class ImageModel:
    """A :class:`fxcore.contracts.Classifier` over the run's images."""

    def __init__(self, classifier: Any, images: torch.Tensor, name: str, batch_size: int = 256,
                 factory: Any = None):
        self.classifier = classifier
        self.images = images
        self.name = name
        self.batch_size = batch_size
        self.factory = factory  # () -> a fresh classifier, for refit; None: keep fitting

    def refit(self, index: np.ndarray, labels: np.ndarray) -> None:
        if self.factory is not None:
            self.classifier = self.factory()
        self.fit(index, labels)

    def can_fit(self) -> bool:
        return isinstance(self.classifier, Fittable)

    def fit(self, index: np.ndarray, labels: np.ndarray) -> None:
        idx = torch.as_tensor(index, dtype=torch.int64)
        self.classifier.fit(self.images[idx], torch.as_tensor(labels, dtype=torch.int64))

    def _batched(self, fn: Any) -> np.ndarray:
        outs = []
        with torch.no_grad():
            for s in range(0, len(self.images), self.batch_size):
                out = fn(self.images[s : s + self.batch_size])
                outs.append(out.detach().float().cpu().numpy() if isinstance(out, torch.Tensor)
                            else np.asarray(out, dtype=np.float32))
        return np.concatenate(outs)

    def proba(self) -> np.ndarray:
        return self._batched(self.classifier.predict_proba)

    def represent(self) -> np.ndarray | None:
        if not isinstance(self.classifier, HasFeatures):
            return None
        return self._batched(self.classifier.features).reshape(len(self.images), -1)


def make_tabular(name: str, seed: int) -> Any:
    """A scikit-learn classifier: ``rf`` random forest, ``lr`` logistic regression on
    standardised features, ``gb`` gradient boosting."""
    try:
        from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError:
        raise ConfigError("the feature-table path needs scikit-learn: pip install scikit-learn"
                          ) from None
    if name == "rf":
        return RandomForestClassifier(n_estimators=200, random_state=seed, n_jobs=1)
    if name == "lr":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    if name == "gb":
        return HistGradientBoostingClassifier(random_state=seed, max_iter=150)
    known = ", ".join(TABULAR)
    raise ConfigError(f"--classifiers: unknown tabular classifier {name!r} (use {known})")


class TableModel:
    """A scikit-learn classifier over the rows ``x (N, D)`` of a feature table."""

    def __init__(self, estimator: Any, x: np.ndarray, n_classes: int, name: str) -> None:
        self.estimator = estimator
        self.x = x
        self.n_classes = n_classes
        self.name = name
        self.fitted = False

    def can_fit(self) -> bool:
        return True

    def fit(self, index: np.ndarray, labels: np.ndarray) -> None:
        if len(np.unique(labels)) < 2:
            raise RunError(f"{self.name}: the fine-tuning set holds a single class; "
                           "raise split.fraction")
        self.estimator.fit(self.x[index], labels)
        self.fitted = True

    def refit(self, index: np.ndarray, labels: np.ndarray) -> None:
        self.fit(index, labels)  # a scikit-learn fit starts afresh

    def proba(self) -> np.ndarray:
        if not self.fitted:
            raise RunError(f"{self.name}: a tabular classifier must be fitted first")
        part = self.estimator.predict_proba(self.x)
        out = np.zeros((len(self.x), self.n_classes))
        out[:, np.asarray(self.estimator.classes_, dtype=np.int64)] = part
        return out

    def represent(self) -> np.ndarray | None:
        sd = self.x.std(axis=0)
        return (self.x - self.x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)

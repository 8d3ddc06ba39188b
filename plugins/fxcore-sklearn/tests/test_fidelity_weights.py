"""Multi-fidelity observations: targets weighted by their image count (variance ∝ 1/n)."""

from __future__ import annotations

import numpy as np
import pytest
from fxcore_sklearn.selector import SurrogateSelector, _weights

from fxcore.bench import load_table
from fxcore.contracts import Observations
from fxcore.fidelity import FidelityObservations


@pytest.fixture(scope="module")
def table():  # type: ignore[no-untyped-def]
    return load_table("lecoz2024-dog")


def _observed(table, n_images):  # type: ignore[no-untyped-def]
    rows = np.arange(0, 400, 10)
    return rows, table.targets[rows], np.asarray(n_images)


def test_weights_only_from_unequal_image_counts() -> None:
    rows, acc = np.arange(3), np.array([0.1, 0.5, 0.9])
    assert _weights(Observations(rows, acc)) is None
    assert _weights(FidelityObservations(rows, acc, np.array([50, 50, 50]))) is None
    w = _weights(FidelityObservations(rows, acc, np.array([10, 50, 25])))
    assert w is not None and w.tolist() == [0.2, 1.0, 0.5]


@pytest.mark.parametrize("model", ["bayesian-ridge", "lasso", "rf", "additive-gp"])
def test_equal_counts_propose_as_before_and_unequal_counts_fit(table, model) -> None:  # type: ignore[no-untyped-def]
    rows, acc, _ = _observed(table, [])
    candidates = np.setdiff1d(np.arange(table.n_rows), rows)
    picks = []
    for obs in (Observations(rows, acc), FidelityObservations(rows, acc, np.full(len(rows), 50))):
        sel = SurrogateSelector(model=model, acquisition="greedy", ensemble=4 if model in
                                ("lasso", "rf") else None)
        sel.setup(table.space, 0)
        picks.append(sel.propose(obs, candidates, 3).tolist())
    assert picks[0] == picks[1]
    n = np.where(np.arange(len(rows)) % 2 == 0, 10, 50)
    again = []
    for _ in range(2):  # deterministic given the seed
        sel = SurrogateSelector(model=model, acquisition="greedy", ensemble=4 if model in
                                ("lasso", "rf") else None)
        sel.setup(table.space, 0)
        again.append(sel.propose(FidelityObservations(rows, acc, n), candidates, 3).tolist())
    assert again[0] == again[1]

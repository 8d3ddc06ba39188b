"""The incremental additive GP (issue 13): the same proposals as the refit, deterministic,
rebuilt from the observations on resume, multi-fidelity weights applied."""

from __future__ import annotations

import numpy as np
import pytest
from fxcore_sklearn.incremental import IncrementalAdditiveGP
from fxcore_sklearn.models import AdditiveGPSurrogate
from fxcore_sklearn.selector import SurrogateSelector

from fxcore.bench import load_table
from fxcore.contracts import Observations
from fxcore.fidelity import FidelityObservations


@pytest.fixture(scope="module")
def table():  # type: ignore[no-untyped-def]
    return load_table("lecoz2024-dog")


def run(table, steps: int, k: int = 1, seed: int = 0, n_images=None, **params):  # type: ignore[no-untyped-def]
    """Proposals of ``steps`` calls; ``n_images(row)`` makes multi-fidelity observations."""
    sel = SurrogateSelector(model="additive-gp", **params)
    sel.setup(table.space, seed)
    rows: list[int] = []
    for _ in range(steps):
        r = np.array(rows, dtype=np.int64)
        obs = Observations(r, table.targets[r]) if n_images is None else \
            FidelityObservations(r, table.targets[r], np.array([n_images(i) for i in rows]))
        left = np.setdiff1d(np.arange(table.n_rows), r)
        rows.extend(int(i) for i in sel.propose(obs, left, k))
    return rows, sel


@pytest.mark.parametrize("acquisition", ["pf", "lcb", "greedy"])
def test_incremental_proposes_what_the_refit_proposes(table, acquisition) -> None:  # type: ignore[no-untyped-def]
    """Exact in exact arithmetic; rounding (1e-13) could only swap a near-tie, which these
    steps do not contain."""
    old, _ = run(table, 60, acquisition=acquisition, solver="refit")
    new, sel = run(table, 60, acquisition=acquisition)
    assert sel.engine is not None
    assert new == old


def test_bounds_keep_the_proposals_exact_with_a_small_pool(table) -> None:  # type: ignore[no-untyped-def]
    """pool=0 / pool_max=40: most candidates only have bounds, yet the argmax is the exact one;
    candidates whose bound reaches the best were made exact (fewer than all)."""
    old, _ = run(table, 60, solver="refit")
    new, sel = run(table, 60, pool=0, pool_max=40)
    assert new == old
    assert len(sel.engine.pool) <= 40
    steps_after_init = 60 - 10
    assert sel.engine.stats["exact_columns"] < steps_after_init * (table.n_rows - 30)


def test_batches_and_predict_match_the_refit(table) -> None:  # type: ignore[no-untyped-def]
    old, ref = run(table, 12, k=3, solver="refit")
    new, sel = run(table, 12, k=3, pool=0, pool_max=40)
    assert new == old
    rows = np.arange(0, table.n_rows, 7)
    (m0, s0), (m1, s1) = ref.predict(rows), sel.predict(rows)
    assert np.allclose(m0, m1, atol=1e-9) and np.allclose(s0, s1, atol=1e-9)


def test_deterministic_and_rebuilt_from_the_observations(table) -> None:  # type: ignore[no-untyped-def]
    """Same seed, same proposals; a state rebuilt at once from the observations (a resume)
    has the posterior of the state grown one observation at a time."""
    a, sel = run(table, 50, seed=3, pool=0, pool_max=40)
    b, _ = run(table, 50, seed=3, pool=0, pool_max=40)
    assert a == b
    grown = sel.engine
    assert grown is not None and grown.n == 49
    r = np.array(a[:49], dtype=np.int64)
    fresh = IncrementalAdditiveGP(table.space.codes, [len(x.values) for x in
                                                      table.space.attributes], pool=0)
    fresh.log_params, fresh._optimised_on = grown.log_params.copy(), 49
    fresh.condition(r, table.targets[r])
    left = np.setdiff1d(np.arange(table.n_rows), r)
    (m0, s0), (m1, s1) = grown.predict_rows(left), fresh.predict_rows(left)
    assert np.allclose(m0, m1, atol=1e-9) and np.allclose(s0, s1, atol=1e-9)


def test_multi_fidelity_weights_still_apply(table) -> None:  # type: ignore[no-untyped-def]
    """Unequal image counts: the same posterior and proposals as the refit's weighted fit
    (noise σ_n² / w per row), and different from the unweighted ones."""
    def n_images(row: int) -> int:
        return 10 if row % 3 else 50
    old, _ = run(table, 40, n_images=n_images, solver="refit")
    new, sel = run(table, 40, n_images=n_images, pool=0, pool_max=40)
    assert new == old
    rows = np.array(new[:39])
    w = np.array([n_images(i) for i in rows]) / 50
    gp = AdditiveGPSurrogate()
    gp.log_params = sel.engine.log_params.copy()
    gp._optimised_on = len(rows)  # the same hyperparameters, no re-optimisation
    gp.fit(sel.x[rows], table.targets[rows], np.random.default_rng(0), w)
    sel.engine.condition(rows, table.targets[rows], w)
    left = np.setdiff1d(np.arange(table.n_rows), rows)
    m0, s0 = gp.predict(sel.x[left])
    m1, s1 = sel.engine.predict_rows(left)
    assert np.allclose(m0, m1, atol=1e-9) and np.allclose(s0, s1, atol=1e-9)
    sel.engine.condition(rows, table.targets[rows], None)
    assert not np.allclose(sel.engine.predict_rows(left)[0], m1, atol=1e-6)

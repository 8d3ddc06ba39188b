"""Surrogate selectors replayed on the paper's table (fxcore's shipped benchmark)."""

from __future__ import annotations

import fxcore_sklearn
import numpy as np
import pytest
from fxcore_sklearn.features import one_hot_features
from sklearn.linear_model import Lasso

from fxcore.bench import load_table, make_selector, replay
from fxcore.contracts import Observations
from fxcore.errors import ConfigError
from fxcore.plugins import Registry

REG = Registry.load(entry_points=[], modules={"sklearn": fxcore_sklearn})


@pytest.fixture(scope="module")
def table():  # type: ignore[no-untyped-def]
    return load_table("lecoz2024-dog")


SPECS = [
    "sklearn/bayesian-ridge:n_init=5",
    "sklearn/bayesian-ridge:acquisition=thompson,n_init=5",
    "sklearn/bayesian-ridge:acquisition=ei,n_init=5",
    "sklearn/rf:ensemble=5,acquisition=lcb,n_init=5",
    "sklearn/lasso:acquisition=thompson,ensemble=3,n_init=5",
    "sklearn/svr:ensemble=3,acquisition=ei,n_init=5",
    "sklearn/linear:ensemble=3,interactions=false,n_init=5",
    "sklearn/lasso-greedy:n_init=5",
    "sklearn/additive-gp:n_init=5",
    "sklearn/additive-gp:acquisition=thompson,n_init=5",
]


@pytest.mark.parametrize("spec", SPECS)
def test_deterministic_given_seed_without_repeats(table, spec: str) -> None:  # type: ignore[no-untyped-def]
    runs = [replay(make_selector(spec, table, REG), table, seed=s, budget=14, name=spec)
            for s in (5, 5, 6)]
    a, b, c = (r.rows.tolist() for r in runs)
    assert a == b and a != c
    assert len(set(a)) == 14


@pytest.mark.parametrize("spec", ["sklearn/bayesian-ridge", "sklearn/rf:ensemble=5",
                                  "sklearn/bayesian-ridge:acquisition=thompson",
                                  "sklearn/additive-gp"])
def test_batches_of_k(table, spec: str) -> None:  # type: ignore[no-untyped-def]
    trace = replay(make_selector(spec, table, REG), table, seed=0, budget=28, batch_size=6)
    assert trace.proposals == 5 and len(set(trace.rows.tolist())) == 28


def test_lasso_greedy_is_the_papers_rule(table) -> None:  # type: ignore[no-untyped-def]
    sel = make_selector("sklearn/lasso-greedy", table, REG)
    sel.setup(table.space, 0)
    rng = np.random.default_rng(1)
    rows = rng.choice(len(table.targets), size=10, replace=False)
    obs = Observations(rows, table.targets[rows])
    cand = np.setdiff1d(np.arange(len(table.targets)), rows)
    picked = sel.propose(obs, cand, 1)
    x = table.space.one_hot(drop_first=True)
    pred = Lasso(alpha=0.001, max_iter=10_000).fit(x[rows], table.targets[rows]).predict(x[cand])
    assert picked[0] in cand[pred == pred.min()]


def test_predict_gives_a_spearman_trace(table) -> None:  # type: ignore[no-untyped-def]
    trace = replay(make_selector("sklearn/bayesian-ridge", table, REG), table, seed=0,
                   budget=45, spearman_sizes=(10, 40))
    sizes = [n for n, _ in trace.spearman]
    assert sizes == [10, 40]
    assert all(rho is not None and -1 <= rho <= 1 for _, rho in trace.spearman)
    assert trace.spearman[-1][1] > 0.3  # the surrogate ranks unevaluated rows


def test_pairwise_features(table) -> None:  # type: ignore[no-untyped-def]
    x = one_hot_features(table.space, interactions=True)
    # main effects 2+7+1+6+3 = 19; products across attributes: (19² − Σ d²) / 2 = 131
    assert x.shape == (1032, 150)
    assert set(np.unique(x)) <= {0.0, 1.0}


def test_bad_params_are_config_errors(table) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="ensemble=0"):
        make_selector("sklearn/lasso:ensemble=0,acquisition=ei", table, REG)
    with pytest.raises(ConfigError, match="acquisition"):
        make_selector("sklearn/rf:acquisition=magic", table, REG)
    with pytest.raises(ConfigError, match="model"):
        make_selector("sklearn/rf:model=lasso", table, REG)


def test_additive_gp_rejects_explicit_interactions(table) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="every interaction order"):
        make_selector("sklearn/additive-gp:interactions=true", table, REG)

"""The ``botorch`` selector: contract, fitting strategy, q-batches, determinism, replay."""

from __future__ import annotations

import fxcore_botorch
import numpy as np
import pytest
import torch
from fxcore_botorch import BotorchSelector, GpFitter

from fxcore.contracts import Observations, Selector
from fxcore.domain import SubdomainSpace
from fxcore.errors import ConfigError
from fxcore.plugins import Registry


def registry() -> Registry:
    return Registry.load(entry_points=[], modules={"botorch": fxcore_botorch})


def accuracy_of(space: SubdomainSpace) -> np.ndarray:
    """A structured response: black dogs in fog fail, nights and side views a little."""
    c = space.codes
    black_fog = (c[:, 1] == 0) * (c[:, 3] == 3)
    return 0.95 - 0.4 * black_fog - 0.2 * (c[:, 2] == 1) - 0.1 * (c[:, 0] == 1)


def run(selector, space, acc, steps: int, k: int = 1, seed: int = 0) -> list[int]:
    selector.setup(space, seed)
    done: list[int] = []
    while len(done) < steps:
        cand = np.setdiff1d(np.arange(len(space)), done)
        obs = Observations(np.array(done, dtype=np.int64), acc[done])
        picked = selector.propose(obs, cand, k)
        assert 1 <= len(picked) <= k and len(set(picked.tolist())) == len(picked)
        assert set(picked.tolist()) <= set(cand.tolist())
        done.extend(int(r) for r in picked)
    return done


def test_registered_with_validated_params() -> None:
    reg = registry()
    sel = reg.create("selector", {"name": "botorch", "params": {"acquisition": "ucb"}})
    assert isinstance(sel, Selector) and sel.acquisition == "ucb"
    with pytest.raises(ConfigError, match="acquisition"):
        reg.create("selector", {"name": "botorch", "params": {"acquisition": "pi"}})
    with pytest.raises(ConfigError, match="kernel"):
        reg.create("selector", {"name": "botorch", "params": {"kernel": "rbf"}})


@pytest.mark.parametrize("kernel", ["hamming", "hamming-additive", "onehot"])
def test_finds_the_failing_corner(space: SubdomainSpace, kernel: str) -> None:
    """After 10 random starts, LogEI finds the worst subdomain (side view of a black dog in fog
    at night) within 20 of the 56 (random: probability 20/56)."""
    acc = accuracy_of(space)
    order = run(BotorchSelector(kernel=kernel), space, acc, 20)
    assert acc[order].min() == acc.min()


def test_ucb_and_q_batches(space: SubdomainSpace) -> None:
    acc = accuracy_of(space)
    for acquisition in ("logei", "ucb"):
        order = run(BotorchSelector(acquisition=acquisition, n_init=6), space, acc, 24, k=3)
        assert len(set(order)) == 24


def test_deterministic_given_seed(space: SubdomainSpace) -> None:
    acc = accuracy_of(space)
    a = run(BotorchSelector(n_init=5), space, acc, 11, k=2, seed=3)
    b = run(BotorchSelector(n_init=5), space, acc, 11, k=2, seed=3)
    c = run(BotorchSelector(n_init=5), space, acc, 11, k=2, seed=4)
    assert a == b and a[:5] != c[:5]


def test_refit_schedule_and_fixed_hyperparameters_between(space: SubdomainSpace) -> None:
    rng = np.random.default_rng(0)
    X = torch.as_tensor(space.codes, dtype=torch.float64)
    Y = torch.as_tensor(-accuracy_of(space) + 0.02 * rng.standard_normal(len(space)))[:, None]
    fitter = GpFitter("hamming", growth=0.25, maxiter=20)
    fits = []
    for n in range(10, 51):
        before = None if fitter.state is None else {k: v.clone() for k, v in fitter.state.items()}
        was_due = fitter.due(n)
        model = fitter.fit(X[:n], Y[:n])
        fits.append(was_due)
        if not was_due:  # a rebuild keeps the previous hyperparameters exactly
            assert before is not None
            assert all(torch.equal(before[k], v) for k, v in fitter.state.items())
            raw = model.covar_module.base_kernel.raw_lengthscale.detach()
            assert torch.equal(raw, before["covar_module.base_kernel.raw_lengthscale"])
    # geometric: refits at 10, 13, 17, 22, 28, 35, 44 -> 7 of 41 steps
    assert sum(fits) == fitter.n_full_fits == 7


def test_predict_tracks_the_truth(space: SubdomainSpace) -> None:
    acc = accuracy_of(space)
    sel = BotorchSelector()
    order = run(sel, space, acc, 25)
    rest = np.setdiff1d(np.arange(len(space)), order)
    mean, std = sel.predict(rest)
    assert mean.shape == std.shape == rest.shape and (std > 0).all()
    assert np.corrcoef(mean, acc[rest])[0, 1] > 0.5


def test_short_replay_on_paper_table() -> None:
    """40 steps on the paper's table: random finds 40/1032 of the worst 103 (≈ 4%) on average."""
    bench = pytest.importorskip("fxcore.bench")
    table = bench.load_table("lecoz2024-dog")
    sel = bench.make_selector("botorch", table, registry())
    trace = bench.replay(sel, table, seed=0, budget=40)
    assert len(set(trace.rows.tolist())) == 40
    assert trace.coverage_after(40) > 0.15
    assert trace.spearman and trace.spearman[-1][1] > 0.3

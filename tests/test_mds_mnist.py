"""GeValDi's checks on real MNIST-5k: the conditional VAE of ``fxcore-mnist`` against two of its
classifiers (an MLP and softmax regression), at a small size.

Skipped when the ``fxcore-mnist`` plugin is not installed. Models are trained on first use
(a few seconds, one thread) and cached in ``$FXCORE_CACHE``.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("fxcore_mnist.cvae")

from fxcore.builtins.divergences import JensenShannon  # noqa: E402
from fxcore.mds.optimise import MdsSetup, check_setup, condition_tensor, optimise_batch  # noqa: E402
from fxcore.mds.records import resolve_hierarchy, set_distances  # noqa: E402
from fxcore.models import torch_threads  # noqa: E402

B, STEPS = 24, 40


@pytest.fixture(scope="module", autouse=True)
def _one_thread():  # type: ignore[no-untyped-def]
    """Small batches: one thread is as fast, and immune to a busy machine's oversubscription."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def setup() -> MdsSetup:
    from fxcore_mnist.classifiers import MnistClassifier
    from fxcore_mnist.cvae import ConditionalVAE

    gen = ConditionalVAE(dataset="mnist", epochs=10)
    clfs = [MnistClassifier("mlp", epochs=3), MnistClassifier("linear", epochs=3)]
    return check_setup(MdsSetup(gen, clfs, JensenShannon(), ["mlp", "linear"]))


@pytest.fixture(scope="module")
def run(setup: MdsSetup):  # type: ignore[no-untyped-def]
    z0 = setup.generator.sample_latent(B, seed=7)
    cond = condition_tensor(setup.generator, None, range(B))
    return optimise_batch(setup, z0, cond, STEPS, lr=0.02, prior_weight=1e-3, record_every=10)


def test_divergence_rises_over_iterations(run) -> None:  # type: ignore[no-untyped-def]
    d = torch.tensor([list(x) for x in run.trace.divergence])  # (R, B)
    assert run.trace.steps == [0, 10, 20, 30, 40]
    assert d[-1].mean() > 2 * d[0].mean()
    assert (d[-1] > d[0]).float().mean() >= 0.8
    assert d.mean(1)[1:].ge(d.mean(1)[:-1]).all()  # the mean never falls between records


def test_dz_moves_well_away_from_zero(run) -> None:  # type: ignore[no-untyped-def]
    dz = torch.tensor(run.trace.dz[-1])
    assert run.trace.dz[0].max() == 0.0
    assert dz.mean() > 0.1  # GeValDi reports about 25 % on its models
    manual = (run.z_final - run.z_init).norm(dim=1) / run.z_init.norm(dim=1)
    assert torch.allclose(dz, manual.double(), atol=1e-6)


def test_gradients_flow_to_z_through_each_classifier(setup: MdsSetup) -> None:
    g = setup.generator
    cond = condition_tensor(g, None, range(4))
    for m, clf in enumerate(setup.classifiers):
        z = g.sample_latent(4, seed=1).requires_grad_(True)
        p = clf.predict_proba(g.decode(z, cond))
        p.max(1).values.sum().backward()
        assert z.grad is not None and (z.grad.norm(dim=1) > 0).all(), m
    z = g.sample_latent(4, seed=1).requires_grad_(True)
    setup.divergence(setup.probabilities(g.decode(z, cond))).sum().backward()
    assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_prior_weight_pulls_z_toward_the_prior(setup: MdsSetup) -> None:
    z0 = setup.generator.sample_latent(16, seed=3)
    cond = condition_tensor(setup.generator, None, range(16))
    norms = []
    for lam in (0.0, 0.01, 0.1):
        r = optimise_batch(setup, z0, cond, 30, lr=0.02, prior_weight=lam, record_every=30)
        norms.append(r.z_final.norm(dim=1).mean().item())
        if lam == 0.1:  # log p(z) rose: the strong prior pulls z back toward the mode
            assert r.trace.log_prior[-1].mean() > r.trace.log_prior[0].mean()
    assert norms[0] > norms[1] > norms[2]


def test_top_n_and_digit_tree_set_distance(setup: MdsSetup, run) -> None:  # type: ignore[no-untyped-def]
    cmap = resolve_hierarchy("auto", setup.classes)
    assert cmap.source == "mnist-digits"
    top = run.trace.top_classes[-1]  # (M, B, n)
    assert top.shape == (2, B, 3)
    d = set_distances(cmap, top)
    # two top-3 sets of digits: H_w in {0, 1, 2}; the mean over 9 pairs lies in [1/9*..., 2]
    assert ((d > 0) & (d <= 2)).all()
    probs = torch.tensor(run.trace.top_probs[-1])
    assert (probs[..., :-1] >= probs[..., 1:]).all()  # sorted, most probable first

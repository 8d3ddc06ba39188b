"""The conditional VAE: latent-generator contract, conditioning on real MNIST, cache, errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from fxcore.contracts import LatentGenerator

from fxcore_mnist.cvae import ConditionalVAE


@pytest.fixture(scope="module")
def cvae() -> ConditionalVAE:
    return ConditionalVAE(dataset="mnist", epochs=10)


def test_follows_the_latent_generator_contract(cvae: ConditionalVAE) -> None:
    assert isinstance(cvae, LatentGenerator)
    assert cvae.conditions == [str(d) for d in range(10)]
    assert cvae.channels == 1 and cvae.latent_dim == 8
    z = cvae.sample_latent(5, seed=3)
    assert z.shape == (5, 8) and torch.equal(z, cvae.sample_latent(5, seed=3))
    assert not torch.equal(z, cvae.sample_latent(5, seed=4))
    x = cvae.decode(z, torch.arange(5))
    assert x.shape == (5, 1, 28, 28) and x.min() >= 0 and x.max() <= 1


def test_log_prior_is_the_standard_normal(cvae: ConditionalVAE) -> None:
    z = torch.randn(6, 8)
    want = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
    assert torch.allclose(cvae.log_prior(z), want, atol=1e-5)
    assert cvae.log_prior(torch.zeros(1, 8)).item() == pytest.approx(-4 * math.log(2 * math.pi))


def test_decode_is_differentiable_in_z(cvae: ConditionalVAE) -> None:
    z = cvae.sample_latent(4, seed=0).requires_grad_(True)
    cvae.decode(z, torch.tensor([1, 2, 3, 4])).sum().backward()
    assert z.grad is not None and (z.grad.norm(dim=1) > 0).all()


def test_the_condition_controls_the_digit(cvae: ConditionalVAE) -> None:
    """A CNN trained on real MNIST reads most conditional samples as their condition."""
    from fxcore_mnist.classifiers import MnistClassifier

    clf = MnistClassifier("mlp", epochs=3)
    c = torch.arange(10).repeat(20)
    with torch.no_grad():
        x = cvae.decode(cvae.sample_latent(len(c), seed=11), c)
    acc = (clf.predict_proba(x).argmax(1) == c).float().mean().item()
    assert acc > 0.7, acc
    # the same latents with another condition give other digits
    with torch.no_grad():
        shifted = cvae.decode(cvae.sample_latent(len(c), seed=11), (c + 1) % 10)
    assert (clf.predict_proba(shifted).argmax(1) == c).float().mean().item() < 0.3
    assert cvae.elbo is not None and cvae.elbo > -200  # nats per image on the test split


def test_cached_after_first_training(tmp_path: Path) -> None:
    first = ConditionalVAE(epochs=1, hidden=32, cache_dir=tmp_path)
    assert first.origin == "trained" and first.cache_path.is_file()
    again = ConditionalVAE(epochs=1, hidden=32, cache_dir=tmp_path)
    assert again.origin == "cache"
    z, c = first.sample_latent(3, seed=0), torch.tensor([0, 5, 9])
    assert torch.equal(first.decode(z, c), again.decode(z, c))
    first.cache_path.write_bytes(b"not a checkpoint")  # unreadable cache: retrained
    assert ConditionalVAE(epochs=1, hidden=32, cache_dir=tmp_path).origin == "trained"


def test_bad_conditions_and_latents(cvae: ConditionalVAE) -> None:
    z = cvae.sample_latent(2, seed=0)
    with pytest.raises(ValueError, match="class-conditional"):
        cvae.decode(z, None)
    with pytest.raises(ValueError, match=r"indices in 0..9"):
        cvae.decode(z, torch.tensor([0, 10]))
    with pytest.raises(ValueError, match=r"z must be \(N, 8\)"):
        cvae.decode(torch.zeros(2, 5), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="class name"):
        cvae.generate("eleven", {}, 2, seed=0)
    assert cvae.generate("7", {}, 3, seed=0).shape == (3, 1, 28, 28)

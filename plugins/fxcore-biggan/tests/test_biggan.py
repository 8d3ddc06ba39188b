"""fxcore-biggan through its public configuration, on a tiny saved BigGAN, with no network."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from scipy import stats

from fxcore.contracts import LatentGenerator
from fxcore.errors import ConfigError
from fxcore.plugins import Registry

CHIHUAHUA = 151


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.load(strict=False)


def make(registry: Registry, model: Path | str, **params: object) -> LatentGenerator:
    spec = {"name": "biggan", "params": {"model": str(model), "device": "cpu", **params}}
    return registry.create("latent-generator", spec, where="generator")


@pytest.fixture(scope="module")
def gen(registry: Registry, tiny_biggan: Path) -> LatentGenerator:
    return make(registry, tiny_biggan, condition="Chihuahua", batch_size=3)


def test_discovered_and_follows_the_latent_contract(registry: Registry, gen) -> None:
    assert "biggan/biggan" in registry.names("latent-generator")
    assert isinstance(gen, LatentGenerator)
    assert gen.latent_dim == 128 and gen.channels == 3
    assert len(gen.conditions) == 1000 and gen.conditions[CHIHUAHUA] == "Chihuahua"
    assert len(set(gen.conditions)) == 1000  # shared names carry their WordNet id
    assert gen.conditions[134] == "crane (n02012849)"
    assert all(gen.class_index(name) == i for i, name in enumerate(gen.conditions))


def test_generate_images_in_unit_range_one_seed_per_image(gen) -> None:
    images = gen.generate("a dog", {}, 5, seed=7)
    assert images.shape == (5, 3, 32, 32) and images.dtype == torch.float32
    assert torch.isfinite(images).all() and images.min() >= 0 and images.max() <= 1
    assert images.std() > 1e-3 and not torch.equal(images[0], images[1])
    torch.testing.assert_close(gen.generate("a dog", {}, 5, seed=7), images, rtol=0, atol=0)
    alone = gen.generate("a dog", {}, 1, seed=10)  # image 3 of the call with seed 7
    torch.testing.assert_close(alone[0], images[3], rtol=0, atol=1e-5)
    assert not images.is_inference()


def test_class_by_index_wordnet_id_name_or_attribute(registry: Registry, tiny_biggan: Path) -> None:
    by_name = make(registry, tiny_biggan, condition="Chihuahua").generate("", {}, 2, 0)
    by_wnid = make(registry, tiny_biggan, condition="n02085620").generate("", {}, 2, 0)
    by_index = make(registry, tiny_biggan, condition=CHIHUAHUA).generate("", {}, 2, 0)
    unset = make(registry, tiny_biggan)
    by_attr = unset.generate("x", {"class": "Chihuahua", "weather": "snow"}, 2, 0)
    by_prompt = unset.generate("Chihuahua", {}, 2, 0)
    for other in (by_wnid, by_index, by_attr, by_prompt):
        torch.testing.assert_close(other, by_name, rtol=0, atol=0)
    goldfish = unset.generate("x", {"class": "goldfish"}, 2, 0)
    assert (goldfish - by_name).abs().max() > 1e-4


@pytest.mark.parametrize(
    "condition, message",
    [
        ("crane", "ambiguous name 'crane'"),
        ("dog", "is a node of the hierarchy, not a class"),
        (1000, "class index 1000 not in 0..999"),
        ("n99999999", "unknown class"),
    ],
)
def test_bad_classes_name_the_field(
    registry: Registry, tiny_biggan: Path, condition: object, message: str
) -> None:
    with pytest.raises(ConfigError, match=f"biggan params.condition: .*{message}"):
        make(registry, tiny_biggan, condition=condition)


def test_no_class_anywhere_is_a_clear_error(registry: Registry, tiny_biggan: Path) -> None:
    g = make(registry, tiny_biggan)
    with pytest.raises(ConfigError, match="no params.condition"):
        g.generate("a dog in the snow", {}, 1, 0)
    with pytest.raises(ConfigError, match="no class given"):
        g.decode(g.sample_latent(1, 0))


def test_sample_latent_is_the_truncated_normal(gen) -> None:
    psi = gen.truncation
    z = gen.sample_latent(400, seed=0)
    assert z.shape == (400, 128) and gen.in_support(z).all()
    assert z.abs().max() <= 2 * psi + 1e-6
    torch.testing.assert_close(gen.sample_latent(1, seed=17)[0], z[17], rtol=0, atol=0)
    u = (z / psi).flatten().double().numpy()
    ks = stats.kstest(u, stats.truncnorm(-2, 2).cdf)
    assert ks.pvalue > 1e-3, ks


def test_log_prior_matches_scipy_inside_and_walls_outside(gen) -> None:
    psi = gen.truncation
    z = gen.sample_latent(6, seed=3)
    expected = stats.truncnorm(-2, 2, scale=psi).logpdf(z.double().numpy()).sum(-1)
    torch.testing.assert_close(
        gen.log_prior(z).double(), torch.from_numpy(expected), rtol=1e-5, atol=1e-3
    )
    z = z.clone().requires_grad_(True)
    gen.log_prior(z).sum().backward()
    torch.testing.assert_close(z.grad, -z.detach() / psi**2)  # d/dz of -z²/(2ψ²)
    edge = torch.zeros(1, 128)
    edge[0, 0] = 2 * psi
    out = edge.clone()
    out[0, 0] = 2 * psi + 0.1
    out.requires_grad_(True)
    lp_out = gen.log_prior(out)
    assert math.isfinite(lp_out.item()) and lp_out < gen.log_prior(edge) - 100
    lp_out.sum().backward()
    assert out.grad[0, 0] < 0  # pushes back into the box
    assert not gen.in_support(out.detach()).item()


def test_decode_is_differentiable_and_accepts_class_vectors(gen) -> None:
    z = gen.sample_latent(2, seed=0).requires_grad_(True)
    images = gen.decode(z, torch.tensor([CHIHUAHUA, 1]))
    assert images.shape == (2, 3, 32, 32)
    images.mean().backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    onehot = torch.nn.functional.one_hot(torch.tensor([CHIHUAHUA, 1]), 1000).float()
    with torch.no_grad():
        torch.testing.assert_close(gen.decode(z, onehot), images.detach())
        mixed = gen.decode(z, 0.5 * onehot + 0.5 * onehot.flip(0))
        assert torch.isfinite(mixed).all()
    with pytest.raises(ValueError, match="z must be"):
        gen.decode(torch.zeros(2, 7))


def test_safetensors_weights_give_the_same_images(
    registry: Registry, tiny_biggan: Path, tmp_path: Path, gen
) -> None:
    from fxcore_biggan.testing import save_tiny_biggan

    path = save_tiny_biggan(tmp_path / "st", seed=0, weights="safetensors")
    assert (path / "model.safetensors").exists() and not (path / "pytorch_model.bin").exists()
    other = make(registry, path, condition="Chihuahua")
    torch.testing.assert_close(other.generate("", {}, 2, 1), gen.generate("", {}, 2, 1))


def test_pickled_objects_are_never_executed(
    registry: Registry, tiny_biggan: Path, tmp_path: Path
) -> None:
    evil = shutil.copytree(tiny_biggan, tmp_path / "evil")
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (Path.touch, (marker,))

    # a real torch checkpoint whose unpickling would run Path.touch(marker)
    torch.save({"embeddings.weight": torch.zeros(1), "x": Payload()}, evil / "pytorch_model.bin")
    g = make(registry, evil, condition=1)
    with pytest.raises(ConfigError, match="refusing to unpickle"):
        g.generate("", {}, 1, 0)
    assert not marker.exists()


def test_incomplete_weights_are_refused(
    registry: Registry, tiny_biggan: Path, tmp_path: Path
) -> None:
    part = shutil.copytree(tiny_biggan, tmp_path / "part")
    state = torch.load(part / "pytorch_model.bin", weights_only=True)
    torch.save({k: v for k, v in state.items() if "layers.1." not in k}, part / "pytorch_model.bin")
    with pytest.raises(ConfigError, match=r"lacks \d+ weights .*layers\.1\."):
        make(registry, part, condition=1).load()


def test_bad_sources(registry: Registry, tiny_biggan: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="model directory .* does not exist"):
        make(registry, tmp_path / "missing")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match="not a BigGAN model directory .*pytorch_model.bin"):
        make(registry, tmp_path)
    with pytest.raises(ConfigError, match="neither a directory nor a known BigGAN"):
        make(registry, "biggan-deep-1024")


def test_named_model_offline_uses_only_the_cache(
    registry: Registry, tiny_biggan: Path, tmp_path: Path, gen
) -> None:
    from pytorch_pretrained_biggan.file_utils import url_to_filename
    from pytorch_pretrained_biggan.model import (
        PRETRAINED_CONFIG_ARCHIVE_MAP,
        PRETRAINED_MODEL_ARCHIVE_MAP,
    )

    cache = tmp_path / "cache"
    cache.mkdir()
    with pytest.raises(ConfigError, match="'biggan-deep-256' not found locally and offline mode"):
        make(registry, "biggan-deep-256", cache_dir=str(cache))
    # lay the tiny model out as the library's download cache names it (sha256(url).sha256(etag))
    for url, name in [
        (PRETRAINED_CONFIG_ARCHIVE_MAP["biggan-deep-256"], "config.json"),
        (PRETRAINED_MODEL_ARCHIVE_MAP["biggan-deep-256"], "pytorch_model.bin"),
    ]:
        cached = cache / url_to_filename(url, etag='"abc"')
        shutil.copy(tiny_biggan / name, cached)
        cached.with_name(cached.name + ".json").write_text(
            json.dumps({"url": url, "etag": '"abc"'})
        )
    named = make(registry, "biggan-deep-256", cache_dir=str(cache), condition="Chihuahua")
    torch.testing.assert_close(named.generate("", {}, 2, 0), gen.generate("", {}, 2, 0))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"truncation": 0}, "generator.params.truncation"),
        ({"truncation": 1.5}, "generator.params.truncation"),
        ({"batch_size": 0}, "generator.params.batch_size"),
        ({"dtype": "fp16"}, "fp16 needs a CUDA device"),
        ({"latent": 3}, "generator.params.latent: unknown key"),
    ],
)
def test_bad_params(registry: Registry, tiny_biggan: Path, params: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make(registry, tiny_biggan, **params)


def test_truncation_changes_the_latents_and_images(registry: Registry, tiny_biggan: Path) -> None:
    low = make(registry, tiny_biggan, condition=1, truncation=0.2)
    high = make(registry, tiny_biggan, condition=1, truncation=0.8)
    torch.testing.assert_close(4 * low.sample_latent(3, 0), high.sample_latent(3, 0))
    assert (low.generate("", {}, 1, 0) - high.generate("", {}, 1, 0)).abs().max() > 1e-4


@pytest.mark.parametrize("resolution, params", [(128, 50_388_609), (256, 55_880_833)])
def test_benchmark_layouts_are_the_released_ones(resolution: int, params: int) -> None:
    """BigGAN-deep 128 / 256 have 50.4M / 55.9M parameters (Brock et al., 2019)."""
    from fxcore_biggan.testing import deep_config
    from pytorch_pretrained_biggan import BigGAN

    with torch.device("meta"):
        model = BigGAN(deep_config(resolution))
    assert sum(p.numel() for p in model.parameters()) == params

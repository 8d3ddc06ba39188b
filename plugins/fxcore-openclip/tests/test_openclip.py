"""fxcore-openclip through its public configuration, on a tiny saved CLIP, with no network.

The filter's decisions are checked against open_clip run independently: its own PIL/torchvision
preprocessing, tokenizer and encoders on the same checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fxcore_openclip.testing import TINY_NAME

from fxcore.contracts import Filter
from fxcore.domain import SubdomainSpace
from fxcore.errors import ConfigError
from fxcore.plugins import Registry
from fxcore.schemas import EvaluationDomain

DOMAIN = EvaluationDomain(
    name="dogs",
    attributes=[
        {"name": "weather", "values": ["sunny", "raining", "snowing"]},
        {"name": "place", "values": ["a beach", "a forest", "a city"]},
    ],
    prompt_template="a photo of a {true_class} on {place} when it is {weather}",
    true_class="dog",
)
OTHER = DOMAIN.model_copy(update={"name": "cats", "true_class": "cat"})


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.load(strict=False)


def make(registry: Registry, tiny_clip: tuple[Path, Path], **params: Any) -> Filter:
    config, weights = tiny_clip
    spec = {
        "name": "openclip",
        "params": {
            "model": TINY_NAME,
            "model_config_file": str(config),
            "pretrained": str(weights),
            "device": "cpu",
            **params,
        },
    }
    return registry.create("filter", spec, where="filter")


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """16 real handwritten digits (sklearn) as (16, 3, 32, 32), quantised to 8 bits."""
    from sklearn.datasets import load_digits

    x = torch.tensor(load_digits().images[:16] / 16.0, dtype=torch.float32)[:, None]
    x = torch.nn.functional.interpolate(x, size=(32, 32), mode="bilinear").repeat(1, 3, 1, 1)
    return (x.clamp(0, 1) * 255).round() / 255


@pytest.fixture(scope="module")
def reference(tiny_clip: tuple[Path, Path], images: torch.Tensor) -> Any:
    """open_clip alone: ``sims(texts) -> (N, L)`` cosine similarities and the logit scale."""
    import open_clip
    from PIL import Image

    model, _, preprocess = open_clip.create_model_and_transforms(
        TINY_NAME, pretrained=str(tiny_clip[1])
    )
    model.eval()
    tokenizer = open_clip.get_tokenizer(TINY_NAME)
    arrays = (images.permute(0, 2, 3, 1) * 255).round().byte().numpy()
    pil = torch.stack([preprocess(Image.fromarray(a)) for a in arrays])
    with torch.no_grad():
        u = torch.nn.functional.normalize(model.encode_image(pil), dim=-1)

    def sims(texts: list[str]) -> torch.Tensor:
        with torch.no_grad():
            t = torch.nn.functional.normalize(model.encode_text(tokenizer(texts)), dim=-1)
        return u @ t.T

    sims.scale = float(model.logit_scale.detach().exp())  # type: ignore[attr-defined]
    return sims


def test_discovered_through_the_entry_point(registry: Registry) -> None:
    assert "openclip/openclip" in registry.names("filter")
    registry.get("filter", "openclip/openclip")  # known from the manifest, imported on first use
    record = next(r for r in registry.records if r.name == "openclip")
    assert record.status == "loaded" and record.distribution == "fxcore-openclip"


def test_rank_mode_keeps_images_whose_prompt_ranks_first(
    registry: Registry, tiny_clip: tuple, images: torch.Tensor, reference: Any
) -> None:
    flt = make(registry, tiny_clip)
    space = SubdomainSpace(DOMAIN)
    prompts = space.prompts()
    s = reference(prompts)
    kept_any = 0
    for sub in space:
        mask, scores = flt.keep(images, sub, DOMAIN)
        expected = s.argmax(dim=1) == sub.index
        assert mask.dtype == torch.bool and mask.shape == (len(images),)
        assert torch.equal(mask, expected)
        prob = (reference.scale * s).softmax(dim=1)[:, sub.index]
        torch.testing.assert_close(scores, prob, rtol=1e-4, atol=1e-5)
        kept_any += int(mask.sum())
    assert kept_any == len(images)  # every image ranks exactly one prompt first


def test_top_k_widens_the_filter(
    registry: Registry, tiny_clip: tuple, images: torch.Tensor
) -> None:
    sub = SubdomainSpace(DOMAIN)[4]
    masks = [make(registry, tiny_clip, top_k=k).keep(images, sub, DOMAIN)[0] for k in (1, 3, 9)]
    assert bool((masks[0] <= masks[1]).all() and (masks[1] <= masks[2]).all())
    assert masks[2].all()  # 9 prompts: everything is in the top 9
    assert masks[1].sum() > masks[0].sum()


def test_text_embeddings_are_computed_once_per_domain(
    registry: Registry, tiny_clip: tuple, images: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    flt = make(registry, tiny_clip)
    calls: list[int] = []
    encode = flt.model.encode_text  # type: ignore[attr-defined]
    monkeypatch.setattr(
        flt.model,
        "encode_text",
        lambda tokens, *a, **k: calls.append(len(tokens)) or encode(tokens, *a, **k),
    )
    for sub in SubdomainSpace(DOMAIN):
        flt.keep(images[:2], sub, DOMAIN)
    assert calls == [9]  # all 9 prompts, one pass, for 9 subdomains
    for sub in list(SubdomainSpace(OTHER))[:3]:
        flt.keep(images[:2], sub, OTHER)
    assert calls == [9, 9]  # a new domain: its prompts once


def test_attribute_mode_checks_each_attribute_among_its_values(
    registry: Registry, tiny_clip: tuple, images: torch.Tensor, reference: Any
) -> None:
    templates = {"weather": "a {true_class} outside, it is {value}"}
    flt = make(registry, tiny_clip, mode="attributes", attribute_templates=templates)
    sub = SubdomainSpace(DOMAIN)[5]
    mask, scores = flt.keep(images, sub, DOMAIN)
    expected = torch.ones(len(images), dtype=torch.bool)
    worst = torch.ones(len(images))
    for attr in DOMAIN.attributes:
        template = templates.get(attr.name, "a photo of a {true_class}, {value}")
        s = reference([template.format(value=v, true_class="dog") for v in attr.values])
        own = attr.values.index(sub.values[attr.name])
        expected &= s.argmax(dim=1) == own
        worst = torch.minimum(worst, (reference.scale * s).softmax(dim=1)[:, own])
    assert torch.equal(mask, expected)
    torch.testing.assert_close(scores, worst, rtol=1e-4, atol=1e-5)
    only_place = make(registry, tiny_clip, mode="attributes", attributes=["place"])
    s = reference([f"a photo of a dog, {v}" for v in DOMAIN.attributes[1].values])
    own = DOMAIN.attributes[1].values.index(sub.values["place"])
    assert torch.equal(only_place.keep(images, sub, DOMAIN)[0], s.argmax(dim=1) == own)


def test_threshold_mode(
    registry: Registry, tiny_clip: tuple, images: torch.Tensor, reference: Any
) -> None:
    sub = SubdomainSpace(DOMAIN)[0]
    s = reference([sub.prompt])[:, 0]
    cut = float(s.median())
    mask, scores = make(registry, tiny_clip, mode="threshold", threshold=cut).keep(
        images, sub, DOMAIN
    )
    torch.testing.assert_close(scores, s, rtol=1e-4, atol=1e-5)
    assert torch.equal(mask, scores >= cut) and 0 < int(mask.sum()) < len(images)


def test_pickled_checkpoint_loads_safely(
    registry: Registry, tiny_clip: tuple, tmp_path: Path, images: torch.Tensor
) -> None:
    from safetensors.torch import load_file

    pt = tmp_path / "tiny.pt"
    torch.save(load_file(str(tiny_clip[1])), pt)
    sub = SubdomainSpace(DOMAIN)[2]
    a = make(registry, tiny_clip).keep(images, sub, DOMAIN)
    b = make(registry, (tiny_clip[0], pt)).keep(images, sub, DOMAIN)
    assert torch.equal(a[0], b[0]) and torch.allclose(a[1], b[1])


def test_grey_images_and_empty_batches(
    registry: Registry, tiny_clip: tuple, images: torch.Tensor
) -> None:
    flt = make(registry, tiny_clip)
    sub = SubdomainSpace(DOMAIN)[1]
    grey = images[:4, :1]
    assert torch.equal(flt.keep(grey, sub, DOMAIN)[0], flt.keep(images[:4], sub, DOMAIN)[0])
    mask, scores = flt.keep(images[:0], sub, DOMAIN)
    assert mask.shape == (0,) and scores.shape == (0,)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"pretrained": "/nonexistent/clip.safetensors"}, "does not exist"),
        ({"model": "fx-tiny-clp"}, "did you mean 'fx-tiny-clip'"),
        ({"model": "ViT-B-32", "pretrained": "laion2b_s34b_b79k"}, "offline mode is on"),
        ({"model": "ViT-B-32", "pretrained": "no-such-tag"}, "tags: openai"),
        ({"model": "hf-hub:org/missing-clip"}, "offline mode is on"),
        ({"model_config_file": "/nonexistent/x.json"}, "does not exist"),
        ({"attribute_templates": {"weather": "{colour} dog"}}, "attribute_templates.weather"),
        ({"mode": "vote"}, "mode"),
        ({"dtype": "fp16"}, "fp16 needs a CUDA device"),
    ],
)
def test_config_errors_are_one_line(
    registry: Registry, tiny_clip: tuple, params: dict, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        make(registry, tiny_clip, **params)
    assert "\n" not in str(info.value)


def test_run_time_errors(registry: Registry, tiny_clip: tuple, images: torch.Tensor) -> None:
    flt = make(registry, tiny_clip, mode="attributes", attributes=["colour"])
    sub = SubdomainSpace(DOMAIN)[0]
    with pytest.raises(ConfigError, match="colour"):
        flt.keep(images[:2], sub, DOMAIN)
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\) or \(N, 3, H, W\)"):
        flt.keep(images[0], sub, DOMAIN)
    stranger = sub.model_copy(update={"prompt": "a photo of a cat"})
    with pytest.raises(ValueError, match="not one of the domain"):
        make(registry, tiny_clip).keep(images[:2], stranger, DOMAIN)
    assert np.isfinite(flt.logit_scale)  # type: ignore[attr-defined]

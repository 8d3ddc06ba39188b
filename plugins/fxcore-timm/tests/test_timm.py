"""fxcore-timm through its public configuration, on a tiny saved checkpoint, with no network."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from fxcore_timm.testing import build_tiny_timm, save_tiny_timm

from fxcore.contracts import Classifier
from fxcore.errors import ConfigError
from fxcore.plugins import Registry

CLASSES = ["zero", "one", "two", "three", "four"]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.load(strict=False)


def make(registry: Registry, **params: object) -> Classifier:
    spec = {"name": "timm", "params": {"model": "test_resnet", "device": "cpu", **params}}
    return registry.create("classifier", spec, where="classifier")


@pytest.fixture(scope="module")
def clf(registry: Registry, tiny_ckpt: Path) -> Classifier:
    return make(registry, checkpoint=str(tiny_ckpt), num_classes=5, classes=CLASSES)


def reference(images: torch.Tensor) -> torch.Tensor:
    """The saved model run by hand: timm's data config, resize + crop + normalise."""
    import timm

    net = build_tiny_timm(num_classes=5)
    cfg = timm.data.resolve_model_data_config(net)
    size = cfg["input_size"][1]
    scaled = int(size / cfg["crop_pct"])
    x = torch.nn.functional.interpolate(
        images, size=(scaled, scaled), mode=cfg["interpolation"], antialias=True
    )
    top = (scaled - size) // 2
    x = x[..., top : top + size, top : top + size]
    x = (x - torch.tensor(cfg["mean"]).view(1, 3, 1, 1)) / torch.tensor(cfg["std"]).view(1, 3, 1, 1)
    with torch.no_grad():
        return net(x).softmax(1)


def test_discovered_through_the_entry_point(registry: Registry) -> None:
    assert "timm/timm" in registry.names("classifier")
    registry.get("classifier", "timm/timm")  # known from the manifest, imported on first use
    record = next(r for r in registry.records if r.name == "timm")
    assert record.status == "loaded" and record.distribution == "fxcore-timm"


def test_predictions_equal_the_saved_model(clf: Classifier, digits: tuple) -> None:
    images, _ = digits
    probs = clf.predict_proba(images)
    assert probs.shape == (len(images), 5) and list(clf.classes) == CLASSES
    torch.testing.assert_close(probs.sum(1), torch.ones(len(images)))
    torch.testing.assert_close(probs, reference(images), rtol=1e-4, atol=1e-5)
    assert not probs.is_inference()


def test_head_is_not_reinitialised(clf: Classifier) -> None:
    saved = build_tiny_timm(num_classes=5).get_classifier()
    head = clf.model.get_classifier()  # type: ignore[attr-defined]
    torch.testing.assert_close(head.weight, saved.weight, rtol=0, atol=0)
    torch.testing.assert_close(head.bias, saved.bias, rtol=0, atol=0)


def test_torch_file_loads_like_safetensors(
    registry: Registry, tmp_path: Path, digits: tuple
) -> None:
    pth = save_tiny_timm(tmp_path / "tiny.pth", num_classes=5, safetensors=False)
    a = make(registry, checkpoint=str(pth), num_classes=5).predict_proba(digits[0][:4])
    torch.testing.assert_close(a, reference(digits[0][:4]), rtol=1e-4, atol=1e-5)


def test_classes_from_a_file_and_num_classes_inferred(
    registry: Registry, tiny_ckpt: Path, tmp_path: Path
) -> None:
    names = tmp_path / "classes.txt"
    names.write_text("\n".join(CLASSES) + "\n")
    c = make(registry, checkpoint=str(tiny_ckpt), classes=str(names))
    assert list(c.classes) == CLASSES
    assert list(make(registry, checkpoint=str(tiny_ckpt), num_classes=5).classes) == list("01234")


def test_imagenet_names_and_the_wordnet_dog_group(registry: Registry, digits: tuple) -> None:
    from fxcore.grouping import ClassGrouping

    c = make(registry, pretrained=False)  # random weights: no file, no hub
    assert len(c.classes) == 1000 and c.classes[0] == "tench"
    assert len(set(c.classes)) == 1000  # crane / maillot carry their WordNet ids
    grouping = ClassGrouping.build(c.classes, ["dog"], {"dog": ["wordnet:n02084071"]})
    members = grouping.groups["dog"]
    assert len(members) == 118 and c.classes[members[0]] == "Chihuahua"
    probs = c.predict_proba(digits[0][:2])
    torch.testing.assert_close(grouping.grouped(probs)[:, 0], probs[:, members].sum(1))


def test_features_are_pooled_pre_logits(clf: Classifier, digits: tuple) -> None:
    feats = clf.features(digits[0][:4])  # type: ignore[attr-defined]
    assert feats.shape == (4, clf.model.num_features)  # type: ignore[attr-defined]
    head = clf.model.get_classifier()  # type: ignore[attr-defined]
    torch.testing.assert_close(
        head(feats).softmax(1), clf.predict_proba(digits[0][:4]), rtol=1e-4, atol=1e-5
    )


def test_gradients_flow_to_the_images(clf: Classifier, digits: tuple) -> None:
    assert clf.differentiable
    x = digits[0][:2].clone().requires_grad_(True)
    clf.predict_proba(x)[:, 0].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in clf.model.parameters())  # type: ignore[attr-defined]


def test_grey_images_and_any_size(clf: Classifier, digits: tuple) -> None:
    grey = digits[0][:3, :1]
    torch.testing.assert_close(clf.predict_proba(grey), clf.predict_proba(digits[0][:3]))
    assert clf.predict_proba(torch.rand(2, 3, 50, 70)).shape == (2, 5)


def test_fit_learns_the_labels(registry: Registry, tiny_ckpt: Path, digits: tuple) -> None:
    c = make(registry, checkpoint=str(tiny_ckpt), num_classes=5, batch_size=6)
    images, labels = digits
    before = c.predict_proba(images)
    c.fit(images, labels, epochs=4, lr=3e-3)  # type: ignore[attr-defined]
    after = c.predict_proba(images)
    assert (after - before).abs().max() > 1e-2
    p_true = lambda p: p[torch.arange(len(labels)), labels].mean()  # noqa: E731
    assert p_true(after) > p_true(before)
    assert not c.model.training  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"checkpoint": "/nonexistent/w.safetensors"}, "does not exist"),
        ({"model": "test_resnett", "pretrained": False}, "did you mean 'test_resnet'"),
        ({"model": "resnet50.a1_in1k"}, "offline mode is on"),
        ({"classes": "/nonexistent/classes.txt"}, "does not exist"),
        ({"checkpoint": "CKPT", "num_classes": 3}, "set num_classes = 5"),
        ({"checkpoint": "CKPT", "classes": ["a", "b"], "num_classes": 5}, "2 names"),
        ({"model": "test_vit", "checkpoint": "CKPT", "num_classes": 5}, "not a state dict"),
        ({"device": "cuda:7"}, "device"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_config_errors_are_one_line(
    registry: Registry, tiny_ckpt: Path, params: dict, message: str
) -> None:
    params = {k: str(tiny_ckpt) if v == "CKPT" else v for k, v in params.items()}
    with pytest.raises(ConfigError, match=message) as info:
        make(registry, **params)
    assert "\n" not in str(info.value)


def test_bad_images_are_refused(clf: Classifier) -> None:
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\) or \(N, 3, H, W\)"):
        clf.predict_proba(torch.rand(3, 32, 32))
    with pytest.raises(ValueError, match="float"):
        clf.predict_proba(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="labels"):
        clf.fit(torch.rand(2, 3, 8, 8), [0, 9])  # type: ignore[attr-defined]


def test_corrupt_checkpoint(registry: Registry, tmp_path: Path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(ConfigError, match="cannot read weights"):
        make(registry, checkpoint=str(bad), num_classes=5)

"""The classifiers: real held-out accuracy, cache reuse, gradients, features, fit, errors."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from fxcore.contracts import Classifier
from pydantic import ValidationError

from fxcore_mnist import classifiers
from fxcore_mnist.classifiers import ClassifierParams, MnistClassifier, load_classifier
from fxcore_mnist.data import fashion_available, load_dataset, to_tensor

needs_fashion = pytest.mark.skipif(
    not fashion_available(),
    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)",
)


@pytest.fixture(scope="module")
def test_split() -> tuple[torch.Tensor, np.ndarray]:
    x, y = load_dataset("mnist").split("test")
    return to_tensor(x), y


def accuracy(clf: MnistClassifier, x: torch.Tensor, y: np.ndarray) -> float:
    return float((clf.predict_proba(x).argmax(1).numpy() == y).mean())


def test_contract(trained: dict[str, MnistClassifier]) -> None:
    for clf in trained.values():
        assert isinstance(clf, Classifier)
        assert clf.classes == [str(d) for d in range(10)]
        assert clf.differentiable and clf.channels == 1


def test_real_accuracy_on_the_held_out_split(
    trained: dict[str, MnistClassifier], test_split: tuple[torch.Tensor, np.ndarray]
) -> None:
    x, y = test_split
    acc = {arch: accuracy(clf, x, y) for arch, clf in trained.items()}
    assert acc["cnn"] >= 0.90 and acc["mlp"] >= 0.85 and acc["linear"] >= 0.80
    for arch, clf in trained.items():  # the logged figure is the same measurement
        assert clf.origin == "trained" and clf.test_accuracy == pytest.approx(acc[arch])


def test_second_load_reuses_the_cache(
    trained: dict[str, MnistClassifier],
    cache_dir: Path,
    test_split: tuple[torch.Tensor, np.ndarray],
) -> None:
    first = trained["cnn"]
    path = first.cache_path
    assert path.parent == cache_dir / "mnist" and path.is_file()
    mtime = path.stat().st_mtime_ns
    again = MnistClassifier(arch="cnn", epochs=first.epochs, cache_dir=cache_dir)
    assert again.origin == "cache" and again.test_accuracy == first.test_accuracy
    assert path.stat().st_mtime_ns == mtime
    x = test_split[0][:50]
    assert torch.equal(again.predict_proba(x), first.predict_proba(x))
    assert not [p for p in path.parent.iterdir() if p.suffix == ".tmp"]  # atomic writes


def test_cache_key_has_every_training_setting(tmp_path: Path) -> None:
    cache_dir = tmp_path
    base = MnistClassifier(arch="cnn", epochs=3, cache_dir=cache_dir, pretrained=False)
    others = [
        MnistClassifier(arch="mlp", epochs=3, cache_dir=cache_dir, pretrained=False),
        MnistClassifier(arch="cnn", epochs=3 + 1, cache_dir=cache_dir, pretrained=False),
        MnistClassifier(arch="cnn", epochs=3, seed=1, cache_dir=cache_dir, pretrained=False),
        MnistClassifier(
            arch="cnn", epochs=3, train_size=100, cache_dir=cache_dir, pretrained=False
        ),
    ]
    paths = {base.cache_path, *(o.cache_path for o in others)}
    assert len(paths) == 5
    assert f"v{classifiers.VERSION}" in base.cache_path.name


def test_corrupt_cache_is_retrained(tmp_path: Path) -> None:
    clf = MnistClassifier(arch="linear", epochs=1, train_size=500, cache_dir=tmp_path)
    assert clf.origin == "trained"
    clf.cache_path.write_bytes(b"not a torch file")
    again = MnistClassifier(arch="linear", epochs=1, train_size=500, cache_dir=tmp_path)
    assert again.origin == "trained" and again.cache_path.stat().st_size > 1000


def test_a_killed_training_leaves_no_cache(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def killed(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(classifiers.torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        MnistClassifier(arch="linear", epochs=1, train_size=200, cache_dir=tmp_path)
    assert list((tmp_path / "mnist").iterdir()) == []


def test_gradients_flow_through_predict_proba(trained: dict[str, MnistClassifier]) -> None:
    x = to_tensor(load_dataset("mnist").images[::1250]).requires_grad_(True)
    for clf in trained.values():
        x.grad = None
        p = clf.predict_proba(x)
        assert p.requires_grad
        p[:, 3].sum().backward()
        assert x.grad is not None and float(x.grad.abs().sum()) > 0
        assert all(q.grad is None for q in clf.net.parameters())  # the weights stay frozen
    p = trained["cnn"].predict_proba(x.detach())
    assert p.is_inference()  # no graph without requires_grad


def test_input_forms(trained: dict[str, MnistClassifier]) -> None:
    clf = trained["cnn"]
    x = to_tensor(load_dataset("mnist").images[::625])
    p = clf.predict_proba(x)
    assert p.shape == (8, 10) and torch.allclose(p.sum(1), torch.ones(8))
    assert torch.allclose(clf.predict_proba(x.repeat(1, 3, 1, 1)), p, atol=1e-6)
    big = torch.nn.functional.interpolate(x, size=(56, 56), mode="nearest")
    assert (clf.predict_proba(big).argmax(1) == p.argmax(1)).float().mean() >= 0.75
    with pytest.raises(
        ValueError, match=r"\(N, 1, H, W\) or \(N, 3, H, W\), got shape \(8, 28, 28\)"
    ):
        clf.predict_proba(x[:, 0])
    with pytest.raises(ValueError, match=r"got shape \(8, 2, 28, 28\)"):
        clf.predict_proba(x.repeat(1, 2, 1, 1))
    with pytest.raises(ValueError, match="float"):
        clf.predict_proba((x * 255).to(torch.uint8))


def test_features_are_the_penultimate_layer(trained: dict[str, MnistClassifier]) -> None:
    x = to_tensor(load_dataset("mnist").images[:5])
    dims = {arch: clf.features(x).shape for arch, clf in trained.items()}
    assert dims == {"cnn": (5, 64), "mlp": (5, 128), "linear": (5, 784)}
    clf = trained["mlp"]
    logits = clf.net.head(clf.features(x))
    assert torch.allclose(logits.softmax(1), clf.predict_proba(x), atol=1e-6)


def test_untrained_then_fit_learns(
    tmp_path: Path, test_split: tuple[torch.Tensor, np.ndarray]
) -> None:
    x_test, y_test = test_split
    clf = load_classifier("mnist", "linear", pretrained=False, cache_dir=tmp_path)
    assert clf.origin == "untrained" and clf.test_accuracy is None
    assert not list(tmp_path.iterdir())  # nothing trained, nothing cached
    before = accuracy(clf, x_test, y_test)
    x, y = load_dataset("mnist").split("train")
    pick = np.random.default_rng(0).choice(len(y), 600, replace=False)  # the file is sorted
    clf.fit(to_tensor(x[pick]), y[pick], epochs=5)
    after = accuracy(clf, x_test, y_test)
    assert before < 0.3 and after > 0.75


def test_fit_changes_a_trained_model(trained: dict[str, MnistClassifier], cache_dir: Path) -> None:
    own = trained["mlp"]
    clf = MnistClassifier(arch="mlp", epochs=own.epochs, cache_dir=cache_dir)  # a copy (cache)
    assert clf.origin == "cache"
    x = to_tensor(load_dataset("mnist").images[:64])
    before = clf.predict_proba(x)
    wrong = np.full(64, 3)  # teach it that everything is a 3
    clf.fit(x, wrong, epochs=3)
    after = clf.predict_proba(x)
    assert float(after[:, 3].mean()) > float(before[:, 3].mean()) + 0.3
    assert torch.equal(trained["mlp"].predict_proba(x), before)  # the shared one is untouched
    with pytest.raises(ValueError, match="class indices in 0..9"):
        clf.fit(x, np.full(64, 10))
    with pytest.raises(ValueError, match=r"labels must be \(N,\)"):
        clf.fit(x, np.zeros(3, dtype=int))


def test_params_model() -> None:
    assert ClassifierParams().dataset == "mnist"
    with pytest.raises(ValidationError, match="dataset"):
        ClassifierParams(dataset="cifar")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="extra"):
        ClassifierParams(arch="cnn")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="not a torch device"):
        ClassifierParams(device="gpu0")
    with pytest.raises(ValueError, match="unknown arch 'resnet'"):
        load_classifier("mnist", "resnet")


def test_default_cache_dir(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FXCORE_CACHE", str(tmp_path))
    assert classifiers.default_cache_dir() == tmp_path
    monkeypatch.delenv("FXCORE_CACHE")
    assert classifiers.default_cache_dir() == Path.home() / ".cache" / "fxcore"


@needs_fashion
def test_fashion_small_training(tmp_path: Path) -> None:
    clf = load_classifier("fashion", "mlp", epochs=1, train_size=3000, cache_dir=tmp_path)
    assert clf.classes[0] == "T-shirt/top" and clf.test_accuracy is not None
    assert clf.test_accuracy > 0.7  # on the 10,000 Fashion-MNIST test images


@pytest.mark.slow
@needs_fashion
@pytest.mark.parametrize("arch", ["cnn", "mlp", "linear"])
def test_fashion_defaults(tmp_path: Path, arch: str) -> None:
    start = time.perf_counter()
    clf = load_classifier("fashion", arch, cache_dir=tmp_path)
    print(f"fashion {arch}: {time.perf_counter() - start:.1f} s, acc {clf.test_accuracy:.3f}")
    assert clf.test_accuracy is not None and clf.test_accuracy > 0.8
    assert os.path.getsize(clf.cache_path) > 0

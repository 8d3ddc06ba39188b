"""The data loaders on the real files: shapes, label ranges, class balance, split, errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from fxcore_mnist import data
from fxcore_mnist.data import DataNotFound, fashion_available, load_dataset, to_tensor

needs_fashion = pytest.mark.skipif(
    not fashion_available(),
    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)",
)


def test_mnist5k_shapes_labels_and_balance() -> None:
    ds = load_dataset("mnist")
    assert ds.images.shape == (5000, 28, 28) and ds.images.dtype == np.uint8
    assert ds.labels.shape == (5000,) and ds.labels.dtype == np.int64
    assert ds.classes == tuple("0123456789")
    assert np.bincount(ds.labels).tolist() == [500] * 10
    assert ds.images.max() == 255 and ds.images.min() == 0


def test_mnist5k_split_is_stratified_disjoint_and_fixed() -> None:
    ds = load_dataset("mnist")
    assert len(ds.train_index) == 4000 and len(ds.test_index) == 1000
    assert not set(ds.train_index) & set(ds.test_index)
    _, y_test = ds.split("test")
    assert np.bincount(y_test).tolist() == [100] * 10
    again = data._load_mnist5k()  # bypasses the in-memory cache: the split is deterministic
    assert np.array_equal(again.test_index, ds.test_index)
    assert load_dataset("mnist") is ds  # parsed once per process


@needs_fashion
def test_fashion_shapes_split_and_balance() -> None:
    ds = load_dataset("fashion")
    assert ds.images.shape == (70000, 28, 28) and ds.images.dtype == np.uint8
    assert len(ds.train_index) == 60000 and len(ds.test_index) == 10000
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"
    _, y_train = ds.split("train")
    _, y_test = ds.split("test")
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10


def test_missing_fashion_says_how_to_install(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FXCORE_FASHION_MNIST", str(tmp_path))
    with pytest.raises(DataNotFound, match="apt-get install dataset-fashion-mnist"):
        data._load_fashion()


def test_bad_idx_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(b"\x00\x00\x08\x01" + (3).to_bytes(4, "big") + b"\x01\x02")
    with pytest.raises(ValueError, match="bad.gz"):
        data._read_idx(path, 0x0801)
    with pytest.raises(ValueError, match="expected kind"):
        data._read_idx(path, 0x0803)


def test_unknown_dataset_and_split() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'cifar'.*mnist, fashion"):
        load_dataset("cifar")
    with pytest.raises(ValueError, match="split must be"):
        load_dataset("mnist").split("val")  # type: ignore[arg-type]


def test_to_tensor() -> None:
    x = to_tensor(load_dataset("mnist").images[:5])
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) == 1.0
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        to_tensor(np.zeros((2, 1, 28, 28), dtype=np.uint8))


def test_registered_as_data_sets_with_their_files() -> None:
    from fxcore.contracts import Dataset
    from fxcore.plugins import Registry

    reg = Registry.load(strict=True)
    assert {"mnist/mnist", "mnist/fashion"} <= set(reg.names("dataset"))
    ds = reg.create("dataset", "mnist/mnist")
    assert isinstance(ds, Dataset) and ds is load_dataset("mnist")
    assert set(ds.splits) == {"train", "test", "all"} and len(ds.split("test")[1]) == 1000
    assert [p.name for p in ds.files] == ["mnist_5k.csv.gz"] and ds.files[0].is_file()

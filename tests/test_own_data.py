"""Your own model and your own images (docs/howto.md): ``fxcore.models.TorchClassifier``, the
``python`` classifier (a config alone cannot import code), and label data from an image folder
(ImageFolder layout or flat) or a CSV of paths, on real images: scikit-learn's digits as PNGs."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fxcore import api
from fxcore.builtins.python import ALLOW_VAR
from fxcore.config import validate_config
from fxcore.errors import ConfigError, RunError
from fxcore.label.items import load_items
from fxcore.models import TorchClassifier, torch_threads
from fxcore.plugins import Registry
from fxcore.schemas.label import LabelConfig, LabelData
from fxcore.store import check_inputs, config_hash

DIGITS = [str(d) for d in range(10)]
N = 120  # images written (12 per class on average)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images[:N] * (255 / 16)).round().astype(np.uint8), d.target[:N].astype(np.int64)


def write_folder(root: Path, images: np.ndarray, labels: np.ndarray | None) -> Path:
    """``root/<label>/<i>.png`` (ImageFolder) or ``root/<i>.png`` (flat)."""
    for i, img in enumerate(images):
        sub = root if labels is None else root / str(labels[i])
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(sub / f"{i:03d}.png")
    return root


@pytest.fixture()
def folder(tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]) -> Path:
    return write_folder(tmp_path / "digits", *digits)


def net(channels: int = 1, size: int = 8) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(channels * size * size, 32),
                               torch.nn.ReLU(), torch.nn.Linear(32, 10))


# ------------------------------------------------------------------------- image folders, CSV
def test_image_folder_gives_labelled_float_images(folder: Path, digits) -> None:
    images, labels = digits
    items = load_items(LabelData(folder=folder), classes=DIGITS)
    assert items.images is not None and items.images.dtype == torch.float32
    assert tuple(items.images.shape) == (N, 3, 8, 8)
    assert 0 <= float(items.images.min()) and float(items.images.max()) <= 1
    order = np.argsort([int(Path(i).stem) for i in items.ids])
    assert items.truth is not None and (items.truth[order] == labels).all()
    grey = items.images[torch.as_tensor(order), 0].numpy()
    assert np.allclose(grey, images / 255.0, atol=1e-6)  # PNG round trip is exact
    assert items.ids[0] == "0/000.png" and items.classes == DIGITS
    assert set(items.files) == {f"data.folder[{i}]" for i in items.ids}


def test_flat_folder_is_unlabelled_and_size_channels_apply(tmp_path: Path, digits) -> None:
    flat = write_folder(tmp_path / "flat", digits[0][:10], None)
    items = load_items(LabelData(folder=flat, size=[12, 16], channels=1), classes=DIGITS)
    assert items.truth is None and items.ids[:2] == ["000.png", "001.png"]
    assert items.images is not None and tuple(items.images.shape) == (10, 1, 12, 16)
    items = load_items(LabelData(folder=flat, limit=4), seed=1, classes=DIGITS)
    assert len(items) == 4 and len(items.files) == 4


def test_csv_with_labels_names_or_indices_and_without(tmp_path: Path, folder: Path) -> None:
    rows = [("digits/3/003.png", "3"), (str(folder / "0/000.png"), "0"),
            ("digits/1/001.png", "1")]
    (tmp_path / "items.csv").write_text("path,label\n" + "\n".join(f"{p},{y}" for p, y in rows))
    items = load_items(LabelData(csv=tmp_path / "items.csv"),
                       classes=["zero", "one", "two", "three"] + DIGITS[4:])
    assert items.ids == [r[0] for r in rows] and list(items.truth) == [3, 0, 1]  # indices
    named = tmp_path / "named.csv"
    named.write_text("label,path\nb,digits/3/003.png\na,digits/1/001.png\n")
    items = load_items(LabelData(csv=named, classes=["a", "b"]))
    assert list(items.truth) == [1, 0] and items.classes == ["a", "b"]
    bare = tmp_path / "bare.csv"
    bare.write_text("path\ndigits/3/003.png\ndigits/1/001.png\n")
    assert load_items(LabelData(csv=bare), classes=DIGITS).truth is None
    cfg = LabelConfig(data=LabelData(csv=bare), classifiers=["x"], target_accuracy=0.9)
    assert cfg.input_files() == {"data.csv": bare}


def test_classes_default_to_the_labels_found_without_classifiers(folder: Path) -> None:
    assert load_items(LabelData(folder=folder)).classes == DIGITS


@pytest.mark.parametrize("case, error", [
    ("missing", r"data.folder .*nope: no such folder"),
    ("empty", r"data.folder .*empty: no images in it"),
    ("mixed", r"holds both images \(000.png\) and subfolders \(0\)"),
    ("garbage", r"data.folder .*: 3/bad.png: not a readable image"),
    ("unknown", r"data.folder .*: cat/000.png: the subfolder 'cat' is not one of the classes"),
    ("sizes", r"3/big.png is 9×8 \(H×W\) but 0/000.png is 8×8; set data.size"),
])
def test_folder_errors_are_one_line_naming_the_file(tmp_path: Path, folder: Path, digits,
                                                    case: str, error: str) -> None:
    target = folder
    if case == "missing":
        target = tmp_path / "nope"
    elif case == "empty":
        target = tmp_path / "empty"
        (target / "a").mkdir(parents=True)
        (target / "a" / "notes.txt").write_text("x")
    elif case == "mixed":
        Image.fromarray(digits[0][0]).save(folder / "000.png")
    elif case == "garbage":
        (folder / "3" / "bad.png").write_bytes(b"not a png")
    elif case == "unknown":
        write_folder(folder, digits[0][:1], np.array(["cat"]))
    elif case == "sizes":
        Image.fromarray(np.zeros((9, 8), np.uint8)).save(folder / "3" / "big.png")
    with pytest.raises(ConfigError, match=error) as exc:
        load_items(LabelData(folder=target), classes=DIGITS)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("text, error", [
    ("file,label\na.png,1\n", "the header must be path or path,label"),
    ("path,label\ndigits/0/000.png,0\ndigits/1/001.png,\n",
     "row 3 has no label while others have one"),
    ("path\ndigits/0/000.png\ndigits/0/000.png\n", r"row 3 repeats 'digits/0/000.png' \(row 2\)"),
    ("path\nmissing.png\n", r"missing.png: no such file"),
    ("path,label\ndigits/0/000.png,eleven\n", "the label 'eleven' is not one of the classes"),
    ("path\n", "no rows below the header"),
])
def test_csv_errors_name_the_file_and_row(tmp_path: Path, folder: Path, text: str,
                                          error: str) -> None:
    (tmp_path / "items.csv").write_text(text)
    with pytest.raises(ConfigError, match=error):
        load_items(LabelData(csv=tmp_path / "items.csv"), classes=DIGITS)
    with pytest.raises(ConfigError, match="data.csv .*nope.csv: no such file"):
        load_items(LabelData(csv=tmp_path / "nope.csv"), classes=DIGITS)


def test_data_keys_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one of .* \\(got folder, csv\\)"):
        LabelData(folder=tmp_path, csv=tmp_path / "x.csv")
    with pytest.raises(ValueError, match="data.size applies to data.folder and data.csv only"):
        LabelData(path=tmp_path / "x.npz", size=8)
    with pytest.raises(ValueError, match="data.size must be positive"):
        LabelData(folder=tmp_path, size=0)


def test_old_configs_hash_as_before() -> None:
    """The new keys are left out of the dump when unset: runs made before keep resuming (the
    hashes are those of the same configs before data.folder / data.csv existed)."""
    cfg = LabelConfig(data=LabelData(path=Path("items.npz")), classifiers=["x"],
                      target_accuracy=0.9)
    assert set(cfg.model_dump(mode="json")["data"]) == {"dataset", "split", "path", "limit"}
    assert config_hash(cfg) == "2ebe2c3710934078"
    cfg = LabelConfig(data=LabelData(dataset="mnist/mnist", split="test", limit=5),
                      classifiers=["x"], target_accuracy=0.9)
    assert config_hash(cfg) == "ba725783ce5e525e"


# -------------------------------------------------------------------------- label runs
def _label(folder: Path, out: Path, **data: object) -> api.RunResult:
    clf = TorchClassifier(net(), DIGITS, channels=1, fit_epochs=30, fit_lr=3e-3)
    return api.label({"data": {"folder": str(folder), **data}, "target_accuracy": 0.8,
                      "labeller": "threshold", "split": {"fraction": 0.4}},
                     out=out, components={"classifiers.0": clf})


def test_label_an_image_folder_and_resume_refuses_changed_images(tmp_path: Path,
                                                                 folder: Path, digits) -> None:
    result = _label(folder, tmp_path / "run")
    s = result.summary
    assert s["n_items"] == N and s["accuracy"] >= 0.8
    snapshot = json.loads((tmp_path / "run" / "config.json").read_text())
    assert snapshot["classifiers"] == [{"name": "given", "params": {}}]
    with open(s["labels_file"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    truth = {f"{y}/{i:03d}.png": str(y) for i, y in enumerate(digits[1])}
    assert {r["item"] for r in rows} == set(truth)
    assert _resume(folder, tmp_path / "run").summary["resumed"]  # the same images
    Image.fromarray(digits[0][5]).save(folder / "3" / "new.png")
    with pytest.raises(ConfigError, match=r"data.folder\[3/new.png\] was not there"):
        _resume(folder, tmp_path / "run")
    (folder / "3" / "new.png").unlink()
    Image.fromarray(255 - digits[0][0]).save(folder / "0" / "000.png")
    with pytest.raises(ConfigError, match=r"data.folder\[0/000.png\] .* changed since the run"):
        _resume(folder, tmp_path / "run")


def _resume(folder: Path, out: Path) -> api.RunResult:
    clf = TorchClassifier(net(), DIGITS, channels=1)
    return api.label({"data": {"folder": str(folder)}, "target_accuracy": 0.8,
                      "labeller": "threshold", "split": {"fraction": 0.4}}, out=out,
                     resume=True, components={"classifiers.0": clf})


def test_unlabelled_images_need_a_person_not_the_simulator(tmp_path: Path, digits) -> None:
    flat = write_folder(tmp_path / "flat", digits[0][:30], None)
    with pytest.raises(ConfigError, match=r"annotator: 'simulate' answers with the ground "
                       r"truth, and data.folder .*flat has no labels; a person must answer"):
        _label(flat, tmp_path / "run")
    assert not (tmp_path / "run").exists()
    result = api.label({"data": {"folder": str(flat)}, "target_accuracy": 0.8,
                        "labeller": "threshold", "annotator": "file"}, out=tmp_path / "run2",
                       components={"classifiers.0": TorchClassifier(net(), DIGITS, channels=1)})
    assert result.summary["status"] == "waiting" and not result.complete
    assert (tmp_path / "run2" / "artefacts" / "annotation" / "queue.csv").is_file()


def test_input_groups_refuse_added_and_removed_files() -> None:
    then = {"data.folder[a.png]": {"path": "a", "sha256": "1"}, "--table": {"sha256": "t"}}
    check_inputs(then, dict(then))
    with pytest.raises(ConfigError, match=r"data.folder\[a.png\] is no longer there"):
        check_inputs(then, {"data.folder[b.png]": {"path": "b", "sha256": "2"}})
    with pytest.raises(ConfigError, match=r"data.folder\[b.png\] was not there"):
        check_inputs(then, {**then, "data.folder[b.png]": {"path": "b", "sha256": "2"}})
    check_inputs({"--table": {"sha256": "t"}}, {**then})  # groups only both runs read


# ------------------------------------------------------------------------ TorchClassifier
def test_torch_classifier_prepares_images_and_returns_probabilities() -> None:
    seen: list[torch.Tensor] = []

    class Spy(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(3 * 4 * 6, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x)
            return self.lin(x.flatten(1))

    clf = TorchClassifier(Spy(), ["a", "b"], size=(4, 6), mean=[0.5] * 3, std=[0.25] * 3)
    grey = torch.ones(5, 1, 8, 8)
    p = clf.predict_proba(grey)
    assert p.shape == (5, 2) and torch.allclose(p.sum(1), torch.ones(5))
    assert seen[-1].shape == (5, 3, 4, 6) and torch.allclose(seen[-1], torch.full_like(
        seen[-1], 2.0))  # (1 - 0.5) / 0.25
    x = torch.rand(2, 3, 4, 6, requires_grad=True)
    clf.predict_proba(x)[:, 0].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # differentiable for mds
    assert clf.features(grey).shape == (5, 2) and clf.channels == 3
    with pytest.raises(ValueError, match=r"returned \(5, 2\) for 5 images; expected \(5, 3\)"):
        TorchClassifier(Spy(), ["a", "b", "c"], size=(4, 6)).predict_proba(grey)
    with pytest.raises(ValueError, match="must be float in"):
        clf.predict_proba(torch.ones(1, 3, 4, 6, dtype=torch.uint8))


def test_torch_classifier_fit_learns(folder: Path) -> None:
    items = load_items(LabelData(folder=folder, channels=1), classes=DIGITS)
    assert items.images is not None and items.truth is not None
    clf = TorchClassifier(net(), DIGITS, channels=1, fit_epochs=40, fit_lr=3e-3)
    before = (clf.predict_proba(items.images).argmax(1).numpy() == items.truth).mean()
    clf.fit(items.images, items.truth)
    after = (clf.predict_proba(items.images).argmax(1).numpy() == items.truth).mean()
    assert after > max(0.9, before)


# ------------------------------------------------------------ python: a config runs no code
MARK = "imported.txt"


@pytest.fixture()
def mymodels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A module that leaves a file behind when it is imported, on sys.path."""
    (tmp_path / "mymodels_fx.py").write_text(
        "from pathlib import Path\n"
        f"Path({str(tmp_path / MARK)!r}).write_text('imported')\n"
        "import torch\n"
        "def build(hidden=16):\n"
        "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, hidden),\n"
        "                               torch.nn.ReLU(), torch.nn.Linear(hidden, 10))\n"
        "def not_a_model():\n"
        "    return 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "mymodels_fx", raising=False)
    monkeypatch.delenv(ALLOW_VAR, raising=False)
    return tmp_path


def _python_label_config(folder: Path, obj: str = "mymodels_fx:build") -> dict:
    return {"data": {"folder": str(folder), "channels": 1}, "target_accuracy": 0.8,
            "labeller": "threshold",
            "classifiers": [{"name": "python", "params": {
                "object": obj, "kwargs": {"hidden": 8}, "classes": DIGITS, "channels": 1}}]}


@pytest.mark.parametrize("allow", [None, "othermodule", "mymodels", "mymodels_fx.sub"])
def test_a_config_alone_cannot_import_code(mymodels: Path, folder: Path,
                                           monkeypatch: pytest.MonkeyPatch,
                                           allow: str | None) -> None:
    if allow is not None:
        monkeypatch.setenv(ALLOW_VAR, allow)
    with pytest.raises(ConfigError, match=r"classifiers.0.params.object: .*'mymodels_fx:build'"
                       r" is refused: a config alone cannot import code \(nothing was "
                       r"imported\); .* FXCORE_ALLOW_PYTHON=mymodels_fx"):
        validate_config(_python_label_config(folder), LabelConfig, Registry.load())
    with pytest.raises(ConfigError, match="is refused"):
        api.label(_python_label_config(folder), out=mymodels / "run")
    assert not (mymodels / MARK).exists() and "mymodels_fx" not in sys.modules
    assert not (mymodels / "run").exists()


def test_the_cli_refuses_too(mymodels: Path, folder: Path) -> None:
    (mymodels / "label.json").write_text(json.dumps(_python_label_config(folder)))
    env = {k: v for k, v in os.environ.items() if k != ALLOW_VAR}
    env["PYTHONPATH"] = str(mymodels)
    out = subprocess.run([sys.executable, "-c", "import sys, fxcore.cli; "
                          "sys.exit(fxcore.cli.main(sys.argv[1:]))", "label",
                          str(mymodels / "label.json"), "--out", str(mymodels / "run")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2, out.stderr
    assert "a config alone cannot import code" in out.stderr
    assert not (mymodels / MARK).exists() and not (mymodels / "run").exists()


def test_allowed_python_classifier_wraps_the_module(mymodels: Path, folder: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_VAR, "numpy, mymodels_fx")
    reg = Registry.load()
    cfg = validate_config(_python_label_config(folder), LabelConfig, reg)
    clf = reg.create("classifier", cfg.classifiers[0])
    assert isinstance(clf, TorchClassifier) and clf.classes == DIGITS and clf.channels == 1
    assert (mymodels / MARK).exists()
    assert clf.predict_proba(torch.rand(3, 1, 8, 8)).shape == (3, 10)
    bad = {"name": "python", "params": {"object": "mymodels_fx:not_a_model"}}
    with pytest.raises(ValueError, match="gave a int, neither a torch.nn.Module"):
        reg.create("classifier", bad)
    nameless = {"name": "python", "params": {"object": "mymodels_fx:build"}}
    with pytest.raises(ValueError, match="give classes"):
        reg.create("classifier", nameless)
    with pytest.raises(ConfigError, match="is not 'module:attribute'"):
        reg.create("classifier", {"name": "python", "params": {"object": "os.system"}})
    with pytest.raises(RunError, match="classifiers.0: python could not be built"):
        api.label({**_python_label_config(folder, "mymodels_fx:nope"), "labeller": "threshold"},
                  out=mymodels / "run")

"""The render generator: each transform does what its attribute says, reproducibly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fxcore.contracts import Generator
from fxcore.plugins import Registry

import fxcore_mnist
from fxcore_mnist.data import fashion_available
from fxcore_mnist.render import VOCABULARY, Draws, Render

needs_fashion = pytest.mark.skipif(
    not fashion_available(),
    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)",
)


@pytest.fixture(scope="module")
def exact() -> Render:
    """No per-image jitter: magnitudes are exactly the documented ones."""
    return Render(jitter=0.0)


def digits(gen: Render, n: int = 12, seed: int = 0, digit: str = "3", **attrs: str) -> torch.Tensor:
    return gen.generate("", {"digit": digit, **attrs}, n, seed)


def centre_of_mass(x: torch.Tensor) -> torch.Tensor:
    """``(N, 2)`` (row, column) ink centroids."""
    w = x[:, 0]
    grid = torch.arange(28, dtype=torch.float32)
    total = w.sum(dim=(1, 2))
    return torch.stack([(w.sum(2) * grid).sum(1) / total, (w.sum(1) * grid).sum(1) / total], 1)


def test_contract_shape_and_range() -> None:
    gen = Render()
    assert isinstance(gen, Generator) and gen.channels == 1
    x = gen.generate("", {"digit": "5", "rotation": "strong-left", "noise": "high"}, 7, 3)
    assert x.shape == (7, 1, 28, 28) and x.dtype == torch.float32
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert gen.generate("", {"digit": "5"}, 0, 3).shape == (0, 1, 28, 28)


def test_neutral_values_give_real_test_images_of_the_class(exact: Render) -> None:
    x = digits(exact, n=20, seed=4, digit="7")
    ds = fxcore_mnist.load_dataset("mnist")
    test_x, test_y = ds.split("test")
    pool = np.flatnonzero(test_y == 7)
    src = pool[(Draws(20, 4).pick * len(pool)).astype(np.int64)]
    assert torch.equal(x, fxcore_mnist.to_tensor(test_x[src]))
    neutral = {k: v[0] if k != "thickness" else "normal" for k, v in VOCABULARY.items()}
    neutral.update(scale="normal", position="center", contrast="normal")
    assert torch.equal(digits(exact, n=20, seed=4, digit="7", **neutral), x)


def test_upside_down_flips_both_axes(exact: Render) -> None:
    x = digits(exact)
    y = digits(exact, rotation="upside-down")
    assert torch.allclose(y, x.flip(-1).flip(-2), atol=1e-4)


def test_left_is_counter_clockwise() -> None:
    x = digits(Render(jitter=0.0))
    quarter = digits(Render(jitter=0.0, intensity=2.0), rotation="strong-left")  # 2 x 45 deg
    assert torch.allclose(quarter, torch.rot90(x, 1, dims=(2, 3)), atol=1e-4)
    right = digits(Render(jitter=0.0, intensity=2.0), rotation="strong-right")
    assert torch.allclose(right, torch.rot90(x, -1, dims=(2, 3)), atol=1e-4)


@pytest.mark.parametrize(
    ("position", "axis", "sign"), [("right", 1, 1), ("left", 1, -1), ("down", 0, 1), ("up", 0, -1)]
)
def test_position_moves_the_centre_of_mass(
    exact: Render, position: str, axis: int, sign: int
) -> None:
    before = centre_of_mass(digits(exact))
    after = centre_of_mass(digits(exact, position=position))
    move = (after - before)[:, axis] * sign
    # 5 pixels; ink moved past the edge is lost, which pulls some centroids back a little
    assert torch.all(move > 3.0) and torch.all(move < 5.5) and 4.3 < float(move.mean()) < 5.2
    assert torch.all((after - before)[:, 1 - axis].abs() < 1.0)  # clipping at the edge


def test_thickness_orders_the_ink(exact: Render) -> None:
    ink = {v: float((digits(exact, thickness=v) > 0.5).sum()) for v in VOCABULARY["thickness"]}
    assert ink["thin"] < ink["normal"] < ink["bold"] < ink["heavy"]


def test_scale_changes_the_extent(exact: Render) -> None:
    ink = {v: float(digits(exact, scale=v).sum()) for v in VOCABULARY["scale"]}
    assert ink["tiny"] < ink["small"] < ink["normal"] < ink["large"]
    # zoom 0.55 shrinks the area by about 0.55^2
    assert 0.2 < ink["tiny"] / ink["normal"] < 0.45


def test_noise_adds_variance(exact: Render) -> None:
    x = digits(exact)
    low = (digits(exact, noise="low") - x).std()
    high = (digits(exact, noise="high") - x).std()
    assert 0.04 < low < 0.1 < high  # clipping to [0, 1] removes part of the std 0.1 / 0.3


def test_blur_smooths_and_keeps_the_ink(exact: Render) -> None:
    x = digits(exact)
    blurred = digits(exact, blur="strong")
    grad = lambda t: (t[..., 1:] - t[..., :-1]).abs().sum()  # noqa: E731
    assert grad(blurred) < 0.6 * grad(x)
    assert torch.allclose(blurred.sum(), x.sum(), rtol=0.02)


def test_contrast_values(exact: Render) -> None:
    x = digits(exact)
    assert torch.allclose(digits(exact, contrast="inverted"), 1 - x)
    low = digits(exact, contrast="low")
    assert float(low.min()) == pytest.approx(0.3) and float(low.max()) == pytest.approx(0.7)
    assert float(digits(exact, contrast="faint").max()) == pytest.approx(0.3)


def test_occlusion_erases_a_band_only(exact: Render) -> None:
    x = digits(exact)
    top = digits(exact, occlusion="top")
    assert float(top[:, :, 3:11].abs().sum()) == 0.0
    assert torch.equal(top[:, :, 11:], x[:, :, 11:])
    centre = digits(exact, occlusion="center")
    assert float(centre[:, :, 10:18, 10:18].sum()) == 0.0 and centre.sum() < x.sum()


def test_elastic_distorts_but_keeps_the_digit(exact: Render) -> None:
    x = digits(exact)
    for value in ("mild", "strong"):
        y = digits(exact, elastic=value)
        assert (y - x).abs().sum() > 0.05 * x.sum()
        assert torch.allclose(y.sum(), x.sum(), rtol=0.15)


def test_same_seed_same_images_and_image_i_independent_of_n() -> None:
    gen = Render()
    attrs = {"digit": "2", "rotation": "slight-left", "noise": "low", "elastic": "mild"}
    a = gen.generate("", attrs, 10, seed=11)
    assert torch.equal(a, gen.generate("", attrs, 10, seed=11))
    assert torch.equal(a[:4], gen.generate("", attrs, 4, seed=11))
    assert not torch.equal(a, gen.generate("", attrs, 10, seed=12))
    # common random numbers: another attribute value, the same source digits
    b = gen.generate("", {**attrs, "noise": "none", "rotation": "none", "elastic": "none"}, 4, 11)
    assert torch.equal(b, gen.generate("", {"digit": "2"}, 4, 11))


def test_class_from_attribute_param_or_prompt() -> None:
    gen = Render(jitter=0.0)
    x = gen.generate("", {"digit": "8"}, 3, 0)
    assert torch.equal(gen.generate("", {"class": "8"}, 3, 0), x)
    assert torch.equal(Render(jitter=0.0, true_class="8").generate("a digit", {}, 3, 0), x)
    assert torch.equal(gen.generate("a handwritten 8, upright", {}, 3, 0), x)
    with pytest.raises(ValueError, match="cannot tell which class"):
        gen.generate("a 3 or an 8", {}, 3, 0)
    with pytest.raises(ValueError, match="unknown class '12'"):
        gen.generate("", {"digit": "12"}, 3, 0)


def test_unknown_attributes_and_values_are_clear_errors() -> None:
    gen = Render()
    with pytest.raises(ValueError, match="attribute 'weather' is not rendered.*ignore_attributes"):
        gen.generate("", {"digit": "1", "weather": "sunny"}, 2, 0)
    ok = Render(ignore_attributes=["weather"]).generate("", {"digit": "1", "weather": "x"}, 2, 0)
    assert ok.shape == (2, 1, 28, 28)
    allowed = "none, slight-left, slight-right, strong-left, strong-right, upside-down"
    with pytest.raises(
        ValueError, match=f"attribute 'rotation': unknown value 'sideways'; allowed: {allowed}"
    ):
        gen.generate("", {"digit": "1", "rotation": "sideways"}, 2, 0)


def test_check_attributes_covers_every_value_of_a_domain() -> None:
    """What fx explore asks before a run: the same errors as generate, for every value."""
    gen = Render()
    gen.check_attributes({"digit": [str(d) for d in range(10)], **VOCABULARY})
    with pytest.raises(ValueError, match="attribute 'rotation': unknown value 'sideways'"):
        gen.check_attributes({"digit": ["1"], "rotation": ["none", "sideways"]})
    with pytest.raises(ValueError, match="attribute 'digit': unknown class 'seven'"):
        gen.check_attributes({"digit": ["1", "seven"]})
    with pytest.raises(ValueError, match="attribute 'weather' is not rendered"):
        gen.check_attributes({"digit": ["1"], "weather": ["sunny"]})
    Render(ignore_attributes=["weather"]).check_attributes({"weather": ["any"]})


@needs_fashion
def test_fashion_classes_render() -> None:
    gen = Render(dataset="fashion")
    x = gen.generate("", {"class": "ankle boot", "rotation": "upside-down"}, 5, 0)
    assert x.shape == (5, 1, 28, 28)
    assert gen.resolve_class("a photo of a Sandal", {}) == 5


def test_registered_through_the_hooks() -> None:
    reg = Registry.load(entry_points=[], modules={"mnist": fxcore_mnist})
    assert "mnist/render" in reg.names("generator")
    mine = [n for kind in ("classifier", "filter") for n in reg.names(kind)
            if n.startswith("mnist/")]  # the kernel has built-ins of these kinds too
    assert mine == ["mnist/cnn", "mnist/linear", "mnist/mlp", "mnist/ink"]
    gen = reg.create("generator", {"name": "mnist/render", "params": {"intensity": 0.5}})
    assert isinstance(gen, Render) and gen.intensity == 0.5
    from fxcore.errors import ConfigError

    with pytest.raises(ConfigError, match="generator.params.split"):
        reg.create("generator", {"name": "render", "params": {"split": "val"}}, where="generator")

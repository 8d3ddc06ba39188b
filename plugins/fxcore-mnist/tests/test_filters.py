"""The ink filter keeps real digits and drops destroyed ones."""

from __future__ import annotations

import pytest
import torch
from fxcore.contracts import Filter
from fxcore.schemas import EvaluationDomain, Subdomain
from pydantic import ValidationError

from fxcore_mnist.data import load_dataset, to_tensor
from fxcore_mnist.filters import InkFilter, InkParams, ink_scores
from fxcore_mnist.render import Render

DOMAIN = EvaluationDomain(
    attributes={"digit": list("0123456789")}, prompt_template="a {digit}", true_class="{digit}"
)
SUB = Subdomain(id="x", index=0, values={"digit": "3"}, prompt="a 3")


@pytest.fixture(scope="module")
def real() -> torch.Tensor:
    return to_tensor(load_dataset("mnist").split("test")[0])


def test_keeps_real_digits(real: torch.Tensor) -> None:
    f = InkFilter()
    assert isinstance(f, Filter)
    mask, scores = f.keep(real, SUB, DOMAIN)
    assert mask.dtype == torch.bool and mask.shape == scores.shape == (1000,)
    assert float(mask.float().mean()) >= 0.99
    assert 0.05 < float(scores.median()) < 0.3  # a digit covers 5-30 % of the canvas


def test_drops_destroyed_digits(real: torch.Tensor) -> None:
    x = real[:50]
    f = InkFilter()
    blank = torch.zeros_like(x)
    off_canvas = torch.zeros_like(x)
    off_canvas[..., :, 25:] = x[..., :, 3:6]  # only a sliver of the digit is left at the edge
    faint = 0.05 * x
    assert not f.keep(blank, SUB, DOMAIN)[0].any()
    assert float(f.keep(off_canvas, SUB, DOMAIN)[0].float().mean()) <= 0.1
    mask, scores = f.keep(faint, SUB, DOMAIN)
    assert not mask.any() and float(scores.max()) == 0.0  # below the contrast floor


def test_dark_ink_on_light_background_and_colour_input(real: torch.Tensor) -> None:
    x = real[:50]
    f = InkFilter()
    assert torch.allclose(ink_scores(1 - x), ink_scores(x), atol=0.005)  # float ties at 0.5
    grey = f.keep(x, SUB, DOMAIN)[1]
    assert torch.allclose(f.keep(x.repeat(1, 3, 1, 1), SUB, DOMAIN)[1], grey, atol=0.005)


def test_rendered_extremes() -> None:
    gen, f = Render(), InkFilter()
    fine = gen.generate("", {"digit": "8", "noise": "low", "rotation": "strong-left"}, 40, 0)
    assert float(f.keep(fine, SUB, DOMAIN)[0].float().mean()) >= 0.95
    tiny = gen.generate("", {"digit": "1", "scale": "tiny", "thickness": "thin"}, 40, 0)
    normal = gen.generate("", {"digit": "1"}, 40, 0)
    assert float(ink_scores(tiny).mean()) < 0.5 * float(ink_scores(normal).mean())


def test_thresholds_are_params(real: torch.Tensor) -> None:
    x = real[:100]
    strict = InkFilter(min_ink=0.2).keep(x, SUB, DOMAIN)[0]
    assert float(strict.float().mean()) < 0.5
    with pytest.raises(ValidationError, match="min_ink"):
        InkParams(min_ink=2)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ink_scores(x[:, 0])

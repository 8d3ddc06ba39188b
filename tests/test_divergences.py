"""Built-in divergences against values computed by hand (natural logs)."""

from __future__ import annotations

import math

import pytest
import torch

from fxcore.builtins.divergences import KL, JensenShannon, ReverseKL
from fxcore.contracts import Divergence
from fxcore.plugins import Registry

P = [0.5, 0.5]
Q = [0.9, 0.1]


def probs(*rows: list[float]) -> torch.Tensor:
    """M distributions over C classes for one item -> (M, 1, C)."""
    return torch.tensor(rows, dtype=torch.float64).unsqueeze(1)


def test_kl_two_way_by_hand() -> None:
    # KL(p||q) = 0.5 ln(0.5/0.9) + 0.5 ln(0.5/0.1) = 0.5 (-0.587787) + 0.5 (1.609438)
    assert KL()(probs(P, Q)).item() == pytest.approx(0.5108256, abs=1e-6)
    assert KL()(probs(P, Q)).item() == pytest.approx(
        0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1), rel=1e-12
    )


def test_reverse_kl_is_the_other_order() -> None:
    # KL(q||p) = 0.9 ln(0.9/0.5) + 0.1 ln(0.1/0.5) = 0.529008 - 0.160944
    assert ReverseKL()(probs(P, Q)).item() == pytest.approx(0.3680642, abs=1e-6)
    assert KL()(probs(Q, P)).item() == pytest.approx(ReverseKL()(probs(P, Q)).item())
    # order matters: the two directions differ on this pair
    assert KL()(probs(P, Q)).item() != pytest.approx(KL()(probs(Q, P)).item(), abs=1e-3)


def test_js_two_way_by_hand() -> None:
    # m = (0.7, 0.3); KL(p||m) = 0.0871767, KL(q||m) = 0.1163218; JS = their mean
    kl_pm = 0.5 * math.log(0.5 / 0.7) + 0.5 * math.log(0.5 / 0.3)
    kl_qm = 0.9 * math.log(0.9 / 0.7) + 0.1 * math.log(0.1 / 0.3)
    js = JensenShannon()(probs(P, Q)).item()
    assert js == pytest.approx(0.1017492, abs=1e-6)
    assert js == pytest.approx((kl_pm + kl_qm) / 2, rel=1e-12)
    assert JensenShannon()(probs(Q, P)).item() == pytest.approx(js)  # symmetric


def test_js_three_way_by_hand() -> None:
    # p1 = (1, 0), p2 = (0, 1), p3 = (1/2, 1/2): mean (1/2, 1/2);
    # JS = H(mean) - mean H(p_m) = ln 2 - (0 + 0 + ln 2) / 3 = (2/3) ln 2
    got = JensenShannon()(probs([1.0, 0.0], [0.0, 1.0], [0.5, 0.5])).item()
    assert got == pytest.approx(2 / 3 * math.log(2), abs=1e-9)
    # three one-hot distributions on three different classes reach the bound ln M = ln 3
    eye = JensenShannon()(probs([1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0])).item()
    assert eye == pytest.approx(math.log(3), abs=1e-9)


def test_kl_three_way_is_mean_against_the_first() -> None:
    # mean of KL(p1||p2) and KL(p1||p3) with p1 = (0.5, 0.5), p2 = (0.9, 0.1), p3 = (0.2, 0.8)
    third = [0.2, 0.8]
    kl13 = 0.5 * math.log(0.5 / 0.2) + 0.5 * math.log(0.5 / 0.8)
    want = (0.5108256 + kl13) / 2
    assert KL()(probs(P, Q, third)).item() == pytest.approx(want, abs=1e-6)
    kl31 = 0.2 * math.log(0.2 / 0.5) + 0.8 * math.log(0.8 / 0.5)
    assert ReverseKL()(probs(P, Q, third)).item() == pytest.approx(
        (0.3680642 + kl31) / 2, abs=1e-6
    )


def test_identical_distributions_give_zero() -> None:
    p = torch.softmax(torch.randn(4, 7, dtype=torch.float64), -1)
    stacked = torch.stack([p, p, p])
    for div in (KL(), ReverseKL(), JensenShannon()):
        assert torch.allclose(div(stacked), torch.zeros(4, dtype=torch.float64), atol=1e-12)


def test_zero_probabilities_stay_finite_and_differentiable() -> None:
    x = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]], requires_grad=True)
    for div in (KL(), ReverseKL(), JensenShannon()):
        d = div(x)
        assert torch.isfinite(d).all()
        (g,) = torch.autograd.grad(d.sum(), x)
        assert torch.isfinite(g).all()
    # clamped at eps = 1e-12: KL((1,0) || (0,1)) = -ln(1e-12)
    assert KL()(x).item() == pytest.approx(-math.log(1e-12), rel=1e-4)


def test_batched_rows_are_independent() -> None:
    batch = torch.tensor([[P, Q], [Q, P]], dtype=torch.float64)  # (M=2, N=2, C=2)
    out = KL()(batch)
    assert out.shape == (2,)
    assert out[0].item() == pytest.approx(0.5108256, abs=1e-6)
    assert out[1].item() == pytest.approx(0.3680642, abs=1e-6)


def test_gradient_flows_to_logits() -> None:
    logits = torch.randn(2, 3, 5, requires_grad=True)
    d = JensenShannon()(logits.softmax(-1))
    (g,) = torch.autograd.grad(d.sum(), logits)
    assert g.abs().sum() > 0


def test_bad_shapes_and_one_classifier_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\(M, N, C\)"):
        JensenShannon()(torch.ones(2, 3))
    with pytest.raises(ValueError, match="at least 2 classifiers"):
        KL()(torch.ones(1, 3, 2) / 2)


def test_registered_as_builtins() -> None:
    reg = Registry.load(entry_points=[])
    for name, cls in (("kl", KL), ("reverse-kl", ReverseKL), ("js", JensenShannon)):
        div = reg.create("divergence", name)
        assert isinstance(div, cls) and isinstance(div, Divergence)
    assert reg.create("divergence", {"name": "js", "params": {"eps": 1e-8}}).eps == 1e-8

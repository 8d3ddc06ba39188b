"""Test-input validation metrics against hand-computed values and known identities."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.datasets import load_digits

from fxcore.label import metrics as M


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return (load_digits().images[:40] / 16.0)[:, None]  # (40, 1, 8, 8) real digits


def test_identities_on_real_images(digits) -> None:
    out = M.compare(digits, digits)
    assert np.allclose(out["mse"], 0) and np.allclose(out["ssim"], 1)
    assert np.allclose(out["glcm_similarity"], 1) and np.allclose(out["wasserstein"], 0)
    assert np.allclose(out["kl"], 0) and np.allclose(out["hist_correlation"], 1)
    assert np.allclose(out["hist_intersection"], 1) and np.allclose(out["vif"], 1)
    assert np.all(np.isinf(M.psnr(digits, digits)))


def test_mse_and_psnr_hand_values() -> None:
    a = np.zeros((1, 4, 4))
    b = np.full((1, 4, 4), 0.1)
    assert M.mse(a, b) == pytest.approx([0.01])
    assert M.psnr(a, b) == pytest.approx([20.0])  # 10 log10(1 / 0.01)
    assert M.psnr(a, b, data_range=255) == pytest.approx([10 * np.log10(255**2 / 0.01)])


def test_ssim_of_constant_images_is_the_luminance_term() -> None:
    a, b = np.full((1, 16, 16), 0.2), np.full((1, 16, 16), 0.6)
    c1 = 0.01**2
    expected = (2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1)  # σ terms are (0 + c2)/(0 + c2)
    assert M.ssim(a, b) == pytest.approx([expected])


def test_ssim_drops_with_noise_and_is_symmetric(digits) -> None:
    rng = np.random.default_rng(0)
    small = np.clip(digits + rng.normal(0, 0.05, digits.shape), 0, 1)
    big = np.clip(digits + rng.normal(0, 0.3, digits.shape), 0, 1)
    assert np.all(M.ssim(digits, small) > M.ssim(digits, big))
    assert np.allclose(M.ssim(digits, big), M.ssim(big, digits))


def test_glcm_matches_the_scikit_image_documented_example() -> None:
    # scikit-image graycomatrix docstring: distance 1, angle 0, 4 levels, not symmetric
    img = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [0, 2, 2, 2], [2, 2, 3, 3]])
    p = M.glcm(img[None], 0, 1, 4, symmetric=False, normed=False)[0]
    assert p.tolist() == [[2, 2, 1, 0], [0, 2, 0, 0], [0, 0, 3, 1], [0, 0, 0, 1]]
    p90 = M.glcm(img[None], 1, 0, 4, symmetric=False, normed=False)[0]  # angle π/2 (down)
    assert p90.tolist() == [[3, 0, 2, 0], [0, 2, 2, 0], [0, 0, 1, 2], [0, 0, 0, 0]]


def test_glcm_features_by_hand() -> None:
    p = np.array([[[0.5, 0.0], [0.0, 0.5]]])  # perfectly correlated levels 0/1
    f = M.glcm_features(p)
    assert f["contrast"] == pytest.approx([0.0]) and f["homogeneity"] == pytest.approx([1.0])
    assert f["energy"] == pytest.approx([np.sqrt(0.5)]) and f["correlation"] == pytest.approx([1])
    q = np.array([[[0.0, 0.5], [0.5, 0.0]]])
    g = M.glcm_features(q)
    assert g["contrast"] == pytest.approx([1.0]) and g["correlation"] == pytest.approx([-1.0])


def test_histogram_metrics_by_hand() -> None:
    a = np.zeros((1, 2, 2))  # every pixel in bin 0
    b = np.full((1, 2, 2), 0.5)  # every pixel in bin 32 of 64
    assert M.wasserstein(a, b) == pytest.approx([0.5])  # a point mass moved by 0.5
    assert M.hist_intersection(a, b) == pytest.approx([0.0])
    half = np.array([[[0.0, 0.0], [0.5, 0.5]]])
    assert M.hist_intersection(a, half) == pytest.approx([0.5])
    rng = np.random.default_rng(1)
    x, y = rng.random((3, 8, 8)), rng.random((3, 8, 8)) ** 2
    ha, hb = M.histograms(x), M.histograms(y)
    centres = (np.arange(64) + 0.5) / 64
    for i in range(3):
        w = stats.wasserstein_distance(centres, centres, ha[i], hb[i])
        assert M.wasserstein(x[i : i + 1], y[i : i + 1]) == pytest.approx([w])
        assert M.hist_correlation(x[i : i + 1], y[i : i + 1]) == pytest.approx(
            [np.corrcoef(ha[i], hb[i])[0, 1]])
        p, q = ha[i] + 1e-6, hb[i] + 1e-6
        assert M.kl(x[i : i + 1], y[i : i + 1]) == pytest.approx(
            [stats.entropy(p / p.sum(), q / q.sum())])


def test_vif_properties(digits) -> None:
    base = digits * 0.5 + 0.25
    assert np.all(M.vif(base, digits) > 1.0)  # contrast enhancement: VIF > 1
    flat = np.full_like(digits, 0.5)
    assert np.allclose(M.vif(digits, flat), 0.0)  # no information left
    rng = np.random.default_rng(0)
    noisy = np.clip(digits + rng.normal(0, 0.2, digits.shape), 0, 1)
    assert np.all((M.vif(digits, noisy) > 0) & (M.vif(digits, noisy) < 1))


def test_feature_cosine_and_table(tmp_path, digits) -> None:
    f = np.array([[1.0, 0.0], [1.0, 1.0]])
    g = np.array([[0.0, 2.0], [2.0, 2.0]])
    assert M.feature_cosine(f, g) == pytest.approx([1.0, 0.0])
    out = M.compare(digits, digits[::-1], extractor=lambda x: np.asarray(x).reshape(len(x), -1))
    assert set(out) >= {"psnr", "ssim", "vif", "feature_cosine"}
    path = M.write_table(tmp_path / "t.csv", out, labels=["valid"] * len(digits))
    header = path.read_text().splitlines()[0].split(",")
    assert header[-1] == "label" and "glcm_similarity" in header


def test_shape_mismatch_and_nan_are_errors(digits) -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        M.ssim(digits, digits[:3])
    bad = digits.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        M.mse(digits, bad)

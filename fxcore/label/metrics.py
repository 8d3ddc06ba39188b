"""Image-comparison metrics for test-input validation (OPAL RQ3).

Each metric compares pairs ``(original_i, transformed_i)`` of a batch and returns one value per
pair (``(N,)``). Images are ``(N, C, H, W)`` or ``(N, H, W)`` arrays or tensors in ``[0, 1]``;
colour images are converted to grey (ITU-R BT.601 luma) first. Everything is vectorised over the
batch with numpy / scipy.

- :func:`mse`, :func:`psnr` (``10 log10(R² / MSE)``, ``inf`` for identical images).
- :func:`ssim`: Wang et al. 2004, 11×11 Gaussian window (σ = 1.5), K1 = 0.01, K2 = 0.03.
- :func:`glcm_similarity`: grey-level co-occurrence matrices (16 levels, distance 1, four angles,
  symmetric, normalised) → contrast, dissimilarity, homogeneity, energy, correlation, averaged
  over the angles; similarity = mean over the features of ``1 − |a − b| / (|a| + |b|)``.
- Grey-level histograms (64 bins on [0, 1]): :func:`wasserstein` (W1, in grey levels),
  :func:`kl` (KL(original ‖ transformed), smoothed), :func:`hist_correlation` (Pearson),
  :func:`hist_intersection` (Σ min, in [0, 1]).
- :func:`vif`: pixel-domain visual information fidelity (VIFp, Sheikh & Bovik 2006), four scales,
  σ²_n = 2 on the 0..255 scale; Gaussian filtering with reflected borders instead of MATLAB's
  'valid' convolution, so values on tiny images differ slightly from the reference code.
- :func:`feature_cosine`: cosine distance between feature vectors of a feature extractor.

:func:`compare` computes them all and :func:`write_table` writes the feature table that
``fx label --table`` reads.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter

from fxcore.store import write_atomic

HIST_BINS = 64
GLCM_LEVELS = 16
GLCM_OFFSETS = ((0, 1), (1, 1), (1, 0), (1, -1))  # (dy, dx): 0°, 45°, 90°, 135°
_LUMA = np.array([0.299, 0.587, 0.114])


def grey(images: Any) -> np.ndarray:
    """``(N, C, H, W)`` / ``(N, H, W)`` in [0, 1] -> float64 ``(N, H, W)``."""
    arr = images.detach().cpu().numpy() if hasattr(images, "detach") else np.asarray(images)
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 3:
        return arr
    if arr.ndim != 4 or arr.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, H, W), (N, 1, H, W) or (N, 3, H, W); got {arr.shape}")
    return arr[:, 0] if arr.shape[1] == 1 else np.tensordot(arr, _LUMA, axes=([1], [0]))


def _pair(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    x, y = grey(a), grey(b)
    if x.shape != y.shape:
        raise ValueError(f"originals {x.shape} and transformed {y.shape} differ in shape")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("images contain NaN or infinite values")
    return x, y


def mse(a: Any, b: Any) -> np.ndarray:
    x, y = _pair(a, b)
    return ((x - y) ** 2).mean(axis=(1, 2))


def psnr(a: Any, b: Any, data_range: float = 1.0) -> np.ndarray:
    m = mse(a, b)
    with np.errstate(divide="ignore"):
        return np.where(m > 0, 10 * np.log10(data_range**2 / np.maximum(m, 1e-300)), np.inf)


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    return gaussian_filter(x, sigma=(0, sigma, sigma), truncate=3.5, mode="reflect")


def ssim(a: Any, b: Any, data_range: float = 1.0, sigma: float = 1.5,
         k1: float = 0.01, k2: float = 0.03) -> np.ndarray:
    """Mean SSIM per pair (``1`` for identical images)."""
    x, y = _pair(a, b)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    mx, my = _blur(x, sigma), _blur(y, sigma)
    sxx = _blur(x * x, sigma) - mx * mx
    syy = _blur(y * y, sigma) - my * my
    sxy = _blur(x * y, sigma) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    return s.mean(axis=(1, 2))


# ------------------------------------------------------------------------------ GLCM
def quantise(x: np.ndarray, levels: int) -> np.ndarray:
    """[0, 1] -> integer grey levels ``0..levels-1``."""
    return np.clip(np.floor(x * levels), 0, levels - 1).astype(np.int64)


def glcm(q: np.ndarray, dy: int, dx: int, levels: int, symmetric: bool = True,
         normed: bool = True) -> np.ndarray:
    """Co-occurrence matrices ``(N, L, L)`` of quantised images ``q (N, H, W)``:
    ``P[n, i, j]`` counts pixel pairs (p, p + (dy, dx)) with levels (i, j)."""
    n, h, w = q.shape
    y0, y1 = max(0, -dy), h - max(0, dy)
    x0, x1 = max(0, -dx), w - max(0, dx)
    ref = q[:, y0:y1, x0:x1]
    nb = q[:, y0 + dy : y1 + dy, x0 + dx : x1 + dx]
    flat = (np.arange(n)[:, None, None] * levels + ref) * levels + nb
    counts = np.bincount(flat.ravel(), minlength=n * levels * levels)
    p: np.ndarray = counts.reshape(n, levels, levels).astype(np.float64)
    if symmetric:
        p = p + p.transpose(0, 2, 1)
    if normed:
        p /= np.maximum(p.sum(axis=(1, 2), keepdims=True), 1)
    return p


def glcm_features(p: np.ndarray) -> dict[str, np.ndarray]:
    """Haralick-style properties of normalised GLCMs ``(N, L, L)`` (as scikit-image defines)."""
    levels = p.shape[-1]
    i, j = np.meshgrid(np.arange(levels), np.arange(levels), indexing="ij")
    mu_i = (p * i).sum(axis=(1, 2))
    mu_j = (p * j).sum(axis=(1, 2))
    sd_i = np.sqrt((p * (i - mu_i[:, None, None]) ** 2).sum(axis=(1, 2)))
    sd_j = np.sqrt((p * (j - mu_j[:, None, None]) ** 2).sum(axis=(1, 2)))
    cov = (p * (i - mu_i[:, None, None]) * (j - mu_j[:, None, None])).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where((sd_i > 1e-15) & (sd_j > 1e-15), cov / (sd_i * sd_j), 1.0)
    return {
        "contrast": (p * (i - j) ** 2).sum(axis=(1, 2)),
        "dissimilarity": (p * np.abs(i - j)).sum(axis=(1, 2)),
        "homogeneity": (p / (1.0 + (i - j) ** 2)).sum(axis=(1, 2)),
        "energy": np.sqrt((p**2).sum(axis=(1, 2))),
        "correlation": corr,
    }


def texture(x: np.ndarray, levels: int = GLCM_LEVELS) -> dict[str, np.ndarray]:
    """GLCM features of grey images ``(N, H, W)``, averaged over the four angles."""
    q = quantise(x, levels)
    feats = [glcm_features(glcm(q, dy, dx, levels)) for dy, dx in GLCM_OFFSETS]
    return {k: np.mean([f[k] for f in feats], axis=0) for k in feats[0]}


def glcm_similarity(a: Any, b: Any, levels: int = GLCM_LEVELS) -> np.ndarray:
    x, y = _pair(a, b)
    fa, fb = texture(x, levels), texture(y, levels)
    sims = []
    for k in fa:
        den = np.abs(fa[k]) + np.abs(fb[k])
        with np.errstate(invalid="ignore", divide="ignore"):
            sims.append(np.where(den > 0, 1 - np.abs(fa[k] - fb[k]) / den, 1.0))
    return np.mean(sims, axis=0)


# ------------------------------------------------------------------------------ histograms
def histograms(x: np.ndarray, bins: int = HIST_BINS) -> np.ndarray:
    """Normalised grey-level histograms ``(N, bins)`` of ``x (N, H, W)`` on [0, 1]."""
    n = len(x)
    idx = quantise(x, bins).reshape(n, -1) + (np.arange(n) * bins)[:, None]
    h = np.bincount(idx.ravel(), minlength=n * bins).reshape(n, bins).astype(np.float64)
    return h / h.sum(axis=1, keepdims=True)


def wasserstein(a: Any, b: Any, bins: int = HIST_BINS) -> np.ndarray:
    """W1 between the grey histograms, in units of grey level (∈ [0, 1])."""
    x, y = _pair(a, b)
    ca = np.cumsum(histograms(x, bins), axis=1)
    cb = np.cumsum(histograms(y, bins), axis=1)
    return np.abs(ca - cb)[:, :-1].sum(axis=1) / bins


def kl(a: Any, b: Any, bins: int = HIST_BINS, eps: float = 1e-6) -> np.ndarray:
    """KL(h_original ‖ h_transformed) with ``eps`` added to every bin (then renormalised)."""
    x, y = _pair(a, b)
    p, q = histograms(x, bins) + eps, histograms(y, bins) + eps
    p /= p.sum(axis=1, keepdims=True)
    q /= q.sum(axis=1, keepdims=True)
    return (p * np.log(p / q)).sum(axis=1)


def hist_correlation(a: Any, b: Any, bins: int = HIST_BINS) -> np.ndarray:
    """Pearson correlation of the two histograms (OpenCV's HISTCMP_CORREL)."""
    x, y = _pair(a, b)
    p, q = histograms(x, bins), histograms(y, bins)
    p, q = p - p.mean(axis=1, keepdims=True), q - q.mean(axis=1, keepdims=True)
    den = np.sqrt((p**2).sum(axis=1) * (q**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (p * q).sum(axis=1) / den, 1.0)


def hist_intersection(a: Any, b: Any, bins: int = HIST_BINS) -> np.ndarray:
    x, y = _pair(a, b)
    return np.minimum(histograms(x, bins), histograms(y, bins)).sum(axis=1)


# ------------------------------------------------------------------------------ VIF
def vif(a: Any, b: Any, sigma_nsq: float = 2.0, scales: int = 4) -> np.ndarray:
    """Pixel-domain VIF of ``b`` against the reference ``a`` (1 for identical images; > 1 for
    a contrast enhancement; 0 when ``b`` carries no information about ``a``)."""
    x, y = _pair(a, b)
    x, y = x * 255.0, y * 255.0
    eps = 1e-10
    num = np.zeros(len(x))
    den = np.zeros(len(x))
    for scale in range(1, scales + 1):
        sd = (2 ** (scales - scale + 1) + 1) / 5.0
        if scale > 1:
            x, y = _blur(x, sd)[:, ::2, ::2], _blur(y, sd)[:, ::2, ::2]
        mx, my = _blur(x, sd), _blur(y, sd)
        sxx = np.maximum(_blur(x * x, sd) - mx * mx, 0)
        syy = np.maximum(_blur(y * y, sd) - my * my, 0)
        sxy = _blur(x * y, sd) - mx * my
        g = sxy / (sxx + eps)
        sv = syy - g * sxy
        flat_x = sxx < eps
        g = np.where(flat_x, 0, g)
        sv = np.where(flat_x, syy, sv)
        sxx = np.where(flat_x, 0, sxx)
        flat_y = syy < eps
        g = np.where(flat_y, 0, g)
        sv = np.where(flat_y, 0, sv)
        neg = g < 0
        sv = np.where(neg, syy, sv)
        g = np.where(neg, 0, g)
        sv = np.maximum(sv, eps)
        num += np.log10(1 + g * g * sxx / (sv + sigma_nsq)).sum(axis=(1, 2))
        den += np.log10(1 + sxx / sigma_nsq).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


# ------------------------------------------------------------------------------ features
def feature_cosine(fa: Any, fb: Any) -> np.ndarray:
    """Cosine distance ``1 − cos(f_a, f_b)`` per row of two feature matrices ``(N, D)``."""
    a = np.asarray(fa.detach().cpu().numpy() if hasattr(fa, "detach") else fa, dtype=np.float64)
    b = np.asarray(fb.detach().cpu().numpy() if hasattr(fb, "detach") else fb, dtype=np.float64)
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where((na > 0) & (nb > 0), (a * b).sum(axis=1) / (na * nb), 0.0)
    return 1.0 - cos


METRICS: dict[str, Callable[[Any, Any], np.ndarray]] = {
    "mse": mse,
    "psnr": psnr,
    "ssim": ssim,
    "glcm_similarity": glcm_similarity,
    "wasserstein": wasserstein,
    "kl": kl,
    "hist_correlation": hist_correlation,
    "hist_intersection": hist_intersection,
    "vif": vif,
}


def compare(originals: Any, transformed: Any,
            extractor: Callable[[Any], Any] | None = None) -> dict[str, np.ndarray]:
    """Every metric for each pair; ``feature_cosine`` too when ``extractor(images) -> (N, D)``
    is given. Infinite PSNR (identical images) is capped at 100 dB for use as a feature."""
    out = {name: fn(originals, transformed) for name, fn in METRICS.items()}
    out["psnr"] = np.minimum(out["psnr"], 100.0)
    out["vif"] = np.nan_to_num(out["vif"], nan=1.0)
    if extractor is not None:
        out["feature_cosine"] = feature_cosine(extractor(originals), extractor(transformed))
    return out


def write_table(path: str | Path, metrics: dict[str, np.ndarray],
                labels: Any = None, label_column: str = "label") -> Path:
    """Write the metrics (and ground-truth ``labels``, if given) as a CSV feature table."""
    names = list(metrics)
    n = len(metrics[names[0]])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(names + ([label_column] if labels is not None else []))
    for i in range(n):
        row = [f"{float(metrics[k][i]):.6g}" for k in names]
        writer.writerow(row + ([labels[i]] if labels is not None else []))
    path = Path(path)
    write_atomic(path, buf.getvalue())
    return path

"""Test-input-validation tables from shipped data, for ``fx label --table`` and the benchmark.

Each row compares an original test image with a transformed copy (rotation, Gaussian noise,
blur, occlusion or contrast loss, each at a random strength) through
:func:`fxcore.label.metrics.compare` — the 10 image metrics plus the cosine of the two images'
cnn features. The label ``valid`` says whether the transformed image still shows its class:
a person's verdict stands in here for the plugin's pre-trained cnn (trained on clean training
images only) still naming the true class of the transformed image. The KL divergence of
disjoint histograms is ``inf``, as in real tables (``--nonfinite clip`` handles it).

    python benchmarks/make_validation_tables.py      # writes benchmarks/results/tables/*.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from fxcore.label import metrics
from fxcore.plugins import default_registry

OUT = Path(__file__).parent / "results" / "tables"
KINDS = ("rotate", "noise", "blur", "occlude", "contrast")


def transform(x: torch.Tensor, rng: np.random.Generator) -> tuple[torch.Tensor, list[str]]:
    """One random transformation of random strength per image of ``x (N, 1, H, W)``."""
    out = x.clone()
    kinds = []
    for i in range(len(x)):
        kind = KINDS[rng.integers(len(KINDS))]
        s = rng.uniform(0.1, 1.0)
        img = x[i : i + 1]
        if kind == "rotate":
            a = np.deg2rad(rng.choice([-1, 1]) * 120 * s)
            theta = torch.tensor([[[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0]]],
                                 dtype=torch.float32)
            grid = F.affine_grid(theta, list(img.shape), align_corners=False)
            img = F.grid_sample(img, grid, align_corners=False)
        elif kind == "noise":
            g = torch.Generator().manual_seed(int(rng.integers(2**31)))
            img = img + 0.8 * s * torch.randn(img.shape, generator=g)
        elif kind == "blur":
            k = 2 * int(1 + 3 * s) + 1
            img = F.avg_pool2d(F.pad(img, (k // 2,) * 4, mode="replicate"), k, stride=1)
        elif kind == "occlude":
            h = int(6 + 16 * s)
            r, c = rng.integers(0, 28 - h + 1, size=2)
            img = img.clone()
            img[..., r : r + h, c : c + h] = 0.0
        else:
            img = 0.5 + (img - 0.5) * (1 - 0.95 * s)
        out[i] = img.clamp(0, 1)[0]
        kinds.append(kind)
    return out, kinds


def make(dataset: str, n: int, seed: int) -> Path:
    from fxcore_mnist.data import load_dataset

    from fxcore.label.items import as_images

    images, labels = load_dataset(dataset).split("test")
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(labels), size=min(n, len(labels)), replace=False))
    x = as_images(images[pick], dataset)
    truth = torch.as_tensor(np.asarray(labels)[pick], dtype=torch.int64)
    y, _ = transform(x, rng)
    cnn = default_registry().create("classifier", {"name": "mnist/cnn",
                                                   "params": {"dataset": dataset}})
    with torch.no_grad():
        valid = (cnn.predict_proba(y).argmax(1) == truth).numpy().astype(int)
        m = metrics.compare(x.numpy(), y.numpy(), extractor=lambda t: cnn.features(
            torch.as_tensor(t)).numpy())
    OUT.mkdir(parents=True, exist_ok=True)
    path = metrics.write_table(OUT / f"tiv-{dataset}.csv", m, valid, label_column="valid")
    print(f"{path}: {len(valid)} rows, {valid.mean():.1%} valid, "
          f"{int(np.isinf(m['kl']).sum())} infinite KL values", file=sys.stderr)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    make("mnist", min(args.rows, 1000), args.seed)
    make("fashion", args.rows, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())

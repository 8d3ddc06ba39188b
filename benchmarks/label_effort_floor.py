"""How low can certified effort go with these classifiers? Two floors, per data set and α.

1. Ranking floor: the least-certain items (agreeing classifiers' mean confidence, as the
   certified run ranks them; disagreements first) are labelled by a person until at most B =
   ⌊(1 − α)·N⌋ errors are left among the rest — the effort even a free, perfect certificate
   would need.
2. Sample floor: the smallest uniform sample that can certify the remaining candidates when it
   holds no error at all (``certify.sample_size`` with zero expected errors) — what any
   sampling certificate adds, however good the classifiers.

Both use the plugin's pre-trained cnn, mlp and linear on the test split (no fine-tuning).

    python benchmarks/label_effort_floor.py --datasets mnist,fashion --alphas 0.99,0.95
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from fxcore.label.baselines import agreed_scores
from fxcore.label.certify import error_budget, sample_size
from fxcore.label.items import as_images
from fxcore.plugins import default_registry


def floors(probs: np.ndarray, truth: np.ndarray, alpha: float, delta: float
           ) -> tuple[float, float, int]:
    """(ranking floor, ranking + sample floor, errors of the classifiers' agreed labels)."""
    n = len(truth)
    label, score = agreed_scores(probs, "all")
    wrong = label != truth  # a disagreement counts as wrong: it cannot be auto-labelled
    order = np.lexsort((np.arange(n), score))  # least certain first
    left = wrong[order][::-1].cumsum()[::-1]  # errors among items order[k:]
    budget = error_budget(alpha, n)
    k = int(np.argmax(np.append(left, 0) <= budget))
    rest = n - k
    return k / n, (k + sample_size(rest, budget, 0.0, delta)) / n, int(wrong.sum())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="mnist,fashion")
    ap.add_argument("--alphas", default="0.99,0.95")
    ap.add_argument("--delta", type=float, default=0.05)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    from fxcore_mnist.data import load_dataset

    registry = default_registry()
    print(f"{'data set':8} {'α':>5} {'N':>6} {'errors':>6} {'B':>4} {'ranking floor':>14} "
          f"{'+ sample floor':>15}")
    for ds in args.datasets.split(","):
        images, labels = load_dataset(ds).split("test")
        x, truth = as_images(images, ds), np.asarray(labels, dtype=np.int64)
        models = [registry.create("classifier", {"name": f"mnist/{a}",
                                                 "params": {"dataset": ds}})
                  for a in ("cnn", "mlp", "linear")]
        with torch.no_grad():
            probs = np.stack([m.predict_proba(x).numpy() for m in models]).astype(np.float64)
        for alpha in [float(a) for a in args.alphas.split(",")]:
            rank, both, errors = floors(probs, truth, alpha, args.delta)
            print(f"{ds:8} {alpha:>5} {len(truth):>6} {errors:>6} "
                  f"{error_budget(alpha, len(truth)):>4} {rank:>14.1%} {both:>15.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

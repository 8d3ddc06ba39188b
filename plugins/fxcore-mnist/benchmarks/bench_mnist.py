"""Speed of the fxcore-mnist components, with ratios measured in this process.

    python plugins/fxcore-mnist/benchmarks/bench_mnist.py [--threads 2] [--epochs N]

1. First-use training of cnn / mlp / linear on MNIST-5k (default epochs), wall and CPU seconds,
   held-out accuracy; ratio of ``--threads`` training threads to the default one
   (``classifiers.TRAIN_THREADS``).
2. ``render``: images per second with every transform on, against plain sampling of the same
   real images (the neutral attributes) as the baseline.
3. ``predict_proba`` throughput per architecture on 1,000 test images.

CPU seconds are reported beside wall seconds because a shared machine inflates wall time.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch

from fxcore_mnist import classifiers
from fxcore_mnist.classifiers import MnistClassifier
from fxcore_mnist.data import load_dataset, to_tensor
from fxcore_mnist.render import Render

ALL_ON = {
    "rotation": "slight-left",
    "thickness": "bold",
    "scale": "small",
    "position": "left",
    "noise": "low",
    "blur": "slight",
    "contrast": "low",
    "occlusion": "top",
    "elastic": "mild",
}


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def train_all(epochs: int | None, threads: int) -> None:
    print("\n== first-use training on MNIST-5k (4000 train / 1000 test images) ==")
    for arch in classifiers.ARCHS:
        row = []
        for n_threads in (1, threads):
            classifiers.TRAIN_THREADS = n_threads
            with tempfile.TemporaryDirectory() as cache:
                clf, wall, cpu = timed(
                    lambda a=arch, c=cache: MnistClassifier(arch=a, epochs=epochs, cache_dir=c)
                )
            row.append((n_threads, wall, cpu, clf.test_accuracy))
        (t1, w1, c1, a1), (tn, wn, cn, an) = row
        print(
            f"{arch:6s} epochs {clf.epochs:2d}: {t1} thread {w1:6.1f} s wall {c1:6.1f} s CPU "
            f"acc {a1:.3f} | {tn} threads {wn:6.1f} s wall {cn:6.1f} s CPU acc {an:.3f} | "
            f"wall ratio {tn}/{t1} threads = {wn / w1:.2f}"
        )


def render_speed(n: int) -> None:
    print(f"\n== render: {n} images per call ==")
    gen = Render()
    gen.generate("", {"digit": "3"}, 8, 0)  # warm up
    _, base, base_cpu = timed(lambda: gen.generate("", {"digit": "3"}, n, 1))
    _, full, full_cpu = timed(lambda: gen.generate("", {"digit": "3", **ALL_ON}, n, 1))
    print(f"plain sampling (baseline): {n / base:8.0f} images/s ({base_cpu:.2f} s CPU)")
    print(f"all nine transforms:       {n / full:8.0f} images/s ({full_cpu:.2f} s CPU)")
    print(f"cost of the transforms: {full / base:.2f}x the baseline")


def predict_speed() -> None:
    print("\n== predict_proba on 1000 test images ==")
    x = to_tensor(load_dataset("mnist").split("test")[0])
    base = None
    for arch in classifiers.ARCHS:
        clf = MnistClassifier(arch=arch)  # the user cache: trained once
        clf.predict_proba(x[:8])
        _, wall, _ = timed(lambda c=clf: c.predict_proba(x))
        base = base or wall
        print(f"{arch:6s}: {len(x) / wall:9.0f} images/s ({wall / base:.2f}x cnn time)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=None, help="default: per architecture")
    parser.add_argument("--images", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {args.threads} threads, load average {load:.1f}")
    load_dataset("mnist")
    train_all(args.epochs, args.threads)
    render_speed(args.images)
    predict_speed()


if __name__ == "__main__":
    main()

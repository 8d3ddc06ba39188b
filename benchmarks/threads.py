"""Seconds of two torch-heavy job steps at 1, 2 and torch's default thread count, on an idle
machine and on a busy one (a process burning one core), to choose ``fxcore.threads``' default.

    python benchmarks/threads.py [--repeats 5] [--json benchmarks/results/threads.json]

Each run is appended to the ``runs`` of the JSON file.

Workloads (``fxcore-mnist`` needed; models are trained and cached on first use, not timed):

- ``mds``: GeValDi Adam steps of ``examples/mds_mnist.toml`` (cVAE generator, CNN vs linear
  classifier, JS divergence), ``--starts`` starts x ``--steps`` steps, as ``fx mds`` runs a chunk.
- ``label-fit``: the label job's fine-tuning of an untrained ``mnist/cnn`` on ``--fit-items``
  MNIST-5k images (5 epochs, batch 32, as ``fx label``), then its probabilities for all 5,000.

Every setting is timed in one process, the settings interleaved within each repeat; the ratio is
the median against the median at 1 thread of the same phase. Other engineers share this machine:
the load average is recorded beside every figure (``os.getloadavg``, as ``uptime`` prints it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fxcore.config import load_config
from fxcore.mds.optimise import condition_tensor, optimise_batch
from fxcore.mds.run import prepare
from fxcore.schemas.mds import MdsConfig

ROOT = Path(__file__).resolve().parent.parent
BURN = "while True: pass"


def mds_workload(starts: int, steps: int) -> Callable[[], None]:
    prep = prepare(load_config(ROOT / "examples" / "mds_mnist.toml", MdsConfig))
    g = prep.setup.generator
    z0 = g.sample_latent(starts, seed=0)
    cond = condition_tensor(g, None, range(starts))

    def run() -> None:
        optimise_batch(prep.setup, z0, cond, steps, 0.02, 1e-3, record_every=steps)

    return run


def label_fit_workload(items: int) -> Callable[[], None]:
    from fxcore_mnist.classifiers import MnistClassifier
    from fxcore_mnist.data import load_dataset

    x, y = load_dataset("mnist").split("all")
    images = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    if images.ndim == 3:
        images = images.unsqueeze(1)
    if images.max() > 1:
        images = images / 255.0
    idx = np.random.default_rng(0).permutation(len(y))[:items]

    def run() -> None:
        clf = MnistClassifier(arch="cnn", dataset="mnist", pretrained=False)
        clf.fit(images[idx], y[idx], epochs=5, batch_size=32)
        clf.predict_proba(images)

    return run


def load() -> str:
    """The 1, 5 and 15 minute load averages, as ``uptime`` prints them."""
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def measure(workloads: dict[str, Callable[[], None]], settings: list[int], repeats: int
            ) -> dict[str, Any]:
    """Median seconds per workload and thread count, ratios against 1 thread."""
    secs: dict[str, dict[int, list[float]]] = {w: {n: [] for n in settings} for w in workloads}
    loads = [load()]
    for name, fn in workloads.items():
        for n in settings:  # warm-up (allocator, kernels) at each count
            torch.set_num_threads(n)
            fn()
        for _ in range(repeats):
            for n in settings:
                torch.set_num_threads(n)
                tic = time.perf_counter()
                fn()
                secs[name][n].append(time.perf_counter() - tic)
            loads.append(load())
            print(f"  {name}: " + ", ".join(f"{n} thr {secs[name][n][-1]:.2f} s"
                                            for n in settings) + f"  load {loads[-1]}",
                  flush=True)
    out: dict[str, Any] = {"load_avg_1_5_15": loads, "workloads": {}}
    for name in workloads:
        base = statistics.median(secs[name][1])
        out["workloads"][name] = {
            str(n): {"median_s": round(statistics.median(s), 3),
                     "ratio_vs_1": round(statistics.median(s) / base, 2),
                     "runs_s": [round(v, 3) for v in s]}
            for n, s in secs[name].items()
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--starts", type=int, default=128)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--fit-items", type=int, default=1000)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "threads.json")
    args = ap.parse_args()

    default = torch.get_num_threads()  # before anything sets it
    settings = sorted({1, 2, default})
    workloads = {"mds": mds_workload(args.starts, args.steps),
                 "label-fit": label_fit_workload(args.fit_items)}
    result: dict[str, Any] = {
        "command": "python " + " ".join(sys.argv),
        "started": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": {"cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
                    "processor": platform.processor() or platform.machine(),
                    "torch": torch.__version__, "torch_default_threads": default,
                    "interop_threads": torch.get_num_interop_threads()},
        "note": ("shared machine: other engineers' processes ran beside it (see load_avg); "
                 "idle = no process of ours beside the benchmark, busy = one burning a core"),
        "sizes": {"mds": f"{args.starts} starts x {args.steps} steps",
                  "label-fit": f"cnn, {args.fit_items} images x 5 epochs + proba on 5000"},
        "settings": settings,
    }
    for phase in ("idle", "busy"):
        print(f"{phase}: uptime {load()}", flush=True)
        burner = None
        if phase == "busy":
            burner = subprocess.Popen([sys.executable, "-c", BURN])
            time.sleep(2)
        try:
            result[phase] = measure(workloads, settings, args.repeats)
        finally:
            if burner is not None:
                burner.kill()
                burner.wait()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    runs = json.loads(args.json.read_text())["runs"] if args.json.is_file() else []
    args.json.write_text(json.dumps({"runs": [*runs, result]}, indent=1) + "\n")
    for phase in ("idle", "busy"):
        for name, rows in result[phase]["workloads"].items():
            print(f"{phase:>5} {name:>9}: " + ", ".join(
                f"{n} thr {r['median_s']:.2f} s ({r['ratio_vs_1']:.2f}x)" for n, r in rows.items()))
    print(f"saved {args.json}")


if __name__ == "__main__":
    main()

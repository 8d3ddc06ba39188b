"""Speed of ``mds`` (GeValDi Algorithm 1) with the embedded models, and the ensemble study.

    python benchmarks/mds_speed.py [--threads 2] [--steps 200] [--no-ensemble]

1. Optimisation steps per second for B = 1, 64 and 256 starts optimised together, with the
   embedded conditional VAE (``mnist/cvae``) and the CNN and softmax-regression classifiers of
   ``examples/mds_mnist.toml`` (JS divergence, Adam). The baseline is B = 1 in the same process;
   the ratio column is the throughput (start-steps per second) relative to it.
2. The ensemble study of ``examples/mds_ensemble_mnist.toml`` (GeValDi appendix F): accuracy of
   the bagging ensemble on the real test split and on the MDS set, next to the paper's
   93.8 % -> 65.3 % (28.5 points).

Needs the ``fxcore-mnist`` plugin. Models are trained on first use (not timed) and cached.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from fxcore.config import load_config
from fxcore.mds.optimise import condition_tensor, optimise_batch
from fxcore.mds.run import prepare
from fxcore.schemas.mds import MdsConfig

ROOT = Path(__file__).resolve().parent.parent
PAPER = {"test": 0.938, "mds": 0.653, "drop": 28.5}


def time_batch(prep, b: int, steps: int, seed: int = 0) -> float:  # type: ignore[no-untyped-def]
    """Seconds for ``steps`` Adam steps on ``b`` starts (records only the first and last)."""
    g = prep.setup.generator
    z0 = g.sample_latent(b, seed=seed)
    cond = condition_tensor(g, None, range(b))
    optimise_batch(prep.setup, z0, cond, 3, 0.02, 1e-3, record_every=3)  # warm-up
    tic = time.perf_counter()
    optimise_batch(prep.setup, z0, cond, steps, 0.02, 1e-3, record_every=steps)
    return time.perf_counter() - tic


def speed(steps: int) -> None:
    prep = prepare(load_config(ROOT / "examples" / "mds_mnist.toml", MdsConfig))
    print(f"classifiers {' vs '.join(prep.setup.names)}, generator cvae "
          f"(d = {prep.setup.generator.latent_dim}), {torch.get_num_threads()} threads")
    print(f"{'B':>5} {'steps':>6} {'seconds':>8} {'steps/s':>8} {'start-steps/s':>14} "
          f"{'vs B=1':>7}")
    base = None
    for b in (1, 64, 256):
        n = steps if b == 256 else min(steps, 100)
        sec = time_batch(prep, b, n)
        rate = n / sec
        through = b * rate
        base = base or through
        print(f"{b:>5} {n:>6} {sec:>8.2f} {rate:>8.1f} {through:>14.0f} {through / base:>6.1f}x")


def ensemble() -> None:
    from fxcore.mds.ensemble import run_ensemble

    config = load_config(ROOT / "examples" / "mds_ensemble_mnist.toml", MdsConfig)
    with tempfile.TemporaryDirectory() as tmp:
        tic = time.perf_counter()
        s = run_ensemble(config, Path(tmp) / "run", show_progress=False)
        sec = time.perf_counter() - tic
    e = s["ensemble"]
    print(f"ensemble of {len(s['classifiers'])} bagged classifiers, {s['starts']} MDS starts x "
          f"{s['steps']} steps ({sec:.0f} s including bagging)")
    print(f"{'':>22} {'test':>7} {'starts':>7} {'MDS':>7} {'drop':>6}")
    print(f"{'accuracy (measured)':>22} {e['test']['accuracy']:>7.1%} "
          f"{e['start']['accuracy']:>7.1%} {e['mds']['accuracy']:>7.1%} "
          f"{e['accuracy_drop_points']:>5.1f}p")
    print(f"{'accuracy (paper)':>22} {PAPER['test']:>7.1%} {'':>7} {PAPER['mds']:>7.1%} "
          f"{PAPER['drop']:>5.1f}p")
    auc = [e[k]["auc_macro_ovr"] for k in ("test", "start", "mds")]
    f1 = [e[k]["f1_macro"] for k in ("test", "start", "mds")]
    print(f"{'AUC macro OvR':>22} " + " ".join(f"{a:>7.3f}" for a in auc))
    print(f"{'F1 macro':>22} " + " ".join(f"{f:>7.3f}" for f in f1))
    c = e["clusters"]
    print(f"DBSCAN eps {c['eps']:g}: {sum(x['cluster'] >= 0 for x in c['clusters'])} clusters, "
          f"silhouette {c['silhouette']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=200, help="steps for B = 256")
    ap.add_argument("--no-ensemble", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    speed(args.steps)
    if not args.no_ensemble:
        ensemble()


if __name__ == "__main__":
    main()

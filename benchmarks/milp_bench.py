"""OPAL labeller benchmark: the tight solver against the paper's literal MILP, both with HiGHS.

Real classifier outputs: three different scikit-learn classifiers (logistic regression, random
forest, Gaussian naive Bayes) are trained on Fashion-MNIST training images; the optimisation set
is m = 2000 test images none of them saw (n = 3 classifiers, 10 classes). ``--n 5`` adds extra
trees and a small MLP (n = 5); ``--m 10000`` takes the whole test split. For each target
accuracy α both formulations are solved in the same process with the same thread count, and the
script prints wall and CPU seconds, status, gap, the solver's objective and what the returned
policy really auto-labels (checked with ``decide``), and the time ratio paper / tight.

    OMP_NUM_THREADS=2 python benchmarks/milp_bench.py
    python benchmarks/milp_bench.py --m 10000 --n 5 --alphas 0.99 --only tight --repeats 5 \
        --cache /tmp/milp_bench_m10000_n5.npz
    python benchmarks/milp_bench.py --alphas 0.99 --paper-time-limit 120 --guarantee 0.05
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", os.environ["OMP_NUM_THREADS"])

import gzip  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

try:
    from fxcore_highs import OpalPolicy, fit_opal
except ImportError:  # run from a checkout without installing the plugin
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "fxcore-highs"))
    from fxcore_highs import OpalPolicy, fit_opal

DATA = Path("/usr/share/datasets/fashion-mnist")


def read_idx(path: Path) -> np.ndarray:
    """An idx (MNIST-format) file, gzipped."""
    with gzip.open(path) as f:
        raw = f.read()
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(raw[3])]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def classifier_outputs(
    data: Path, m: int, n_train: int, seed: int, jobs: int, n: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """``probs (n, m, 10)`` of n (3 or 5) classifiers on m held-out images, and their labels."""
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neural_network import MLPClassifier

    x_train = read_idx(data / "train-images-idx3-ubyte.gz").reshape(-1, 784) / 255.0
    y_train = read_idx(data / "train-labels-idx1-ubyte.gz")
    x_test = read_idx(data / "t10k-images-idx3-ubyte.gz").reshape(-1, 784) / 255.0
    y_test = read_idx(data / "t10k-labels-idx1-ubyte.gz")
    rng = np.random.default_rng(seed)
    train = rng.choice(len(x_train), n_train, replace=False)
    opt = rng.choice(len(x_test), m, replace=False)  # the test split: never trained on
    models = {
        "logistic regression": LogisticRegression(max_iter=300, C=0.1),
        "random forest": RandomForestClassifier(100, random_state=seed, n_jobs=jobs),
        "gaussian naive Bayes": GaussianNB(),
    }
    if n == 5:
        models["extra trees"] = ExtraTreesClassifier(100, random_state=seed, n_jobs=jobs)
        models["MLP (64 hidden)"] = MLPClassifier((64,), max_iter=200, random_state=seed)
    elif n != 3:
        raise SystemExit(f"--n must be 3 or 5, got {n}")
    probs = []
    for name, model in models.items():
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(x_train[train], y_train[train])
        p = model.predict_proba(x_test[opt])
        acc = float((p.argmax(axis=1) == y_test[opt]).mean())
        print(f"  {name:22s} accuracy {acc:.3f}  (trained in {time.perf_counter() - t0:.1f} s)")
        probs.append(p)
    return np.stack(probs), y_test[opt].astype(np.int64)


def run(
    probs: np.ndarray, truth: np.ndarray, alpha: float, formulation: str, time_limit: float,
    threads: int, guarantee: float | None,
) -> tuple[OpalPolicy, float, int, int]:
    """One fit; returns the policy, CPU seconds, and the items it auto-labels (and wrongly)."""
    cpu = time.process_time()
    cones = formulation != "tight, no cones"
    form = "tight" if formulation.startswith("tight") else formulation
    policy = fit_opal(probs, truth, alpha, formulation=form, time_limit=time_limit,
                      threads=threads, guarantee=guarantee, cones=cones)
    cpu = time.process_time() - cpu
    auto, labels = policy.decide(probs)
    wrong = int((labels[auto] != truth[auto]).sum())
    return policy, cpu, int(auto.sum()), wrong


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--alphas", default="0.95,0.98,0.99,0.995")
    ap.add_argument("--m", type=int, default=2000, help="optimisation set size")
    ap.add_argument("--n", type=int, default=3, choices=(3, 5), help="classifiers (3 or 5)")
    ap.add_argument("--train", type=int, default=5000, help="training images per classifier")
    ap.add_argument("--only", choices=("tight", "paper"), default=None,
                    help="run one formulation only (the paper MILP takes minutes at m = 10000)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="solve each case this often; prints every run and the medians")
    ap.add_argument("--tight-time-limit", type=float, default=60.0)
    ap.add_argument("--paper-time-limit", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=1, help="HiGHS threads (both formulations)")
    ap.add_argument("--guarantee", type=float, default=None, help="δ for guarantee mode")
    ap.add_argument("--no-cones", action="store_true",
                    help="also run the tight MILP without the cone search (one MILP, same limit)")
    ap.add_argument("--cache", type=Path, default=None,
                    help="npz file to keep the classifier outputs in between runs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args()

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"OPAL MILP benchmark: m={args.m}, n={args.n}, HiGHS threads={args.threads}, "
          f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, {os.cpu_count()} CPUs, "
          f"load average {load}")
    print(f"classifiers on Fashion-MNIST ({args.train} training images, {args.m} unseen items):")
    if args.cache is not None and args.cache.exists():
        saved = np.load(args.cache)
        probs, truth = saved["probs"], saved["truth"]
        if probs.shape[:2] != (args.n, args.m):
            raise SystemExit(f"{args.cache} holds probs of shape {probs.shape}, not "
                             f"({args.n}, {args.m}, C): use another --cache file")
        print(f"  (outputs read from {args.cache})")
    else:
        probs, truth = classifier_outputs(args.data, args.m, args.train, args.seed, args.threads,
                                          args.n)
        if args.cache is not None:
            np.savez(args.cache, probs=probs, truth=truth)
    pred = probs.argmax(axis=2)
    agree = (pred == pred[0]).all(axis=0)
    print(f"  all {args.n} agree on {agree.sum()} items, {(pred[0][agree] == truth[agree]).sum()} "
          f"of them correctly")
    if args.guarantee is not None:
        print(f"guarantee mode: Clopper–Pearson bound at δ={args.guarantee}")
    head = (f"{'α':>6} {'formulation':>15} {'status':>11} {'wall s':>8} {'cpu s':>7} {'gap':>8} "
            f"{'obj':>8} {'auto':>5} {'wrong':>5} {'manual':>6}")
    print("\n" + head + "\n" + "-" * len(head))
    for alpha in (float(a) for a in args.alphas.split(",")):
        rows = {}
        runs = [("tight", args.tight_time_limit), ("paper", args.paper_time_limit)]
        if args.no_cones:
            runs.insert(1, ("tight, no cones", args.tight_time_limit))
        if args.only is not None:
            runs = [r for r in runs if r[0] == args.only]
        for form, limit in runs:
            walls, cpus = [], []
            for _ in range(args.repeats):
                policy, cpu, n_auto, wrong = run(probs, truth, alpha, form, limit, args.threads,
                                                 args.guarantee)
                walls.append(policy.seconds)
                cpus.append(cpu)
                rows[form] = policy
                print(f"{alpha:>6} {form:>15} {policy.status:>11} {policy.seconds:>8.3f} "
                      f"{cpu:>7.3f} {policy.gap:>8.2%} {policy.stats.objective:>8.0f} "
                      f"{n_auto:>5} {wrong:>5} {args.m - n_auto:>6}")
            if args.repeats > 1:
                print(f"{'':>6} {'median':>15} {'':>11} {float(np.median(walls)):>8.3f} "
                      f"{float(np.median(cpus)):>7.3f}")
        if "tight" not in rows:
            continue
        tight = rows["tight"]
        cones = tight.stats.extra.get("cones", 0)
        if "paper" not in rows:
            print(f"{'':>6} {'':>15} {'':>11} (tight: {tight.stats.solver}, {cones:.0f} cones "
                  f"split, {tight.stats.extra.get('leaves', 0):.0f} MILP leaves, "
                  f"start {tight.stats.start_objective})")
            continue
        ratio = rows["paper"].seconds / tight.seconds
        print(f"{'':>6} {'paper/tight':>15} {'':>11} {ratio:>8.1f}x   "
              f"(tight: {tight.stats.solver}, {cones:.0f} cones split, "
              f"start {tight.stats.start_objective})")


if __name__ == "__main__":
    main()

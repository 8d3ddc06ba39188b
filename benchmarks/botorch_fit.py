"""Seconds per BO step of the ``botorch`` selector's GP: full refit vs the fitting strategy.

For n = 100, 300, 1000 points of the paper's table (``lecoz2024-dog``), one "step" adds a point
and needs a GP for the next proposal:

- full: a cold fit with BoTorch's default ``fit_gpytorch_mll`` (L-BFGS-B to convergence), what a
  naive loop does at every step;
  (each timing includes LogEI on all 1032 subdomains, as a proposal needs it)
- warm: one warm-started refit capped at ``fit_maxiter`` iterations (what the strategy does on
  its geometric schedule);
- rebuild: the model rebuilt on n + 1 points with the hyperparameters fixed (what the strategy
  does on every other step);
- strategy: the amortised cost per step, (warm + (s - 1) · rebuild) / s with s = the refit
  interval ⌈growth · n⌉.

All in one process, 2 torch threads by default (``--threads``). Prints seconds and the ratio
full / strategy.

    python benchmarks/botorch_fit.py [--kernel hamming] [--sizes 100 300 1000] [--threads 2]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from botorch.acquisition import LogExpectedImprovement
from botorch.fit import fit_gpytorch_mll
from fxcore_botorch.model import KERNELS, GpFitter, build_gp
from gpytorch.mlls import ExactMarginalLogLikelihood

from fxcore.bench import load_table


def score(model: torch.nn.Module, best_f: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """LogEI on every subdomain, as one proposal of the selector computes it."""
    with torch.no_grad():
        return LogExpectedImprovement(model, best_f=best_f)(X.unsqueeze(-2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", default="hamming", choices=KERNELS)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000])
    ap.add_argument("--growth", type=float, default=0.1)
    ap.add_argument("--maxiter", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2,
                    help="torch threads (1 on a loaded machine: OpenMP spinning costs 20x)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    table = load_table("lecoz2024-dog")
    enc = table.space.one_hot() if args.kernel == "onehot" else table.space.codes
    X_all = torch.as_tensor(np.asarray(enc, dtype=np.float64))
    y_all = torch.as_tensor(-table.targets).unsqueeze(-1)
    rng = np.random.default_rng(args.seed)
    print(f"kernel={args.kernel} growth={args.growth} maxiter={args.maxiter} "
          f"threads={args.threads}")
    print(f"{'n':>5} {'full s':>8} {'warm s':>8} {'rebuild s':>10} {'interval':>8} "
          f"{'strategy s/step':>16} {'full/strategy':>14}")
    for n in args.sizes:
        n = min(n, len(X_all) - 1)
        rows = rng.permutation(len(X_all))[: n + 1]
        X, Y = X_all[rows[:n]], y_all[rows[:n]]
        X1, Y1 = X_all[rows], y_all[rows]

        fitter = GpFitter(args.kernel, growth=args.growth, maxiter=args.maxiter)
        fitter.fit(X, Y, full=True)  # hyperparameters of the previous refit (not timed)
        score(fitter.fit(X, Y, full=False), Y.max(), X_all)  # warm-up (lazy initialisation)
        t0 = time.perf_counter()
        torch.manual_seed(0)
        cold = build_gp(X1, Y1, args.kernel)
        fit_gpytorch_mll(ExactMarginalLogLikelihood(cold.likelihood, cold))
        cold.eval()
        score(cold, Y1.max(), X_all)
        t1 = time.perf_counter()
        score(fitter.fit(X1, Y1, full=True), Y1.max(), X_all)
        t2 = time.perf_counter()
        score(fitter.fit(X1, Y1, full=False), Y1.max(), X_all)
        t3 = time.perf_counter()
        t_full, t_warm, t_rebuild = t1 - t0, t2 - t1, t3 - t2
        interval = max(1, math.ceil(args.growth * n))
        t_strategy = (t_warm + (interval - 1) * t_rebuild) / interval
        print(f"{n:>5} {t_full:>8.2f} {t_warm:>8.2f} {t_rebuild:>10.3f} {interval:>8} "
              f"{t_strategy:>16.3f} {t_full / t_strategy:>14.1f}")


if __name__ == "__main__":
    main()

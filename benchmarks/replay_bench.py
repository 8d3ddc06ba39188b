"""Replay every available selector over the BO paper's table (Le Coz et al., 2024, Fig. 4).

    python benchmarks/replay_bench.py                 # 10 seeds, every selector, 2 processes
    python benchmarks/replay_bench.py --seeds 3 --only sklearn/lasso-greedy --only oracle

Prints, per selector, the median number of evaluations to cover all worst-10% subdomains, the
coverage after worst_k (= 103) evaluations, the ratios to the paper's greedy Lasso rule and to
the oracle (both replayed in this process), and the seconds spent. Anchors from the paper:
greedy Lasso ≈ 400 evaluations, ≈ 50% after 103; oracle 103. Targets of the issue: ≤ 206
evaluations (2× oracle) and ≥ 75% after 103.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from fxcore.bench import load_table, make_selector, replay, worst_mask  # noqa: E402
from fxcore.bench.replay import aggregate, parse_selector  # noqa: E402
from fxcore.plugins import default_registry  # noqa: E402

PAPER = "sklearn/lasso-greedy"
CORE = ["oracle", "random", "exhaustive"]
SKLEARN = [
    PAPER,
    "sklearn/bayesian-ridge",                           # pairwise features, PF acquisition
    "sklearn/bayesian-ridge:acquisition=greedy",
    "sklearn/additive-gp",                              # GP over every interaction order, PF
    "sklearn/bayesian-ridge:acquisition=ei",
    "sklearn/bayesian-ridge:acquisition=lcb",
    "sklearn/bayesian-ridge:acquisition=thompson",
    "sklearn/lasso",                                    # pairwise, bootstrap σ, PF
    "sklearn/linear",
    "sklearn/svr",
    "sklearn/rf",
]
#: other plugins' selectors, replayed when installed (defaults, no tuning)
OTHERS = ["allpairs/tway", "pymoo/ga", "botorch/botorch"]


def available(specs: list[str]) -> list[str]:
    registry = default_registry()
    have = set(registry.names("selector"))
    out = []
    for spec in specs:
        name = parse_selector(spec).name
        if name == "oracle" or name in have or any(h.endswith("/" + name) for h in have):
            out.append(spec)
    return out


def one(args: tuple[str, str, int, int | None]) -> tuple[str, int, dict]:
    import torch

    torch.set_num_threads(1)
    table_name, spec, seed, budget = args
    table = load_table(table_name)
    trace = replay(make_selector(spec, table), table, seed, budget, name=spec)
    return spec, seed, trace.summary()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", default="lecoz2024-dog")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget", type=int, default=None)
    ap.add_argument("--only", action="append", help="replay only these selector specs")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    ap.add_argument("--json", type=Path, help="write the aggregated results here")
    args = ap.parse_args()

    specs = args.only or available(CORE + SKLEARN + OTHERS)
    table = load_table(args.table)
    tasks = [(args.table, s, seed, args.budget) for s in specs for seed in range(args.seeds)]
    t0 = time.perf_counter()
    per: dict[str, dict[int, dict]] = {s: {} for s in specs}
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for spec, seed, summary in pool.map(one, tasks):
            per[spec][seed] = summary
            print(f"  {spec} seed {seed}: full coverage after {summary['evals_to_full_coverage']}"
                  f", {summary['coverage_at_worst_k']:.2f} after worst_k, "
                  f"{summary['seconds']:.1f}s", flush=True)
    res = {s: aggregate([per[s][i] for i in range(args.seeds)], parse_selector(s)) for s in specs}
    worst_k = int(worst_mask(table.targets).sum())

    def med(s: str) -> float | None:
        return res[s]["evals_to_full_coverage_median"] if s in res else None

    base, oracle = med(PAPER), med("oracle")
    print(f"\n{table.name}: N={table.n_rows}, worst_k={worst_k}, {args.seeds} seeds, "
          f"{time.perf_counter() - t0:.0f}s wall")
    print(f"{'selector':48s} {'evals→full':>10s} {'IQR':>11s} {'cov@' + str(worst_k):>8s} "
          f"{'×paper':>7s} {'×oracle':>8s} {'s/seed':>7s}")
    for s in specs:
        r = res[s]
        ev = [np.inf if v is None else v for v in r["evals_to_full_coverage"]]
        q1, q3 = np.percentile(ev, [25, 75], method="nearest")
        m = r["evals_to_full_coverage_median"]
        ms = "censored" if m is None else f"{m:g}"
        rp = f"{m / base:.2f}" if m and base else "-"
        ro = f"{m / oracle:.2f}" if m and oracle else "-"
        print(f"{s:48s} {ms:>10s} {f'{q1:g}-{q3:g}':>11s} "
              f"{r['coverage_at_worst_k_median']:>8.2f} {rp:>7s} {ro:>8s} "
              f"{np.mean(r['seconds']):>7.1f}")
    if table.name == "lecoz2024-dog":  # the paper's figures belong to its own table
        print("anchors (paper): greedy Lasso ≈ 400 evaluations, ≈ 0.50 after 103; oracle 103. "
              "targets: ≤ 206 and ≥ 0.75.")
    else:
        print(f"anchor: the oracle needs worst_k = {worst_k} evaluations; "
              f"2 × oracle = {2 * worst_k}")
    if args.json:
        doc = {"table": table.name, "n_rows": table.n_rows, "worst_k": worst_k,
               "seeds": list(range(args.seeds)), "selectors": res}
        args.json.write_text(json.dumps(doc))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

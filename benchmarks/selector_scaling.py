"""Seconds per replay of the recommended selector as the domain grows (issue 13, "Domains grow").

Synthetic tables of N = 1k … 20k subdomains over 6 attributes (a random additive model with
main effects, two pairwise and one three-way interaction, accuracies of 50 binomial images),
replayed with a budget of 30 % of N by ``sklearn/additive-gp`` with the incremental solver (new)
and the refit solver (old, only while its projected time stays under ``--cap`` seconds). The
growth exponent is the log-log slope of seconds against N (budget ∝ N).

    python benchmarks/selector_scaling.py --json benchmarks/results/selector_scaling.json
    python benchmarks/selector_scaling.py --sizes 20000 --solvers incremental   # the 20k figure
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from fxcore.bench import load_table, replay
from fxcore.bench.metrics import coverage_curve

LEVELS = {
    1000: [5, 5, 5, 2, 2, 2],
    2000: [5, 5, 5, 4, 2, 2],
    5000: [5, 5, 5, 5, 4, 2],
    10000: [5, 5, 5, 5, 4, 4],
    20000: [5, 5, 5, 5, 8, 4],
}


def write_table(n: int, folder: Path, seed: int = 0) -> Path:
    """A CSV table of ``n`` rows (a full grid of LEVELS[n]) from a random additive model."""
    levels = LEVELS[n]
    rng = np.random.default_rng(seed)
    codes = np.indices(levels).reshape(len(levels), -1).T
    logit = 1.2 + sum(0.8 * rng.standard_normal(k)[codes[:, j]] for j, k in enumerate(levels))
    for a, b in [(0, 1), (2, 3)]:
        logit += 0.7 * rng.standard_normal((levels[a], levels[b]))[codes[:, a], codes[:, b]]
    logit += 1.0 * rng.standard_normal((levels[0], levels[2], levels[4]))[
        codes[:, 0], codes[:, 2], codes[:, 4]]
    logit += 0.3 * rng.standard_normal(len(codes))
    acc = rng.binomial(50, 1 / (1 + np.exp(-logit))) / 50
    path = folder / f"synthetic_{n}.csv"
    with path.open("w") as fh:
        fh.write(",".join(f"a{j}" for j in range(len(levels))) + ",accuracy\n")
        for row, y in zip(codes, acc, strict=True):
            fh.write(",".join(f"v{c}" for c in row) + f",{y}\n")
    return path


def make(solver: str):  # type: ignore[no-untyped-def]
    from fxcore_sklearn.selector import SurrogateSelector
    return SurrogateSelector(model="additive-gp", solver=solver)  # type: ignore[arg-type]


def run_one(path: Path, solver: str, seed: int, fraction: float) -> dict:
    table = load_table(path)
    budget = int(round(fraction * table.n_rows))
    stamps: list[float] = []
    sel = make(solver)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    trace = replay(sel, table, seed=seed, budget=budget,
                   on_step=lambda k: stamps.append(time.perf_counter()))
    seconds = time.perf_counter() - t0
    steps = np.diff(np.r_[t0, stamps])
    marks = sorted({int(x) for x in np.linspace(budget * 0.1, budget - 1, 5)})
    worst = trace.worst
    cov = coverage_curve(trace.rows, worst) if hasattr(trace, "rows") else None
    found = int(worst[trace.rows].sum())
    return {
        "n_rows": table.n_rows, "budget": budget, "solver": solver, "seed": seed,
        "seconds": round(seconds, 2), "load_before": round(load0, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "step_seconds_at": {str(m): round(float(np.median(steps[max(0, m - 5): m + 5])), 4)
                            for m in marks},
        "worst_found": found, "worst_total": int(worst.sum()),
        "coverage_after_worst_k": None if cov is None else float(cov[int(worst.sum()) - 1]),
        "stats": getattr(sel.engine, "stats", None),
    }


def slope(points: list[tuple[int, float]]) -> float | None:
    if len(points) < 2:
        return None
    x, y = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    return float(np.polyfit(x, y, 1)[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,2000,5000,10000,20000")
    ap.add_argument("--solvers", default="refit,incremental")
    ap.add_argument("--fraction", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cap", type=float, default=600.0,
                    help="skip a size whose projected seconds exceed this")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    runs: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = {n: write_table(n, Path(tmp)) for n in sizes}
        for solver in args.solvers.split(","):
            done: list[tuple[int, float]] = []
            for n in sizes:
                if len(done) >= 2:
                    k = slope(done)
                    assert k is not None
                    projected = done[-1][1] * (n / done[-1][0]) ** k
                    if projected > args.cap:
                        print(f"{solver} N={n}: skipped, projected {projected:.0f} s")
                        runs.append({"n_rows": n, "solver": solver, "skipped": True,
                                     "projected_seconds": round(projected)})
                        continue
                run = run_one(paths[n], solver, args.seed, args.fraction)
                runs.append(run)
                done.append((n, run["seconds"]))
                print(json.dumps(run), flush=True)
    exponents = {s: slope([(r["n_rows"], r["seconds"]) for r in runs
                           if r["solver"] == s and not r.get("skipped")])
                 for s in args.solvers.split(",")}
    doc = {"fraction": args.fraction, "attributes": 6, "runs": runs,
           "growth_exponent": exponents, "nproc": os.cpu_count()}
    print("growth exponents (log-log slope of seconds vs N):", exponents)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()

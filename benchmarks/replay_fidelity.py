"""Multi-fidelity replay: images to find every worst-10% row at full fidelity, full fidelity
against staged evaluation (issue #13), for the main selectors on both shipped tables.

    python benchmarks/replay_fidelity.py --json benchmarks/results/replay_fidelity.json
    python benchmarks/replay_fidelity.py --tables lecoz2024-dog --seeds 3 \
        --config full --config 10,20,30,40,50@0.05

A config is ``full`` (every row drawn at its 50 images at once) or ``STAGES@ERROR`` (rows
evaluated in those stages, the sequential test of :mod:`fxcore.fidelity` with that error
budget, the worst-10% cut-off estimated from the observations so far; append ``@TAU`` to give
the cut-off instead). Each replay stops once every worst row is found at full fidelity
(``until_found``), so the figures are exact but the accuracy curves are cut there. Per table,
config and selector: median (and per seed) images to find every worst row, evaluations to full
coverage and coverage after worst_k, rows stopped early, worst rows stopped early (each is then
found only by the final sweep), seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from fxcore.bench import ReplayFidelity, load_table, make_selector, replay  # noqa: E402
from fxcore.bench.metrics import median_censored  # noqa: E402

SELECTORS = ["oracle", "random", "sklearn/bayesian-ridge:acquisition=greedy"]
TABLES = ["lecoz2024-dog", "fxcore-mnist-digits"]
CONFIGS = ["full", "10,50@0.05", "10,20,30,40,50@0.05", "10,20,30,40,50@0.01"]
IMAGES = 50


def parse_config(text: str, n_rows: int) -> ReplayFidelity:
    if text == "full":
        return ReplayFidelity(np.full(n_rows, IMAGES))
    parts = text.split("@")
    stages = tuple(int(x) for x in parts[0].split(","))
    error = float(parts[1]) if len(parts) > 1 else 0.05
    tau = float(parts[2]) if len(parts) > 2 else None
    return ReplayFidelity(np.full(n_rows, IMAGES), stages, error, tau)


def run(table_name: str, config: str, selector: str, seeds: list[int]) -> dict:
    table = load_table(table_name)
    fid = parse_config(config, table.n_rows)
    per = []
    t0 = time.perf_counter()
    for seed in seeds:
        tr = replay(make_selector(selector, table), table, seed, name=selector, fidelity=fid,
                    until_found=True)
        assert tr.stopped is not None
        per.append({
            "images": tr.images_to_full_coverage,
            "evals": tr.evals_to_full_coverage,
            "coverage_at_worst_k": round(tr.coverage_after(tr.worst_k), 4),
            "stopped_early": int(tr.stopped.sum()),
            "worst_stopped_early": tr.worst_stopped,
            "sweep_images": tr.sweep_images,
        })
    return {
        "seeds": seeds,
        "images_median": median_censored([p["images"] for p in per]),
        "evals_median": median_censored([p["evals"] for p in per]),
        "coverage_at_worst_k_median": float(np.median([p["coverage_at_worst_k"] for p in per])),
        "seeds_with_a_worst_row_stopped": sum(p["worst_stopped_early"] > 0 for p in per),
        "per_seed": per,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tables", nargs="+", default=TABLES)
    ap.add_argument("--selector", action="append", dest="selectors")
    ap.add_argument("--config", action="append", dest="configs")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    seeds = list(range(args.seeds))
    doc: dict = {"images_per_row": IMAGES, "tables": {}}  # seeds: in each result
    if args.json and args.json.exists():  # extend an earlier run (one table at a time)
        doc = json.loads(args.json.read_text())
    for name in args.tables:
        out = doc["tables"].setdefault(name, {})
        for config in args.configs or CONFIGS:
            for sel in args.selectors or SELECTORS:
                res = run(name, config, sel, seeds)
                out.setdefault(config, {})[sel] = res
                print(f"{name:20s} {config:22s} {sel:42s} images {res['images_median']!s:>8s} "
                      f"evals {res['evals_median']!s:>6s} cov@k "
                      f"{res['coverage_at_worst_k_median']:.2f} worst-stopped seeds "
                      f"{res['seeds_with_a_worst_row_stopped']}  {res['seconds']:.0f}s",
                      flush=True)
                if args.json:
                    args.json.write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()

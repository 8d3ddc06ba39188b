"""Throughput of the ``ray`` executor against ``local`` (issue 13, goals of part 3).

A 40-subdomain explore run with the ``sleepy`` test plugin (plugins/fxcore-ray/tests/sleepy.py),
whose generator sleeps a fixed time per image (a stand-in for a GPU; sleeping leaves the CPU
free, so two actors overlap on this 2-core machine), batches of 8 subdomains:

- ``local``: today's sequential loop in this process;
- ``ray-1`` / ``ray-2``: the ``ray`` executor with 1 and 2 actors on a local cluster
  (``ray.init(num_cpus=2)``).

Each timing is ``run_explore`` alone on a started executor (the cluster and the actors are
started once per executor, their start-up is reported apart); the medians of ``--repeats``
runs, all in this process. Goals: ray-2 / ray-1 <= 0.6, and (ray-1 - local) / 40 <= 50 ms per
subdomain. Every run's evaluations are checked equal to the first local run's (all but the wall
time).

    python benchmarks/ray_throughput.py [--repeats 3] [--per-image 0.02]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins" / "fxcore-ray" / "tests"))

import sleepy  # noqa: E402
import torch  # noqa: E402

from fxcore.config import validate_config  # noqa: E402
from fxcore.explore.job import EXPLORE  # noqa: E402
from fxcore.explore.loop import run_explore  # noqa: E402
from fxcore.jobs import Builder  # noqa: E402
from fxcore.plugins import Registry  # noqa: E402
from fxcore.schemas import ExploreConfig  # noqa: E402
from fxcore.store import RunStore  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "ray_throughput.json"


def one_run(config: ExploreConfig, parts, tmp: Path) -> tuple[float, list[dict]]:  # type: ignore[no-untyped-def]
    out = Path(tempfile.mkdtemp(dir=tmp)) / "run"
    store = RunStore.open(out, "explore", config)
    try:
        start = time.perf_counter()
        res = run_explore(config, parts.generator, parts.classifier, parts.filter,
                          parts.selector, store, grouping=parts.grouping, show_progress=False,
                          names=parts.names, space=parts.space, executor=parts.executor)
        seconds = time.perf_counter() - start
    finally:
        store.close()
    return seconds, [e.model_dump(exclude={"seconds"}) for e in res.evaluations]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--per-image", type=float, default=0.02, help="seconds slept per image")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    torch.set_num_threads(1)

    import ray

    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    ray_init = time.perf_counter() - t0
    registry = Registry.load(modules={"sleepy": sleepy})
    gen = {"name": "sleepy/noise", "params": {"per_image": args.per_image}}
    modes = {
        "local": None,
        "ray-1": {"name": "ray", "params": {"workers": 1}},
        "ray-2": {"name": "ray", "params": {"workers": 2}},
    }
    times: dict[str, list[float]] = {}
    startup: dict[str, float] = {}
    reference = None
    with tempfile.TemporaryDirectory() as tmp:
        for mode, executor in modes.items():
            data = sleepy.config(generator=gen)
            if executor is not None:
                data["executor"] = executor
            config = validate_config(data, ExploreConfig, registry)
            t0 = time.perf_counter()
            parts = EXPLORE.build(config, Builder(registry))
            startup[mode] = time.perf_counter() - t0
            try:
                for _ in range(args.repeats):
                    seconds, evs = one_run(config, parts, Path(tmp))
                    reference = reference or evs
                    assert evs == reference, f"{mode}: evaluations differ from local"
                    times.setdefault(mode, []).append(seconds)
                    print(f"{mode}: {seconds:.2f} s", flush=True)
            finally:
                parts.executor.close()
    ray.shutdown()
    med = {m: statistics.median(v) for m, v in times.items()}
    n = len(reference or [])
    result = {
        "subdomains": n,
        "images_per_subdomain": 8,
        "per_image_seconds": args.per_image,
        "batch_size": 8,
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "seconds": times,
        "median_seconds": med,
        "startup_seconds": {**startup, "ray.init": ray_init},
        "ratio_ray2_over_ray1": med["ray-2"] / med["ray-1"],
        "ratio_ray1_over_local": med["ray-1"] / med["local"],
        "overhead_ms_per_subdomain": 1000 * (med["ray-1"] - med["local"]) / n,
        "identical_evaluations": True,
        "goals": {"ratio_ray2_over_ray1": "<= 0.6", "overhead_ms_per_subdomain": "<= 50"},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("median_seconds", "ratio_ray2_over_ray1",
                                             "overhead_ms_per_subdomain", "startup_seconds")},
                     indent=2))


if __name__ == "__main__":
    main()

"""Executors (issue 13): the kernel's ``local`` is the sequential loop; an executor that returns
results out of order, several at a time, gives the same run (evaluations recorded in proposal
order, stages too with ``[fidelity]``), and ``[executor]`` is not part of a run's identity."""

from __future__ import annotations

import types
from collections import deque
from typing import Any

import explore_digits
import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict
from test_explore import _run, comparable, make_config

import fxcore
from fxcore import contracts, plugins
from fxcore.builtins.executors import LocalExecutor
from fxcore.errors import ConfigError, RunError
from fxcore.explore import build_components, explore, run_explore
from fxcore.schemas import ExploreConfig
from fxcore.store import RunStore, config_hash

FIDELITY = {"stages": [4, 8, 24], "error": 0.1}


class Shuffled:
    """An in-process executor that keeps ``slots`` tasks and finishes them in a seeded random
    order: what a pool of workers of uneven speed looks like to the driver."""

    remote = False

    def __init__(self, slots: int = 3, seed: int = 0) -> None:
        self.slots = slots
        self.rng = np.random.default_rng(seed)
        self.queue: deque[tuple[Any, Any]] = deque()
        self.most = 0

    def start(self, make_worker: Any, setup: Any, local: Any = None) -> None:
        self.worker = local if local is not None else make_worker(setup)

    def submit(self, key: Any, task: Any) -> None:
        self.queue.append((key, task))
        self.most = max(self.most, len(self.queue))

    def wait(self) -> tuple[Any, Any]:
        i = int(self.rng.integers(len(self.queue)))
        key, task = self.queue[i]
        del self.queue[i]
        return key, self.worker(task)

    def cancel(self) -> None:
        self.queue.clear()

    def close(self) -> None:
        self.queue.clear()


class ShuffledParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slots: int = 3
    seed: int = 0


def shuffled_plugin() -> types.ModuleType:
    mod = types.ModuleType("shuffled_executor")
    mod.fxcore_register_executors = fxcore.hookimpl(  # type: ignore[attr-defined]
        lambda register: register("shuffled", Shuffled, ShuffledParams))
    return mod


@pytest.fixture(scope="module")
def registry() -> plugins.Registry:
    return plugins.Registry.load(modules={"digits": explore_digits, "t": shuffled_plugin()})


def run_with(config: ExploreConfig, registry: plugins.Registry, out: Any,
             executor: Any) -> list[Any]:
    parts = build_components(config, registry)
    executor.start(None, None, local=parts.executor._worker)
    store = RunStore.open(out, "explore", config)
    try:
        return run_explore(config, parts.generator, parts.classifier, parts.filter,
                           parts.selector, store, show_progress=False,
                           executor=executor).evaluations
    finally:
        store.close()


def stage_records(run: Any) -> list[dict[str, Any]]:
    store = RunStore(run)
    try:
        return sorted((r for r in store.records("stage")),
                      key=lambda r: (r["subdomain_id"], r["stage"]))
    finally:
        store.close()


def test_local_is_a_builtin_executor_following_the_contract() -> None:
    reg = plugins.Registry.load(entry_points=[])
    assert "fxcore/local" in reg.names("executor")
    local = reg.create("executor", "local")
    assert isinstance(local, contracts.Executor) and isinstance(local, LocalExecutor)
    assert local.slots == 1 and local.remote is False


def test_executor_is_left_out_of_the_config_dump_and_hash(registry) -> None:
    plain = make_config(registry)
    assert "executor" not in plain.model_dump(mode="json")
    for spec in ("local", {"name": "t/shuffled", "params": {"slots": 2}}):
        other = make_config(registry, executor=spec)
        assert other.executor is not None
        assert "executor" not in other.model_dump(mode="json")
        assert config_hash(other) == config_hash(plain)  # resumable on another executor


def test_explicit_local_executor_equals_the_default(registry, tmp_path) -> None:
    a = explore(make_config(registry), tmp_path / "a", registry=registry, show_progress=False)
    b = explore(make_config(registry, executor="local"), tmp_path / "b", registry=registry,
                show_progress=False)
    assert comparable(b.evaluations) == comparable(a.evaluations)


def test_results_out_of_order_give_the_sequential_run(registry, tmp_path) -> None:
    config = make_config(registry, batch_size=5)
    reference = _run(config, registry, tmp_path / "ref")
    shuffled = Shuffled(slots=4, seed=1)
    evs = run_with(config, registry, tmp_path / "run", shuffled)
    assert shuffled.most > 1  # several tasks were in flight at once
    assert comparable(evs) == comparable(reference)  # recorded in proposal order


def test_the_config_executor_runs_the_job(registry, tmp_path) -> None:
    config = make_config(registry, batch_size=5)
    a = explore(config, tmp_path / "a", registry=registry, show_progress=False)
    spec = {"name": "t/shuffled", "params": {"slots": 3}}
    b = explore(make_config(registry, batch_size=5, executor=spec), tmp_path / "b",
                registry=registry, show_progress=False)
    assert comparable(b.evaluations) == comparable(a.evaluations)


@pytest.mark.parametrize("threshold", [None, 0.3])
def test_staged_runs_out_of_order_give_the_sequential_run(registry, tmp_path, threshold):
    fidelity = FIDELITY | ({"threshold": threshold} if threshold else {})
    config = make_config(registry, budget=20, batch_size=4, images_per_subdomain=24,
                         fidelity=fidelity)
    reference = _run(config, registry, tmp_path / "ref")
    evs = run_with(config, registry, tmp_path / "run", Shuffled(slots=3, seed=2))
    assert comparable(evs) == comparable(reference)
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in stage_records(
        tmp_path / "run")]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"}
                     for r in stage_records(tmp_path / "ref")]


def test_a_component_error_in_a_task_ends_the_run_resumably(registry, tmp_path) -> None:
    config = make_config(registry, batch_size=4)
    reference = _run(config, registry, tmp_path / "ref")
    parts = build_components(config, registry)
    calls = {"n": 0}
    inner = parts.generator.generate

    def flaky(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 7:
            raise RuntimeError("GPU fell off")
        return inner(*args)

    parts.generator.generate = flaky
    shuffled = Shuffled(slots=3, seed=3)
    shuffled.start(None, None, local=parts.executor._worker)
    store = RunStore.open(tmp_path / "run", "explore", config)
    with pytest.raises(RunError, match="GPU fell off"):
        run_explore(config, parts.generator, parts.classifier, parts.filter, parts.selector,
                    store, show_progress=False, executor=shuffled)
    store.close()
    assert not shuffled.queue  # tasks in flight were cancelled
    resumed = _run(config, registry, tmp_path / "run", resume=True)
    assert comparable(resumed) == comparable(reference)


class Remote(Shuffled):
    remote = True


def test_given_components_cannot_reach_remote_workers(tmp_path) -> None:
    mod = types.ModuleType("remote_executor")
    mod.fxcore_register_executors = fxcore.hookimpl(  # type: ignore[attr-defined]
        lambda register: register("remote", Remote))
    reg = plugins.Registry.load(modules={"digits": explore_digits, "r": mod})
    config = make_config(reg, executor="r/remote")
    clf = build_components(make_config(reg), reg).classifier
    with pytest.raises(ConfigError, match="classifier given as objects cannot reach"):
        explore(config, tmp_path / "run", registry=reg, show_progress=False,
                components={"classifier": clf})
    assert not (tmp_path / "run").exists()

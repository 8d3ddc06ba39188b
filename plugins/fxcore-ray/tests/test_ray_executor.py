"""The ``ray`` executor on a local 2-CPU Ray cluster: the same evaluations as ``local`` for the
same seed, a killed actor's subdomains retried, a driver killed with -9 resumed; no evaluation
lost or repeated in any of them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sleepy

from fxcore import contracts
from fxcore.config import validate_config
from fxcore.errors import ConfigError, RunError
from fxcore.explore import explore
from fxcore.plugins import Registry
from fxcore.schemas import Evaluation, ExploreConfig
from fxcore.store import RunStore, config_hash

HERE = Path(__file__).resolve().parent
REGISTRY = Registry.load(modules={"sleepy": sleepy})
FIDELITY = {"stages": [2, 4, 8], "error": 0.2}


def config(executor: Any = None, per_image: float = 0.0, pid_dir: Path | None = None,
           **over: Any) -> ExploreConfig:
    gen = {"name": "sleepy/noise",
           "params": {"per_image": per_image, **({"pid_dir": str(pid_dir)} if pid_dir else {})}}
    data = sleepy.config(generator=gen, **over)
    if executor is not None:
        data["executor"] = executor
    return validate_config(data, ExploreConfig, REGISTRY)


def ray_spec(**params: Any) -> dict[str, Any]:
    return {"name": "ray", "params": {"workers": 2, **params}}


def comparable(evs: list[Evaluation]) -> list[dict[str, Any]]:
    return [e.model_dump(exclude={"seconds"}) for e in evs]


def recorded(run: Path) -> tuple[list[Evaluation], list[str]]:
    store = RunStore(run)
    try:
        evs = [Evaluation.model_validate(r) for r in store.records("evaluation")]
    finally:
        store.close()
    return evs, [e.subdomain_id for e in evs]


def run(cfg: ExploreConfig, out: Path) -> list[Evaluation]:
    return explore(cfg, out, registry=REGISTRY, show_progress=False).evaluations


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[Evaluation]:
    """The ``local`` executor's evaluations of the 40 subdomains."""
    return run(config(), tmp_path_factory.mktemp("local") / "run")


def test_the_plugin_registers_an_executor_without_importing_ray() -> None:
    code = ("import sys; from fxcore.plugins import Registry; r = Registry.load(); "
            "e = r.create('executor', {'name': 'ray', 'params': {'workers': 2}}); "
            "print(e.remote, 'ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.split() == ["True", "False"], out.stderr
    with pytest.raises(ConfigError, match="executor.params.num_gpus"):
        config(executor={"name": "ray", "params": {"num_gpus": -1}})


def test_same_evaluations_as_local_on_two_actors(ray_cluster, reference, tmp_path) -> None:
    cfg = config(ray_spec(), pid_dir=tmp_path / "pids")
    evs = run(cfg, tmp_path / "run")
    assert comparable(evs) == comparable(reference)
    pids = {int(p.name) for p in (tmp_path / "pids").iterdir()}
    assert len(pids) == 2 and os.getpid() not in pids  # two actors built their own models
    # the executor is no part of the run's identity: the local run resumes on Ray and back
    assert config_hash(cfg) == config_hash(config(pid_dir=tmp_path / "pids"))
    samples = sorted(p.name for p in (tmp_path / "run" / "artefacts" / "samples").iterdir())
    assert len(samples) == sum(e.n_kept > 0 for e in reference)  # images came back too


def test_staged_run_on_ray_equals_local(ray_cluster, tmp_path) -> None:
    local = run(config(fidelity=FIDELITY, batch_size=10), tmp_path / "local")
    evs = run(config(ray_spec(), fidelity=FIDELITY, batch_size=10), tmp_path / "ray")
    assert comparable(evs) == comparable(local)
    assert {e.n_kept for e in evs} > {8}  # some stopped early: the stages were used


def test_a_killed_actor_has_its_subdomain_retried(ray_cluster, reference, tmp_path) -> None:
    pid_dir = tmp_path / "pids"
    cfg = config(ray_spec(), per_image=0.02, pid_dir=pid_dir)
    db = tmp_path / "run" / "run.sqlite"
    killed: list[int] = []

    def kill_one_actor() -> None:
        deadline = time.time() + 120
        while sleepy.evaluation_count(db) < 5 and time.time() < deadline:
            time.sleep(0.02)
        pid = int(sorted(pid_dir.iterdir())[0].name)
        os.kill(pid, signal.SIGKILL)  # mid-run: both actors are busy all the time
        killed.append(pid)

    killer = threading.Thread(target=kill_one_actor)
    killer.start()
    evs = run(cfg, tmp_path / "run")
    killer.join()
    assert killed and sleepy.evaluation_count(db) == 40
    pids = {int(p.name) for p in pid_dir.iterdir()}
    assert len(pids) == 3 and killed[0] in pids  # the actor restarted and rebuilt its models
    stored, ids = recorded(tmp_path / "run")
    assert len(ids) == len(set(ids)) == 40  # nothing lost, nothing repeated
    assert comparable(evs) == comparable(stored) == comparable(reference)


def test_driver_kill_9_then_resume(ray_cluster, reference, tmp_path) -> None:
    """The driver (fx explore, joining the suite's cluster by RAY_ADDRESS) is killed with -9
    mid-run; ``--resume`` finishes with the uninterrupted evaluations."""
    cfg = tmp_path / "explore.json"
    data = sleepy.config(generator={"name": "sleepy/noise", "params": {"per_image": 0.02}},
                         executor=ray_spec())
    cfg.write_text(json.dumps(data))
    out = tmp_path / "run"
    env = {**os.environ, "RAY_ADDRESS": ray_cluster}
    cmd = [sys.executable, str(HERE / "launch.py"), "explore", str(cfg), "--out", str(out)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 150
    while sleepy.evaluation_count(out / "run.sqlite") < 8:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.time() < deadline, "the run did not start"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert sleepy.evaluation_count(out / "run.sqlite") < 40
    assert json.loads((out / "run.json").read_text())["status"] == "running"
    done = subprocess.run([*cmd, "--resume", "--json"], env=env, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    stored, ids = recorded(out)
    assert len(ids) == len(set(ids)) == 40
    assert comparable(stored) == comparable(reference)


def domain(**attributes: list[str]) -> dict[str, Any]:
    return {**sleepy.config()["domain"], "attributes": attributes}  # type: ignore[dict-item]


def test_a_component_error_on_a_worker_names_the_component(ray_cluster, tmp_path) -> None:
    # shade 'z' is not one the generator knows: it raises KeyError inside the actor
    cfg = config(ray_spec(workers=1), domain=domain(light=["dim"], shade=["a", "z"]))
    with pytest.raises(RunError, match="generator 'sleepy/noise'.*KeyError"):
        run(cfg, tmp_path / "run")
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "running"


def test_a_config_error_found_by_the_actors_writes_nothing(ray_cluster, tmp_path) -> None:
    """The driver builds no model: the actors check theirs when they start, before the run
    directory exists (the attribute value check of the Generator contract)."""
    cfg = config(ray_spec(workers=1), domain=domain(light=["dim", "neon"], shade=["a"]))
    with pytest.raises(ConfigError, match="cannot render every value.*neon"):
        run(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_the_executor_follows_the_contract() -> None:
    ex = REGISTRY.create("executor", ray_spec())
    assert isinstance(ex, contracts.Executor) and ex.remote

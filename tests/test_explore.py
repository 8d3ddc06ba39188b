"""explore: Algorithm 1 on real digits, resume after a crash or kill -9, config errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import explore_digits
import numpy as np
import pytest
import torch

from fxcore import plugins
from fxcore.cli import main
from fxcore.config import validate_config
from fxcore.domain import SubdomainSpace
from fxcore.errors import RunError
from fxcore.explore import build_components, explore, image_seed, run_explore
from fxcore.explore.loop import make_grouping
from fxcore.schemas import Evaluation, ExploreConfig
from fxcore.store import RunStore

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def registry() -> plugins.Registry:
    return plugins.Registry.load(modules={"digits": explore_digits})


@pytest.fixture()
def cli_registry(registry: plugins.Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    """``fx`` (fxcore.cli.main) in this process sees the digits plugin."""
    monkeypatch.setattr(plugins, "_DEFAULT", registry)


def config_dict(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "seed": 3,
        "budget": 16,
        "batch_size": 3,
        "images_per_subdomain": 12,
        "max_attempts": 3,
        "generator": "digits/render",
        "classifier": "digits/softmax",
        "filter": {"name": "digits/ink", "params": {"min_ink": 0.05}},
        "selector": "digits/nearest-worst",
        "domain": {
            "name": "digits",
            "prompt_template": "a {rotation} {true_class}, {noise}, occlusion {occlusion}",
            "true_class": "{digit}",
            "attributes": {
                "digit": ["1", "3", "8"],
                "rotation": ["upright", "tilted", "sideways"],
                "noise": ["clean", "noisy"],
                "occlusion": ["none", "top", "all"],
            },
            "invalid": [{"digit": "1", "occlusion": "all"}],
        },
    }
    for key, value in over.items():
        if key == "domain":
            base["domain"] = {**base["domain"], **value}
        else:
            base[key] = value
    return base


def make_config(registry: plugins.Registry, **over: Any) -> ExploreConfig:
    return validate_config(config_dict(**over), ExploreConfig, registry)


def comparable(evs: list[Evaluation]) -> list[dict[str, Any]]:
    """Evaluations without their wall time (the one field a rerun may change)."""
    return [e.model_dump(exclude={"seconds"}) for e in evs]


def write_toml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data))  # JSON is one of the accepted config formats
    return path


# ---------------------------------------------------------------- the loop


def test_run_records_every_subdomain_with_counts_and_intervals(registry, tmp_path):
    config = make_config(registry)
    result = explore(config, tmp_path / "run", registry=registry, show_progress=False)
    evs = result.evaluations
    assert len(evs) == 16 and len({e.subdomain_id for e in evs}) == 16
    space = SubdomainSpace(config.domain)
    for e in evs:
        assert space.index_of(e.values) == e.index
        if e.status == "ok":
            assert e.n_kept == 12 and e.accuracy == e.n_correct / e.n_kept
            assert e.accuracy_low <= e.accuracy <= e.accuracy_high
            assert 0.0 <= e.mean_confidence <= 1.0
        else:  # occlusion "all": the ink filter rejects every image of every round
            assert e.values["occlusion"] == "all" and e.n_kept == 0 and e.accuracy is None
            assert e.n_generated > 12  # max_attempts rounds were spent, not one
    store = RunStore(tmp_path / "run")
    assert store.count("proposal") == 6  # 16 subdomains in batches of 3
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "complete"
    samples = list((tmp_path / "run" / "artefacts" / "samples").glob("*.npz"))
    assert len(samples) == sum(e.status == "ok" for e in evs)


def test_accuracy_is_recomputed_from_the_images(registry, tmp_path):
    """One evaluation checked against its images regenerated from the derived seed."""
    config = make_config(registry, budget=4, filter=None)
    result = explore(config, tmp_path / "run", registry=registry, show_progress=False)
    parts = build_components(config, registry)
    for e in result.evaluations:
        x = parts.generator.generate(e.prompt, e.values, 12, image_seed(3, e.subdomain_id, 0))
        probs = parts.classifier.predict_proba(x)
        argmax = probs.argmax(1).numpy()
        assert int((argmax == int(e.values["digit"])).sum()) == e.n_correct
        true_p = probs[:, int(e.values["digit"])].mean().item()
        assert e.mean_confidence == pytest.approx(true_p, rel=1e-5)


def test_same_seed_same_run_other_seed_other_run(registry, tmp_path):
    a = explore(make_config(registry), tmp_path / "a", registry=registry, show_progress=False)
    b = explore(make_config(registry), tmp_path / "b", registry=registry, show_progress=False)
    c = explore(make_config(registry, seed=4), tmp_path / "c", registry=registry,
                show_progress=False)
    assert comparable(a.evaluations) == comparable(b.evaluations)
    assert [e.index for e in a.evaluations] != [e.index for e in c.evaluations]


def test_selector_uses_observations(registry, tmp_path):
    """nearest-worst moves towards the worst subdomain found so far (Algorithm 1's feedback)."""
    res = explore(make_config(registry, budget=12, batch_size=1), tmp_path / "run",
                  registry=registry, show_progress=False)
    acc = [e.accuracy for e in res.evaluations if e.accuracy is not None]
    assert min(acc) < 0.5 and np.mean(acc[len(acc) // 2:]) <= np.mean(acc[: len(acc) // 2]) + 0.2


def test_time_budget_stops_after_the_current_subdomain(registry, tmp_path):
    gen = {"name": "digits/render", "params": {"delay": 0.05}}
    config = make_config(registry, budget=None, budget_seconds=0.4, generator=gen, batch_size=4)
    res = explore(config, tmp_path / "run", registry=registry, show_progress=False)
    spent = [e.seconds for e in res.evaluations]
    assert 2 <= len(spent) < len(SubdomainSpace(config.domain))
    assert sum(spent[:-1]) < 0.4 <= sum(spent)


def test_budget_larger_than_domain_evaluates_each_subdomain_once(registry, tmp_path):
    config = make_config(registry, budget=1000, selector="exhaustive", batch_size=7)
    res = explore(config, tmp_path / "run", registry=registry, show_progress=False)
    n = len(SubdomainSpace(config.domain))
    assert sorted(e.index for e in res.evaluations) == list(range(n))


# ---------------------------------------------------------------- resume


class CrashAfter:
    """A generator that dies after ``n`` calls (an in-process stand-in for a crash)."""

    def __init__(self, inner: Any, n: int) -> None:
        self.inner, self.left, self.channels = inner, n, inner.channels

    def generate(self, *args: Any) -> torch.Tensor:
        self.left -= 1
        if self.left < 0:
            raise RuntimeError("simulated crash")
        return self.inner.generate(*args)


def _run(config, registry, out, generator=None, resume=False) -> list[Evaluation]:
    parts = build_components(config, registry)
    store = RunStore.open(out, "explore", config, resume=resume)
    try:
        return run_explore(config, generator or parts.generator, parts.classifier, parts.filter,
                           parts.selector, store, show_progress=False).evaluations
    finally:
        store.close()


def test_resume_after_crash_mid_batch_equals_uninterrupted(registry, tmp_path):
    config = make_config(registry)
    full = _run(config, registry, tmp_path / "full")
    parts = build_components(config, registry)
    with pytest.raises(RunError, match="simulated crash"):
        _run(config, registry, tmp_path / "cut", generator=CrashAfter(parts.generator, 8))
    partial = RunStore(tmp_path / "cut").count("evaluation")
    assert 0 < partial < len(full)
    resumed = _run(config, registry, tmp_path / "cut", resume=True)
    assert comparable(resumed) == comparable(full)


def test_resume_refuses_a_selector_that_is_not_deterministic(registry, tmp_path):
    config = make_config(registry, selector="digits/unseeded", batch_size=1)
    parts = build_components(config, registry)
    with pytest.raises(RunError):
        _run(config, registry, tmp_path / "run", generator=CrashAfter(parts.generator, 6))
    with pytest.raises(RunError, match="not deterministic"):
        _run(config, registry, tmp_path / "run", resume=True)


def test_resume_of_a_complete_run_does_no_work(registry, tmp_path):
    config = make_config(registry, budget=5)
    first = explore(config, tmp_path / "run", registry=registry, show_progress=False)
    again = explore(config, tmp_path / "run", resume=True, registry=registry, show_progress=False)
    assert comparable(again.evaluations) == comparable(first.evaluations)
    assert RunStore(tmp_path / "run").count("evaluation") == 5




def _kill_and_resume(cmd: list[str], cfg: Path, run: Path, env: dict[str, str], at: int) -> None:
    proc = subprocess.Popen([*cmd, "explore", str(cfg), "--out", str(run)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300  # a loaded 2-core machine can take minutes to start torch
    while explore_digits.evaluation_count(run / "run.sqlite") < at:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.time() < deadline, "the run did not start"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert json.loads((run / "run.json").read_text())["status"] == "running"
    done = subprocess.run([*cmd, "explore", str(cfg), "--out", str(run), "--resume", "--json"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_kill_9_then_resume_gives_the_uninterrupted_evaluations(registry, tmp_path):
    gen = {"name": "digits/render", "params": {"delay": 0.03}}
    data = config_dict(budget=24, generator=gen)
    cfg = write_toml(tmp_path / "explore.json", data)
    config = validate_config(data, ExploreConfig, registry)
    full = explore(config, tmp_path / "full", registry=registry, show_progress=False)
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    _kill_and_resume([sys.executable, str(HERE / "explore_launch.py")], cfg, tmp_path / "run",
                     env, at=7)
    resumed = [Evaluation.model_validate(r) for r in RunStore(tmp_path / "run").records(
        "evaluation")]
    assert comparable(resumed) == comparable(full.evaluations)


@pytest.mark.skipif(not os.environ.get("FXCORE_SLOW_TESTS"),
                    reason="slow (trains the MNIST CNN): set FXCORE_SLOW_TESTS=1")
def test_kill_9_then_resume_with_the_installed_mnist_plugin(tmp_path, tmp_path_factory):
    """The same, through the installed ``fx`` and the MNIST reference plugin's components."""
    mnist = pytest.importorskip("fxcore_mnist")
    from fxcore.config import read_mapping

    example = Path(mnist.__file__).parent / "examples" / "explore_mnist.toml"
    if not example.is_file():
        pytest.skip("fxcore_mnist has no explore example")
    data = read_mapping(example)
    data.update(budget=12, images_per_subdomain=8, batch_size=2, selector="random", seed=5)
    cfg = write_toml(tmp_path / "explore.json", data)
    env = {**os.environ, "FXCORE_CACHE": str(tmp_path_factory.getbasetemp() / "mnist-cache")}
    fx = [sys.executable, "-c", "import sys; from fxcore.cli import main; sys.exit(main())"]
    first = subprocess.run([*fx, "explore", str(cfg), "--out", str(tmp_path / "full"), "--json"],
                           env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    _kill_and_resume(fx, cfg, tmp_path / "run", env, at=4)
    full = RunStore(tmp_path / "full").records("evaluation")
    resumed = RunStore(tmp_path / "run").records("evaluation")
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in full]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in resumed] == strip


# ---------------------------------------------------------------- grouping in the loop


def test_true_class_mapping_groups_classifier_classes(registry, tmp_path):
    """digit words as labels, each the group of one classifier class; 'low' = {0,1,2,3}."""
    domain = {"attributes": {"digit": ["one", "three"], "rotation": ["upright", "tilted"]},
              "invalid": [], "prompt_template": "a {rotation} {true_class}"}
    groups = {"one": ["1", 2, "0"], "three": ["3"]}
    config = make_config(registry, domain=domain, true_classes=groups, filter=None, budget=4,
                         selector="exhaustive")
    grouping = make_grouping(config, build_components(config, registry).classifier)
    assert grouping.groups == {"one": [0, 1, 2], "three": [3]}
    res = explore(config, tmp_path / "run", registry=registry, show_progress=False)
    assert {e.values["digit"] for e in res.evaluations} == {"one", "three"}


def test_vs_rest_rule_is_never_stricter_than_argmax(registry, tmp_path):
    kw = {"budget": 10, "filter": None, "selector": "exhaustive"}
    a = explore(make_config(registry, **kw), tmp_path / "a", registry=registry,
                show_progress=False)
    b = explore(make_config(registry, decision="vs_rest", **kw), tmp_path / "b",
                registry=registry, show_progress=False)
    for x, y in zip(a.evaluations, b.evaluations, strict=True):
        assert y.n_correct <= x.n_correct  # P(true) > 0.5 implies it is the argmax


# ---------------------------------------------------------------- config errors (CLI)


BAD = {
    "unknown key": ({"budgett": 3}, "budgett: unknown key"),
    "wrong type": ({"budget": "lots"}, "budget: Input should be a valid integer"),
    "unknown component": ({"generator": "digits/nope"}, "generator.name: no generator named"),
    "bad template placeholder": (
        {"domain": {"prompt_template": "a {colour} digit"}}, "unknown placeholders ['colour']"),
    "bad true_class placeholder": ({"domain": {"true_class": "{digt}"}}, "true_class uses"),
    "rule naming unknown attribute": (
        {"domain": {"invalid": [{"size": "big"}]}}, "invalid[0] names unknown attribute 'size'"),
    "bad params": ({"filter": {"name": "digits/ink", "params": {"min_ink": -1}}},
                   "filter.params.min_ink"),
    "unknown class in a group": ({"true_classes": {"1": ["eleven"]}}, "true_classes.1: 'eleven'"),
    "group for a label the domain lacks": ({"true_classes": {"7": ["7"]}}, "true_classes.7"),
    "no budget": ({"budget": None}, "set budget"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_config_exits_2_naming_the_field_and_writes_nothing(case, cli_registry, tmp_path,
                                                                 capsys):
    over, message = BAD[case]
    cfg = write_toml(tmp_path / "bad.json", config_dict(**over))
    out = tmp_path / "run"
    assert main(["explore", str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not out.exists()


def test_resume_needs_a_run_and_the_same_config(cli_registry, tmp_path, capsys):
    cfg = write_toml(tmp_path / "c.json", config_dict(budget=2))
    out = tmp_path / "run"
    assert main(["explore", str(cfg), "--out", str(out), "--resume"]) == 2
    assert "no run to resume" in capsys.readouterr().err
    assert main(["explore", str(cfg), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_evaluated"] == 2 and summary["run_dir"] == str(out)
    assert main(["explore", str(cfg), "--out", str(out)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    write_toml(cfg, config_dict(budget=3))
    assert main(["explore", str(cfg), "--out", str(out), "--resume"]) == 2
    assert "config changed" in capsys.readouterr().err


_HOLD_LOCK = """
import sys
from pathlib import Path
from fxcore.store import lock_run_dir
fd = lock_run_dir(Path(sys.argv[1]))
print("locked", flush=True)
sys.stdin.read()
"""


def test_resume_of_a_busy_or_damaged_run_exits_2_and_keeps_its_summary(cli_registry, tmp_path,
                                                                        capsys):
    cfg = write_toml(tmp_path / "c.json", config_dict(budget=2))
    out = tmp_path / "run"
    assert main(["explore", str(cfg), "--out", str(out)]) == 0
    capsys.readouterr()
    info = (out / "run.json").read_bytes()
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(out)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        assert main(["explore", str(cfg), "--out", str(out), "--resume"]) == 2
        assert capsys.readouterr().err == (
            f"fx: error: run dir {out} is in use by another fx process (pid {holder.pid})\n")
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait()
    (out / "run.sqlite").write_bytes(b"")  # it used to resume as 0 evaluated, summary replaced
    assert main(["explore", str(cfg), "--out", str(out), "--resume"]) == 2
    assert capsys.readouterr().err == (f"fx: error: --resume: {out / 'run.sqlite'} is damaged "
                                       "(it holds no run: emptied or replaced)\n")
    assert (out / "run.json").read_bytes() == info


def test_cli_prints_the_worst_subdomains(cli_registry, tmp_path, capsys):
    cfg = write_toml(tmp_path / "c.json", config_dict(budget=6))
    assert main(["explore", str(cfg), "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "worst subdomains:" in out and "accuracy" in out and "fx report" in out


def test_large_sample_images_are_saved_shrunk(tmp_path):
    from fxcore.explore.loop import SubdomainResult, save_samples

    config = ExploreConfig.model_validate(config_dict())
    store = RunStore.open(tmp_path / "run", "explore", config)
    ev = Evaluation(subdomain_id="abc", index=0, values={})
    images = torch.rand(3, 3, 200, 100)
    save_samples(store, SubdomainResult(ev, images, ["a", "b", "c"], np.array([0.1, 0.2, 0.3])))
    with np.load(tmp_path / "run" / "artefacts" / "samples" / "abc.npz") as z:
        assert z["images"].shape == (3, 3, 96, 48) and z["images"].dtype == np.uint8
        assert z["predicted"].tolist() == ["a", "b", "c"]

"""Bad inputs to ``mds`` give one-line errors naming the field, before anything is written.

Kernel only: small torch components built here (a linear-sigmoid latent generator and softmax
regressions), registered as a plugin module through ``Registry.load(modules=...)``.
"""

from __future__ import annotations

import json
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import BaseModel, ConfigDict

import fxcore
from fxcore.config import validate_config
from fxcore.errors import ConfigError, RunError
from fxcore.mds.optimise import MdsSetup, check_setup, condition_tensor, optimise_batch
from fxcore.mds.run import prepare, run_mds
from fxcore.plugins import Registry
from fxcore.schemas.mds import MdsConfig

CLASSES = ["cat", "dog", "car"]


class GenParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    conditional: bool = True
    nan_at_call: int = -1


class LinearGenerator:
    """``x = sigmoid(W z + b_c)`` as 1×4×4 images; ``nan_at_call``: decode call that gives NaN."""

    latent_dim = 3
    channels = 1

    def __init__(self, conditional: bool = True, nan_at_call: int = -1) -> None:
        g = torch.Generator().manual_seed(0)
        self.w = torch.randn(3, 16, generator=g)
        self.b = torch.randn(len(CLASSES), 16, generator=g)
        self.conditions = list(CLASSES) if conditional else None
        self.nan_at_call = nan_at_call
        self.calls = 0

    def sample_latent(self, n: int, seed: int) -> torch.Tensor:
        return torch.randn(n, 3, generator=torch.Generator().manual_seed(seed))

    def decode(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        h = z @ self.w
        if condition is not None:
            h = h + self.b[condition]
        x = torch.sigmoid(h).view(-1, 1, 4, 4)
        if self.calls == self.nan_at_call:
            x = x * float("nan")
        self.calls += 1
        return x

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        return -0.5 * z.pow(2).sum(1)


class ClfParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: int = 0
    classes: list[str] = CLASSES
    mode: str = "ok"  # ok | detached | declared-not-differentiable


class Softmax:
    """Softmax regression on the 16 pixels; ``mode`` breaks differentiability on purpose."""

    def __init__(self, seed: int = 0, classes: list[str] = CLASSES, mode: str = "ok") -> None:
        self.w = torch.randn(16, len(classes), generator=torch.Generator().manual_seed(seed))
        self.classes = list(classes)
        self.mode = mode
        self.differentiable = mode != "declared-not-differentiable"

    def predict_proba(self, images: torch.Tensor) -> torch.Tensor:
        x = images.flatten(1)
        if self.mode == "detached":
            x = torch.tensor(x.detach().numpy())  # e.g. a numpy model behind the API
        return torch.softmax(3 * x @ self.w, dim=1)


def _plugin() -> types.ModuleType:
    mod = types.ModuleType("toy_mds")

    @fxcore.hookimpl
    def fxcore_register_latent_generators(register):  # type: ignore[no-untyped-def]
        register("linear", LinearGenerator, GenParams)

    @fxcore.hookimpl
    def fxcore_register_classifiers(register):  # type: ignore[no-untyped-def]
        register("softmax", Softmax, ClfParams)

    mod.fxcore_register_latent_generators = (  # type: ignore[attr-defined]
        fxcore_register_latent_generators)
    mod.fxcore_register_classifiers = fxcore_register_classifiers  # type: ignore[attr-defined]
    return mod


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.load(entry_points=[], modules={"toy": _plugin()})


def config(registry: Registry, **over: object) -> MdsConfig:
    data: dict[str, object] = {
        "generator": "toy/linear",
        "classifiers": [{"name": "softmax", "params": {"seed": 1}},
                        {"name": "softmax", "params": {"seed": 2}}],
        "starts": 6, "chunk": 3, "steps": 8, "record_every": 4, "show": 4, "lr": 0.1,
    }
    data.update(over)
    return validate_config(data, MdsConfig, registry, source="mds.toml")


def test_one_classifier_only_is_a_config_error(registry: Registry) -> None:
    with pytest.raises(ConfigError, match=r"mds.toml: classifiers: .*at least 2"):
        config(registry, classifiers=["softmax"])
    setup = MdsSetup(LinearGenerator(), [Softmax()], lambda p: p.sum((0, 2)), ["softmax"])
    with pytest.raises(ConfigError, match=r"^classifiers: mds needs at least 2 classifiers"):
        check_setup(setup)


def test_declared_not_differentiable(registry: Registry) -> None:
    cfg = config(registry, classifiers=[
        "softmax", {"name": "softmax", "params": {"mode": "declared-not-differentiable"}}])
    with pytest.raises(ConfigError, match=r"^classifiers.1: softmax\(mode=.*\) is not differen"):
        prepare(cfg, registry)


def test_gradient_none_is_caught_by_the_probe(registry: Registry) -> None:
    cfg = config(registry, classifiers=[{"name": "softmax", "params": {"mode": "detached"}},
                                        "softmax"])
    with pytest.raises(ConfigError, match=r"^classifiers.0: .*no gradient flows"):
        prepare(cfg, registry)


def test_mismatched_class_sets(registry: Registry) -> None:
    other = {"name": "softmax", "params": {"classes": ["cat", "dog", "bus"]}}
    with pytest.raises(ConfigError, match=r"classifiers.1: .*missing \['car'\], extra \['bus'\]"):
        prepare(config(registry, classifiers=["softmax", other]), registry)


def test_same_classes_in_another_order_are_aligned(registry: Registry) -> None:
    flipped = {"name": "softmax", "params": {"classes": ["car", "cat", "dog"]}}
    prep = prepare(config(registry, classifiers=["softmax", flipped]), registry)
    x = torch.rand(2, 1, 4, 4)
    probs = prep.setup.probabilities(x)
    raw = prep.setup.classifiers[1].predict_proba(x)
    assert torch.allclose(probs[1][:, 0], raw[:, 1])  # "cat" is column 1 of the flipped one
    assert torch.allclose(probs[1][:, 2], raw[:, 0])


def test_condition_not_of_the_generator(registry: Registry) -> None:
    with pytest.raises(ConfigError, match=r"^conditions: 'bird' is not a condition .*cat, dog"):
        prepare(config(registry, conditions=["cat", "bird"]), registry)
    uncond = {"name": "linear", "params": {"conditional": False}}
    with pytest.raises(ConfigError, match=r"^conditions: linear is unconditional"):
        prepare(config(registry, generator=uncond, conditions=["cat"]), registry)


def test_nan_from_the_generator_names_the_step(registry: Registry) -> None:
    setup = check_setup(MdsSetup(LinearGenerator(nan_at_call=4), [Softmax(1), Softmax(2)],
                                 registry.create("divergence", "js"), ["a", "b"]))
    # call 0 was the gradient probe; calls 1.. are steps 0..
    z0 = setup.generator.sample_latent(3, 0)
    with pytest.raises(RunError, match=r"NaN/inf images at step 3 "):
        optimise_batch(setup, z0, torch.tensor([0, 1, 2]), steps=10, lr=0.1, prior_weight=0)


def test_nan_in_a_run_keeps_finished_chunks(registry: Registry, tmp_path: Path) -> None:
    # 2 chunks x (8 steps + 1 forward); the probe is call 0, so call 12 is step 2 of chunk 1
    cfg = config(registry, generator={"name": "linear", "params": {"nan_at_call": 12}})
    with pytest.raises(RunError, match="step 2"):
        run_mds(cfg, tmp_path / "run", registry=registry, show_progress=False)
    from fxcore.store import RunStore

    store = RunStore(tmp_path / "run")
    assert store.count("chunk") == 1 and store.count("start") == 3  # chunk 0 kept, whole
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "running"
    store.close()


def test_nothing_written_on_a_config_error(registry: Registry, tmp_path: Path) -> None:
    out = tmp_path / "never"
    cfg = config(registry, conditions=["bird"])
    with pytest.raises(ConfigError):
        run_mds(cfg, out, registry=registry, show_progress=False)
    assert not out.exists()


def test_not_a_latent_generator(registry: Registry) -> None:
    setup = MdsSetup(object(), [Softmax(1), Softmax(2)], lambda p: p, ["a", "b"],
                     generator_name="sd21")
    with pytest.raises(ConfigError, match=r"^generator: sd21 is not a latent generator"):
        check_setup(setup)


def test_conditions_cycle_over_starts() -> None:
    g = LinearGenerator()
    assert condition_tensor(g, None, [0, 1, 2, 3]).tolist() == [0, 1, 2, 0]
    assert condition_tensor(g, ["dog", "car"], [5, 6]).tolist() == [2, 1]
    assert condition_tensor(LinearGenerator(conditional=False), None, [0]) is None


def test_toy_run_end_to_end_and_resume(registry: Registry, tmp_path: Path) -> None:
    cfg = config(registry)
    out = tmp_path / "run"
    summary = run_mds(cfg, out, registry=registry, show_progress=False)
    assert summary["starts"] == 6 and summary["hierarchy"] == "flat"
    for name in ("before_after.png", "divergence.png", "dz.png", "curves.json", "samples.json"):
        assert (out / "artefacts" / name).stat().st_size > 0
    curves = json.loads((out / "artefacts" / "curves.json").read_text())
    assert curves["step"] == [0, 4, 8]
    again = run_mds(cfg, out, resume=True, registry=registry, show_progress=False)
    assert again["divergence_final"] == summary["divergence_final"]
    with pytest.raises(ConfigError, match="already holds a run"):
        run_mds(cfg, out, registry=registry, show_progress=False)
    assert np.isfinite(summary["dz_mean"])


def test_input_files_are_the_hierarchy_and_the_ensemble_data(registry: Registry,
                                                             tmp_path: Path) -> None:
    tree = tmp_path / "tree.json"
    assert config(registry).input_files() == {}
    cfg = config(registry, hierarchy=str(tree), ensemble={"path": str(tmp_path / "d.npz")})
    assert cfg.input_files() == {"hierarchy": tree, "ensemble.path": tmp_path / "d.npz"}

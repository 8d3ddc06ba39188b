"""The typed registry: one contract per kind, generator and latent generator apart, and every
member a pipeline uses declared in ``fxcore.contracts``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import types
import typing
from pathlib import Path

import pytest
import torch

import fxcore
from fxcore import contracts
from fxcore.config import validate_config
from fxcore.errors import ConfigError, PluginError
from fxcore.hookspecs import HOOK_BY_KIND, KINDS
from fxcore.plugins import Registry
from fxcore.schemas import ExploreConfig, MdsConfig

ROOT = Path(__file__).resolve().parents[1]


class Flat:
    """A generator (explore): prompt and attributes in, images out."""

    channels = 1

    def generate(self, prompt, attributes, n, seed):  # type: ignore[no-untyped-def]
        return torch.zeros(n, 1, 4, 4)


class Deep:
    """A latent generator (mds) only."""

    latent_dim = 2
    channels = 1
    conditions = None

    def sample_latent(self, n, seed):  # type: ignore[no-untyped-def]
        return torch.zeros(n, 2)

    def decode(self, z, condition=None):  # type: ignore[no-untyped-def]
        return torch.zeros(len(z), 1, 4, 4)

    def log_prior(self, z):  # type: ignore[no-untyped-def]
        return torch.zeros(len(z))


class Clf:
    classes = ("a", "b")
    differentiable = True

    def predict_proba(self, images):  # type: ignore[no-untyped-def]
        return torch.full((len(images), 2), 0.5)


def toy() -> types.ModuleType:
    mod = types.ModuleType("toy_kinds")
    mod.fxcore_register_generators = fxcore.hookimpl(  # type: ignore[attr-defined]
        lambda register: register("flat", Flat))
    mod.fxcore_register_latent_generators = fxcore.hookimpl(  # type: ignore[attr-defined]
        lambda register: register("deep", Deep))
    mod.fxcore_register_classifiers = fxcore.hookimpl(  # type: ignore[attr-defined]
        lambda register: register("clf", Clf))
    return mod


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.load(strict=True, entry_points=[], modules={"toy": toy()})


def test_generator_and_latent_generator_are_two_kinds(registry: Registry) -> None:
    assert HOOK_BY_KIND["latent-generator"] == "fxcore_register_latent_generators"
    assert registry.names("generator") == ["toy/flat"]
    assert registry.names("latent-generator") == ["toy/deep"]
    assert isinstance(registry.create("latent-generator", "deep"), contracts.LatentGenerator)
    assert isinstance(registry.create("generator", "flat"), contracts.Generator)
    assert MdsConfig.component_fields["generator"] == "latent-generator"
    assert ExploreConfig.component_fields["generator"] == "generator"


def test_no_loophole_a_latent_generator_is_not_a_generator() -> None:
    """``create("generator")`` used to accept any LatentGenerator as well."""
    mod = types.ModuleType("sneaky")
    mod.fxcore_register_generators = fxcore.hookimpl(  # type: ignore[attr-defined]
        lambda register: register("deep", Deep))
    reg = Registry.load(entry_points=[], modules={"sneaky": mod})
    with pytest.raises(PluginError, match="does not follow the Generator contract"):
        reg.create("generator", "deep")


MDS = {"classifiers": ["clf", "clf"], "starts": 2, "chunk": 2, "steps": 2}


def test_a_config_naming_the_wrong_generator_kind_is_a_config_error(registry: Registry) -> None:
    with pytest.raises(ConfigError, match=(
            r"^mds\.toml: generator\.name: no latent generator named 'flat' is installed "
            r"\(toy/deep\); toy/flat is a generator, not a latent generator \(fx explore")):
        validate_config({**MDS, "generator": "flat"}, MdsConfig, registry, source="mds.toml")
    with pytest.raises(ConfigError, match=r"toy/deep is a latent generator, not a generator"):
        registry.validate_params("generator", MdsConfig.model_validate(
            {**MDS, "generator": "toy/deep"}).generator, where="generator")
    validate_config({**MDS, "generator": "deep"}, MdsConfig, registry)


def test_fx_mds_with_an_explore_generator_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    """Through the installed mnist plugin's manifest: ``render`` is a generator."""
    pytest.importorskip("fxcore_mnist")
    cfg = tmp_path / "mds.json"
    cfg.write_text(json.dumps({**MDS, "generator": "mnist/render",
                               "classifiers": ["mnist/cnn", "mnist/mlp"]}))
    out = tmp_path / "run"
    code = "import sys; from fxcore.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run([sys.executable, "-c", code, "mds", str(cfg), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "mnist/render is a generator, not a latent generator" in proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()


def test_create_is_typed_by_kind() -> None:
    """One ``typing.overload`` per kind, returning that kind's contract (what mypy sees)."""
    overloads = typing.get_overloads(Registry.create)
    seen = {}
    for fn in overloads:
        ann = fn.__annotations__
        kind = re.fullmatch(r"Literal\['([a-z-]+)'\]", ann["kind"].replace('"', "'"))
        assert kind, ann["kind"]
        seen[kind.group(1)] = ann["return"]
    assert seen == {k: contracts.CONTRACTS[k].__name__ for k in KINDS}
    assert typing.get_args(contracts.Kind) == KINDS


OPTIONAL_MEMBERS = ("attach", "last_export", "device", "channels", "differentiable",
                    "conditions", "fit", "features", "check_attributes", "gap", "status",
                    "seconds", "message", "scores", "condition")
PIPELINES = ["fxcore/label/opal.py", "fxcore/label/certified.py", "fxcore/label/models.py",
             "fxcore/mds/optimise.py", "fxcore/mds/report.py", "fxcore/mds/ensemble.py",
             "fxcore/explore/loop.py"]


def test_every_member_a_pipeline_uses_is_declared() -> None:
    protocols = [*contracts.CONTRACTS.values(), contracts.LabelPolicy,
                 contracts.ScoredPolicy, contracts.ConditionedPolicy,
                 *(p for ps in contracts.OPTIONAL.values() for p in ps)]
    names = vars(contracts) | {"torch": torch}
    declared = {name for proto in protocols
                for name in [*dir(proto), *typing.get_type_hints(proto, names)]}
    assert set(OPTIONAL_MEMBERS) <= declared
    for proto in [p for ps in contracts.OPTIONAL.values() for p in ps]:
        assert getattr(proto, "_is_runtime_protocol", False), proto
    members = "|".join(OPTIONAL_MEMBERS)
    probe = re.compile(rf"""(?:getattr|hasattr)\(\s*[\w.]+,\s*["']({members})["']""")
    found = [f"{path}: {m.group(0)}" for path in PIPELINES
             for m in probe.finditer((ROOT / path).read_text())]
    assert found == []


def test_optional_members_are_checked_with_isinstance() -> None:
    class Fits(Clf):
        def fit(self, images, labels):  # type: ignore[no-untyped-def]
            return self

    assert isinstance(Fits(), contracts.Fittable) and not isinstance(Clf(), contracts.Fittable)
    assert isinstance(Deep(), contracts.DeclaresChannels)
    assert not isinstance(Clf(), contracts.OnDevice)

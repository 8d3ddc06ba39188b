"""Config loading: clear one-line errors with field paths; fuzzed inputs never escape."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fxcore.config import load_config, read_mapping, validate_config
from fxcore.errors import ConfigError
from fxcore.plugins import Registry
from fxcore.schemas import ExploreConfig

GOOD = """
budget = 3
seed = 1
generator = "random"
classifier = "random"
[domain]
prompt_template = "a {colour} dog"
true_class = "dog"
[domain.attributes]
colour = ["red", "blue"]
[selector]
name = "random"
"""


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.load(entry_points=[])


def write(tmp_path: Path, text: str, name: str = "c.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_valid_toml_loads_but_components_are_checked(tmp_path: Path, registry: Registry) -> None:
    # "random" is a selector, not a generator: the error names the field and what exists.
    with pytest.raises(ConfigError, match=r"c\.toml: generator\.name: no generator named 'random'"):
        load_config(write(tmp_path, GOOD), ExploreConfig, registry)


@pytest.mark.parametrize(
    "text, message",
    [
        (GOOD.replace("budget = 3", "budget = 'x'"), r"budget: Input should be a valid integer"),
        (GOOD.replace("budget = 3", "budget = 0"), r"budget: Input should be greater than 0"),
        (GOOD.replace("seed = 1", "sede = 1"), r"sede: unknown key"),
        (GOOD.replace('true_class = "dog"', ""), r"domain\.true_class: Field required"),
        (GOOD.replace('colour = ["red", "blue"]', 'colour = "red"'),
         r"domain\.attributes\.0\.values: Input should be a valid list"),
        (GOOD + "\n[[domain.invalid]]\nsize = 'big'\n", r"unknown attribute 'size'"),
        ("budget = = 3", r"not valid TOML"),
        ("", r"domain: Field required"),
    ],
)
def test_field_errors(tmp_path: Path, registry: Registry, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        load_config(write(tmp_path, text), ExploreConfig, registry)
    assert "\n" not in str(err.value)


def test_formats_and_file_errors(tmp_path: Path) -> None:
    assert read_mapping(write(tmp_path, "a: 1\nb: [x]\n", "c.yaml")) == {"a": 1, "b": ["x"]}
    assert read_mapping(write(tmp_path, '{"a": 1}', "c.json")) == {"a": 1}
    with pytest.raises(ConfigError, match="not found"):
        read_mapping(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="unknown config format '.ini'"):
        read_mapping(write(tmp_path, "a=1", "c.ini"))
    with pytest.raises(ConfigError, match="top level must be a table"):
        read_mapping(write(tmp_path, "- 1\n- 2\n", "c.yaml"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_mapping(write(tmp_path, "a: [1,\n", "c.yaml"))
    bom = tmp_path / "bom.toml"
    bom.write_bytes("\ufeffa = 1\n".encode())  # saved by an editor with a byte-order mark
    assert read_mapping(bom) == {"a": 1}
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b"a = '\xe9'\n")
    with pytest.raises(ConfigError, match="latin1.toml: cannot read"):
        read_mapping(bad)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12,
)
keys = st.sampled_from(
    ["domain", "generator", "classifier", "filter", "selector", "budget", "seed", "batch_size",
     "images_per_subdomain", "true_classes", "confidence_level", "x"]
)
domain_like = st.fixed_dictionaries(
    {},
    optional={
        "attributes": st.dictionaries(st.text(max_size=5), st.lists(st.text(max_size=5),
                                                                     max_size=3), max_size=3)
        | json_values,
        "prompt_template": st.text(max_size=20),
        "true_class": st.text(max_size=5) | json_values,
        "invalid": st.lists(st.dictionaries(st.text(max_size=5), st.text(max_size=5)), max_size=2)
        | json_values,
        "name": json_values,
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.dictionaries(keys, json_values | domain_like, max_size=8))
def test_fuzzed_configs_only_raise_config_errors(data: dict, registry: Registry) -> None:
    try:
        validate_config(data, ExploreConfig, registry)
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc)


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=200))
def test_fuzzed_files_only_raise_config_errors(
    text: str, tmp_path_factory, registry: Registry  # noqa: ANN001
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "c.toml"
    path.write_text(text, encoding="utf-8")
    try:
        load_config(path, ExploreConfig, registry)
    except ConfigError as exc:
        assert "\n" not in str(exc)

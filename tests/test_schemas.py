"""Schemas and subdomain enumeration."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from fxcore.domain import SubdomainSpace
from fxcore.schemas import ComponentSpec, EvaluationDomain, subdomain_id


def dog_domain(**kw) -> EvaluationDomain:  # noqa: ANN003
    data = {
        "name": "dogs",
        "attributes": {
            "time": ["day", "night"],
            "weather": ["sunny", "raining", "foggy"],
            "location": ["forest", "inside a house"],
        },
        "invalid": [{"time": "night", "weather": "sunny"}, {"location": "inside a house",
                                                               "weather": ["raining", "foggy"]}],
        "prompt_template": "A dog {location}, during the {time}, it is {weather}.",
        "true_class": "dog",
    }
    data.update(kw)
    return EvaluationDomain.model_validate(data)


def test_enumeration_excludes_invalid_combinations_deterministically() -> None:
    space = SubdomainSpace(dog_domain())
    combos = [tuple(space.values(i).values()) for i in range(len(space))]
    # 12 combinations; night+sunny removes 2; inside with raining/foggy removes 4 (1 overlap: none)
    assert len(space) == 12 - 2 - 4
    assert ("night", "sunny", "forest") not in combos
    assert ("day", "raining", "inside a house") not in combos
    assert combos == sorted(combos, key=lambda c: tuple(
        a.values.index(v) for a, v in zip(space.attributes, c, strict=True)))
    again = SubdomainSpace(dog_domain())
    assert np.array_equal(space.codes, again.codes) and space.ids == again.ids


def test_subdomain_ids_are_stable_and_prompts_filled() -> None:
    space = SubdomainSpace(dog_domain())
    sub = space[0]
    assert sub.id == subdomain_id({"location": "forest", "weather": "sunny", "time": "day"})
    assert sub.prompt == "A dog forest, during the day, it is sunny."
    assert len(set(space.ids)) == len(space)
    assert space.ids == [space[i].id for i in range(len(space))]
    assert space.index_of(sub.values) == 0
    with pytest.raises(KeyError, match="invalid combination"):
        space.index_of({"time": "night", "weather": "sunny", "location": "forest"})


def test_one_hot_shapes() -> None:
    space = SubdomainSpace(dog_domain())
    assert space.one_hot().shape == (len(space), 7)
    assert space.one_hot(drop_first=True).shape == (len(space), 4)
    assert (space.one_hot().sum(1) == 3).all()


def test_large_domain_enumerates() -> None:
    attrs = {f"a{i}": [f"v{j}" for j in range(10)] for i in range(5)}
    space = SubdomainSpace(dog_domain(attributes=attrs, invalid=[{"a0": "v0"}],
                                      prompt_template="{a0}"))
    assert len(space) == 90_000


@pytest.mark.parametrize(
    "change, message",
    [
        ({"invalid": [{"colour": "red"}]}, "unknown attribute 'colour'"),
        ({"invalid": [{"time": "dusk"}]}, "'dusk' is not a value of 'time'"),
        ({"invalid": [{}]}, "is empty"),
        ({"prompt_template": "a {colour} dog"}, "unknown placeholders \\['colour'\\]"),
        ({"attributes": {"time": []}}, "at least 1 item"),
        ({"attributes": {"time": ["a", "a"]}}, "duplicate values"),
        ({"attributes": {"bad name": ["a"]}}, "must be an identifier"),
        ({"surprise": 1}, "Extra inputs are not permitted"),
    ],
)
def test_domain_errors_name_the_problem(change: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        dog_domain(**change)


def test_everything_invalid_is_an_error() -> None:
    with pytest.raises(ValueError, match="exclude everything"):
        SubdomainSpace(dog_domain(invalid=[{"time": ["day", "night"]}]))


def test_component_spec_forms() -> None:
    assert ComponentSpec.model_validate("random").name == "random"
    assert ComponentSpec.model_validate({"name": "acme/x", "params": {"a": 1}}).params == {"a": 1}
    with pytest.raises(ValidationError, match="not a component name"):
        ComponentSpec.model_validate("Not Valid")

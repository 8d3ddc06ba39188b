"""Class grouping (fxcore.grouping) and the templated true class of an evaluation domain."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from fxcore.errors import ConfigError
from fxcore.grouping import ClassGrouping, resolve_members
from fxcore.hierarchy import ClassHierarchy
from fxcore.schemas import EvaluationDomain, ExploreConfig

CLASSES = ["cat", "Dog", "wolf", "car"]


def test_members_by_name_index_and_case():
    assert resolve_members(CLASSES, ["dog", 2, "cat"]) == [0, 1, 2]
    with pytest.raises(ConfigError, match=r"true_classes: 'dgo' is not one .* did you mean 'Dog'"):
        resolve_members(CLASSES, ["dgo"])
    with pytest.raises(ConfigError, match="class index 9 outside 0..3"):
        resolve_members(CLASSES, [9])


def test_wordnet_dogs_are_the_118_imagenet_dog_classes():
    imagenet = ClassHierarchy.imagenet()
    members = resolve_members(imagenet.classes, ["wordnet:n02084071"])
    assert members == list(range(151, 269))
    assert resolve_members(imagenet.classes, ["wordnet:dog"]) == members  # by WordNet name
    with pytest.raises(ConfigError, match="needs a classifier with the 1000 ImageNet-1k classes"):
        resolve_members(CLASSES, ["wordnet:n02084071"])
    with pytest.raises(ConfigError, match="unknown class or node"):
        resolve_members(imagenet.classes, ["wordnet:n99999999"])


def test_grouped_probabilities_sum_members_and_keep_the_rest():
    g = ClassGrouping.build(CLASSES, ["canine"], {"canine": ["Dog", "wolf"]})
    assert g.columns == ["canine", "cat", "car"]
    p = np.array([[0.1, 0.3, 0.3, 0.3], [0.5, 0.2, 0.2, 0.1]])
    np.testing.assert_allclose(g.grouped(p), [[0.6, 0.1, 0.3], [0.4, 0.5, 0.1]])
    correct, p_true, predicted = g.score(p, "canine")
    assert correct.tolist() == [True, False] and predicted == ["canine", "cat"]
    np.testing.assert_allclose(p_true, [0.6, 0.4])
    # the paper's two-way rule: P(dog) > 0.5; 0.4 beats no single class in row 2 either
    p2 = np.array([[0.2, 0.25, 0.2, 0.35]])  # canine 0.45 is the argmax but not > 0.5
    assert g.score(p2, "canine", "argmax")[0].tolist() == [True]
    assert g.score(p2, "canine", "vs_rest")[0].tolist() == [False]


def test_grouping_is_differentiable_for_torch():
    g = ClassGrouping.build(CLASSES, ["canine"], {"canine": ["Dog", "wolf"]})
    logits = torch.zeros(2, 4, requires_grad=True)
    g.grouped(torch.softmax(logits, 1))[:, 0].sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_overlapping_groups_are_refused():
    with pytest.raises(ConfigError, match="'wolf' is in both 'a' and 'b'"):
        ClassGrouping.build(CLASSES, ["a", "b"], {"a": ["Dog", "wolf"], "b": ["wolf"]})


def test_label_without_group_is_the_class_of_that_name():
    g = ClassGrouping.build(CLASSES, ["cat", "car"], None)
    assert g.groups == {"cat": [0], "car": [3]}
    with pytest.raises(ConfigError, match=r"label 'bird'"):
        ClassGrouping.build(CLASSES, ["bird"], None)


# ---------------------------------------------------------------- templated true class


def domain(**over):  # type: ignore[no-untyped-def]
    data = {"attributes": {"digit": ["1", "7"], "style": ["thin", "bold"]},
            "prompt_template": "a {style} {true_class}", "true_class": "{digit}"}
    return EvaluationDomain.model_validate({**data, **over})


def test_true_class_template_names_attributes():
    d = domain()
    assert d.true_class_of({"digit": "7", "style": "bold"}) == "7"
    assert d.prompt({"digit": "7", "style": "bold"}) == "a bold 7"
    assert d.true_classes() == ["1", "7"]
    assert domain(true_class="dog").true_classes() == ["dog"]
    assert domain(true_class="{style}-{digit}").true_class_of({"digit": "1", "style": "thin"}) \
        == "thin-1"


@pytest.mark.parametrize("bad, message", [
    ("{colour}", "true_class uses unknown placeholders ['colour']"),
    ("{digit!r}", "must be a bare name"),
    ("{}", "must be a bare name"),
    ("{digit", "not a valid template"),
])
def test_bad_true_class_templates(bad, message):
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        domain(true_class=bad)


def test_true_classes_config_forms():
    base = {"generator": "g", "classifier": "c"}
    dog = {"attributes": {"a": ["x", "y"]}, "prompt_template": "{a}", "true_class": "dog"}
    cfg = ExploreConfig.model_validate({**base, "domain": dog, "true_classes": ["wordnet:dog"]})
    assert cfg.group_members() == {"dog": ["wordnet:dog"]}
    templ = domain().model_dump()
    cfg = ExploreConfig.model_validate({**base, "domain": templ, "true_classes": {"7": [7, "1"]}})
    assert cfg.group_members() == {"7": [7, "1"]}
    with pytest.raises(ValidationError, match="must be a mapping"):
        ExploreConfig.model_validate({**base, "domain": templ, "true_classes": ["7"]})
    with pytest.raises(ValidationError, match="true_classes.9: not a true class"):
        ExploreConfig.model_validate({**base, "domain": templ, "true_classes": {"9": ["9"]}})

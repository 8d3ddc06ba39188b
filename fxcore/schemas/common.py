"""Schemas shared by the jobs: attributes, evaluation domains, subdomains, evaluations, specs."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import string
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_COMPONENT = re.compile(r"^([a-z0-9][a-z0-9_.-]*/)?[a-z0-9][a-z0-9_.-]*$")


class Strict(BaseModel):
    """Base of every schema: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Attribute(Strict):
    """A named textual dimension with a finite list of values (``weather: sunny, raining``)."""

    name: str
    values: list[str] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"attribute name {v!r} must be an identifier (letters, digits, _)")
        return v

    @field_validator("values")
    @classmethod
    def _values_unique(cls, v: list[str]) -> list[str]:
        dup = sorted(x for x, n in Counter(v).items() if n > 1)
        if dup:
            raise ValueError(f"duplicate values {dup}")
        if any(not x.strip() for x in v):
            raise ValueError("values must be non-empty strings")
        return v


class EvaluationDomain(Strict):
    """Attributes + invalid combinations + prompt template + the true class of the images.

    ``attributes`` may be written as a table ``{weather = ["sunny", "raining"], ...}`` (order
    kept) or as a list of ``{name, values}``. Each entry of ``invalid`` is a partial assignment
    ``{time = "night", weather = "sunny"}``; a value may also be a list meaning "any of these".
    A subdomain matching every key of one entry is invalid.

    ``true_class`` is the label every image of the domain should get (``"dog"``), or a template
    naming attributes (``"{digit}"``) when the label varies with the subdomain; read it with
    :meth:`true_class_of`. ``prompt_template`` may use ``{true_class}`` and any attribute.
    """

    name: str = "domain"
    attributes: list[Attribute] = Field(min_length=1)
    invalid: list[dict[str, str | list[str]]] = Field(default_factory=list)
    prompt_template: str
    true_class: str

    @field_validator("attributes", mode="before")
    @classmethod
    def _attributes_from_table(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return [{"name": k, "values": vals} for k, vals in v.items()]
        return v

    @model_validator(mode="after")
    def _check_references(self) -> EvaluationDomain:
        names = [a.name for a in self.attributes]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"duplicate attribute names {dup}")
        values = {a.name: set(a.values) for a in self.attributes}
        for i, rule in enumerate(self.invalid):
            if not rule:
                raise ValueError(f"invalid[{i}] is empty (it would exclude every subdomain)")
            for key, val in rule.items():
                if key not in values:
                    raise ValueError(f"invalid[{i}] names unknown attribute {key!r}")
                for x in [val] if isinstance(val, str) else val:
                    if x not in values[key]:
                        raise ValueError(f"invalid[{i}].{key}: {x!r} is not a value of {key!r}")
        fields = {f for _, f, _, _ in string.Formatter().parse(self.prompt_template) if f}
        unknown = sorted(fields - set(values) - {"true_class"})
        if unknown:
            raise ValueError(f"prompt_template uses unknown placeholders {unknown}")
        unknown = sorted(set(_placeholders(self.true_class, "true_class")) - set(values))
        if unknown:
            raise ValueError(
                f"true_class uses unknown placeholders {unknown} (it may name attributes only)"
            )
        return self

    @property
    def attribute_names(self) -> list[str]:
        return [a.name for a in self.attributes]

    @property
    def true_class_attributes(self) -> list[str]:
        """Attributes named by a templated ``true_class`` (empty for a fixed label)."""
        return _placeholders(self.true_class, "true_class")

    def true_class_of(self, values: dict[str, str]) -> str:
        """The true label of the subdomain with these ``values`` (``"{digit}"`` -> ``"7"``)."""
        if not self.true_class_attributes:
            return self.true_class
        return self.true_class.format(**values)

    def true_classes(self) -> list[str]:
        """Every label ``true_class_of`` can return, in attribute-value order (before rules)."""
        names = self.true_class_attributes
        if not names:
            return [self.true_class]
        by_name = {a.name: a.values for a in self.attributes}
        labels: list[str] = []
        for combo in itertools.product(*(by_name[n] for n in names)):
            label = self.true_class.format(**dict(zip(names, combo, strict=True)))
            if label not in labels:
                labels.append(label)
        return labels

    def prompt(self, values: dict[str, str]) -> str:
        return self.prompt_template.format(true_class=self.true_class_of(values), **values)


def _placeholders(template: str, field: str) -> list[str]:
    """Named ``{placeholders}`` of a format string, in order; positional or malformed ones raise."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"{field} {template!r} is not a valid template: {exc}") from None
    names: list[str] = []
    for _, name, spec, conv in parsed:
        if name is None:
            continue
        if not name or not _NAME.match(name) or spec or conv:
            raise ValueError(f"{field} {template!r}: placeholder {{{name}}} must be a bare name")
        if name not in names:
            names.append(name)
    return names


def subdomain_id(values: dict[str, str]) -> str:
    """Stable id of a subdomain: independent of attribute order and of the other values."""
    canon = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(canon.encode()).hexdigest()[:12]


class Subdomain(Strict):
    """One valid combination of attribute values."""

    id: str
    index: int = Field(description="row of the subdomain in the domain's enumeration")
    values: dict[str, str]
    prompt: str


class Evaluation(Strict):
    """The result of testing one subdomain."""

    subdomain_id: str
    index: int
    values: dict[str, str]
    prompt: str = ""
    status: Literal["ok", "no_valid_images"] = "ok"
    n_generated: int = 0
    n_kept: int = 0
    n_correct: int = 0
    accuracy: float | None = None
    accuracy_low: float | None = None
    accuracy_high: float | None = None
    mean_confidence: float | None = None
    seconds: float = 0.0
    step: int = 0


class ComponentSpec(Strict):
    """``{name = "plugin/name", params = {...}}``: which component to build, with what."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v

    @field_validator("name")
    @classmethod
    def _name_form(cls, v: str) -> str:
        if not _COMPONENT.match(v):
            raise ValueError(f"{v!r} is not a component name (expected 'name' or 'plugin/name')")
        return v


def no_code(key: str, value: Any, instead: str) -> PydanticCustomError:
    """The error for a config key that used to name code to import and call (``module:function``):
    nothing is imported or called; the message says what to write instead."""
    return PydanticCustomError(
        "no_code",
        "{key} = {value} is refused: configs can no longer run code (nothing was imported or "
        "called); {instead}",
        {"key": key, "value": repr(value)[:80], "instead": instead},
    )


class JobConfig(Strict):
    """Base of the job configs. ``component_fields`` maps a field (``a.b`` for a field of a
    nested table) to its component kind; the config loader checks each named component is
    installed and validates its ``params``."""

    component_fields: ClassVar[dict[str, str]] = {}

    seed: int = Field(0, ge=0, description="seed of everything random in the run")

    def input_files(self) -> dict[str, Path]:
        """The files the run reads, by config field (their content is part of the run's
        identity: ``--resume`` refuses a changed one)."""
        return {}

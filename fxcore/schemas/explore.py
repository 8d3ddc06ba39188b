"""Config of the ``explore`` job (the BO paper's Algorithm 1)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from fxcore.schemas.common import ComponentSpec, EvaluationDomain, JobConfig


class ExploreConfig(JobConfig):
    """``fx explore CONFIG``: which subdomains of ``domain`` make ``classifier`` fail."""

    component_fields: ClassVar[dict[str, str]] = {
        "generator": "generator",
        "filter": "filter",
        "classifier": "classifier",
        "selector": "selector",
    }

    domain: EvaluationDomain
    generator: ComponentSpec
    classifier: ComponentSpec
    filter: ComponentSpec | None = None
    selector: ComponentSpec = Field(default_factory=lambda: ComponentSpec(name="random"))
    true_classes: list[str] | None = Field(
        None,
        description="classifier classes whose summed probability is the true class "
        "(class grouping, e.g. the 119 ImageNet dogs); default [domain.true_class]",
    )
    budget: int = Field(100, gt=0, description="number of subdomains to evaluate")
    batch_size: int = Field(1, gt=0, description="subdomains proposed per selector call (k)")
    images_per_subdomain: int = Field(10, gt=0, description="images kept by the filter")
    max_attempts: int = Field(3, gt=0, description="generation rounds before giving up")
    confidence_level: float = Field(0.95, gt=0, lt=1, description="of the accuracy interval")

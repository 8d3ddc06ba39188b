"""Config of the ``explore`` job (the BO paper's Algorithm 1)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import (
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from fxcore.schemas.common import ComponentSpec, EvaluationDomain, JobConfig, Strict

#: a member of a class group: a class name, a class index or ``"wordnet:<id>"``
GroupMember = int | str


class FidelityConfig(Strict):
    """``[fidelity]``: evaluate each subdomain in stages of images, stopping early once the images
    so far settle that it is not a failure (:mod:`fxcore.fidelity`)."""

    stages: list[int] = Field(
        description="images per subdomain after each stage, increasing; the last is "
        "images_per_subdomain (full fidelity), e.g. [10, 50]",
    )
    error: float = Field(
        0.05, gt=0, lt=1,
        description="probability bound that a failure is stopped before full fidelity (spent "
        "evenly over the stages that can stop)",
    )
    threshold: float | None = Field(
        None, gt=0, le=1,
        description="a failure is a subdomain whose full-fidelity accuracy is below this; "
        "unset: the run is after the worst `fraction` of the domain, cut-off estimated from "
        "the evaluations so far (safe: nothing stops before fraction x subdomains are known)",
    )
    fraction: float = Field(
        0.1, gt=0, lt=1, description="with threshold unset: the worst fraction the run is after"
    )

    @model_validator(mode="after")
    def _increasing(self) -> FidelityConfig:
        s = self.stages
        if len(s) < 2:
            raise ValueError("stages: give at least two image counts (e.g. [10, 50])")
        if s[0] < 1 or any(b <= a for a, b in zip(s, s[1:], strict=False)):
            raise ValueError(f"stages: must be increasing positive image counts, got {s}")
        return self


class ExploreConfig(JobConfig):
    """``fx explore CONFIG``: which subdomains of ``domain`` make ``classifier`` fail."""

    component_fields: ClassVar[dict[str, str]] = {
        "generator": "generator",
        "filter": "filter",
        "classifier": "classifier",
        "selector": "selector",
        "executor": "executor",
    }

    domain: EvaluationDomain
    generator: ComponentSpec
    classifier: ComponentSpec
    filter: ComponentSpec | None = None
    selector: ComponentSpec = Field(default_factory=lambda: ComponentSpec(name="random"))
    true_classes: list[GroupMember] | dict[str, list[GroupMember]] | None = Field(
        None,
        description="class grouping: the classifier classes whose summed probability is the "
        "true class (e.g. ['wordnet:n02084071'] for the ImageNet dogs), or, when "
        "domain.true_class is a template, a mapping label -> classes; a label without an entry "
        "is the classifier class of that name",
    )
    decision: Literal["argmax", "vs_rest"] = Field(
        "argmax",
        description="argmax: correct when the true group's summed probability beats every other "
        "group and ungrouped class; vs_rest: the paper's P(true group) > 0.5",
    )
    budget: int | None = Field(100, gt=0, description="number of subdomains to evaluate")
    budget_seconds: float | None = Field(
        None, gt=0, description="stop once the evaluations have used this many seconds"
    )
    batch_size: int = Field(
        1, gt=0, le=10_000, description="subdomains proposed per selector call (k; at most 10,000)"
    )
    images_per_subdomain: int = Field(
        10, gt=0, le=10_000,
        description="images kept by the filter (at most 10,000: a subdomain's images are held in "
        "memory together, up to 4x as many per generation round)",
    )
    max_attempts: int = Field(
        3, gt=0, le=1000, description="generation rounds before giving up (at most 1000)"
    )
    confidence_level: float = Field(0.95, gt=0, lt=1, description="of the accuracy interval")
    interval: Literal["clopper-pearson", "wilson"] = Field(
        "clopper-pearson", description="binomial interval of each subdomain's accuracy"
    )
    save_images: int = Field(
        8, ge=0, le=10_000,
        description="kept images saved per subdomain for the report (0: none; at most 10,000)",
    )
    fidelity: FidelityConfig | None = Field(
        None, description="multi-fidelity evaluation in stages (default off: every subdomain "
        "gets images_per_subdomain images)",
    )
    executor: ComponentSpec | None = Field(
        None, description="where the subdomains of a batch are evaluated (default: local, one "
        "after another in this process; ray: in parallel on a Ray cluster, see fxcore-ray). "
        "Not part of the run's identity: the JSON dump (config snapshot, config hash) leaves it "
        "out, so a run may be resumed on another executor",
    )

    @model_serializer(mode="wrap")
    def _omit_unset_fidelity_and_executor(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        """Without ``[fidelity]`` the config dumps (and hashes) as before it existed, so runs
        made before keep resuming; ``executor`` is never in a JSON dump (a run resumes on
        another executor with the same results)."""
        data = handler(self)
        if isinstance(data, dict) and data.get("fidelity") is None:
            data.pop("fidelity", None)
        if isinstance(data, dict) and (info.mode_is_json() or data.get("executor") is None):
            data.pop("executor", None)  # how a run is spread over workers is not its identity
        return data

    @model_validator(mode="after")
    def _check(self) -> ExploreConfig:
        if self.budget is None and self.budget_seconds is None:
            raise ValueError("set budget (subdomains) or budget_seconds (or both)")
        if self.fidelity is not None and self.fidelity.stages[-1] != self.images_per_subdomain:
            raise ValueError(
                f"fidelity.stages: the last stage ({self.fidelity.stages[-1]}) must equal "
                f"images_per_subdomain ({self.images_per_subdomain}), the full fidelity"
            )
        groups = self.true_classes
        templated = bool(self.domain.true_class_attributes)
        if isinstance(groups, list):
            if templated:
                raise ValueError(
                    "true_classes: domain.true_class is a template, so true_classes must be a "
                    "mapping label -> classes"
                )
            if not groups:
                raise ValueError("true_classes: the group is empty")
        elif isinstance(groups, dict):
            labels = set(self.domain.true_classes())
            for label, members in groups.items():
                if label not in labels:
                    known = ", ".join(sorted(labels)[:10])
                    raise ValueError(
                        f"true_classes.{label}: not a true class of the domain ({known})"
                    )
                if not members:
                    raise ValueError(f"true_classes.{label}: the group is empty")
        return self

    def group_members(self) -> dict[str, list[GroupMember]]:
        """``true_classes`` as a mapping label -> members (the list form names the one label)."""
        if self.true_classes is None:
            return {}
        if isinstance(self.true_classes, list):
            return {self.domain.true_class: list(self.true_classes)}
        return {k: list(v) for k, v in self.true_classes.items()}

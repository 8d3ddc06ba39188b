"""Config of the ``mds`` job (GeValDi, Algorithm 1) and of its ensemble study (appendix F)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from fxcore.schemas.common import ComponentSpec, JobConfig, Strict, no_code

#: most trace rows (recorded steps x starts) of one chunk, all held in memory
MAX_TRACE_ROWS = 10_000_000

#: ``hierarchy`` values that name no file
HIERARCHY_KEYWORDS = ("auto", "imagenet", "flat")


class EnsembleConfig(Strict):
    """``fx mds --ensemble``: the classifiers form a bagging ensemble (mean probability).

    The real data is either ``dataset``, a registered data set (``"plugin/name"``; ``fx
    plugins`` lists them) with the splits ``train`` and ``test``, or ``path``, an ``.npz`` file
    with ``train_images``, ``train_labels``, ``test_images``, ``test_labels`` (images ``uint8
    (N, H, W)`` or float ``(N, C, H, W)`` in [0, 1]; labels class indices). With ``bootstrap``
    each classifier is fit (its ``fit`` method) on its own bootstrap sample of the training
    split; build them untrained. A config never names code to run.
    """

    dataset: ComponentSpec | None = None
    path: Path | None = Field(None, description="an .npz file instead of a dataset")
    bootstrap: bool = Field(True, description="fit each classifier on a bootstrap sample")
    test_size: int | None = Field(None, gt=0, description="use the first N test images")
    eps_grid: list[float] = Field(
        default_factory=lambda: [round(0.5 + 0.125 * i, 3) for i in range(21)],
        min_length=1,
        description="DBSCAN eps values tried on the standardised MDS latents (0.5 .. 3)",
    )
    min_samples: int = Field(5, gt=0, description="DBSCAN min_samples")
    examples_per_cluster: int = Field(
        8, gt=0, le=100, description="images per cluster in the examples grid (at most 100)"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_code(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("data" in data or "data_args" in data):
            old = data.get("data")
            if isinstance(old, str) and old.endswith(".npz"):
                raise PydanticCustomError(
                    "renamed", "data = {old} is now written path = {old}", {"old": repr(old)})
            raise no_code("data", old, 'name a registered data set instead: dataset = '
                          '"mnist/mnist" (fx plugins lists them), or path = "data.npz"')
        return data

    @model_validator(mode="after")
    def _one_source(self) -> EnsembleConfig:
        if (self.dataset is None) == (self.path is None):
            raise ValueError("give exactly one of ensemble.dataset and ensemble.path")
        return self


class MdsConfig(JobConfig):
    """``fx mds CONFIG``: latents whose images make ``classifiers`` disagree most.

    Maximises ``D[{p_m(y | g(z, c))}_m] + λ · log p(z)`` over ``z`` by gradient ascent from
    ``starts`` initial latents, processed ``chunk`` at a time (each chunk is one batch optimised
    together and recorded as one unit, so a resumed run skips finished chunks).
    """

    component_fields: ClassVar[dict[str, str]] = {
        "generator": "latent-generator",
        "classifiers": "classifier",
        "divergence": "divergence",
        "ensemble.dataset": "dataset",
    }

    generator: ComponentSpec
    classifiers: list[ComponentSpec] = Field(
        min_length=2, description="M >= 2 differentiable classifiers with the same classes"
    )
    divergence: ComponentSpec = Field(default_factory=lambda: ComponentSpec(name="js"))
    conditions: list[str] | None = Field(
        None,
        min_length=1,
        description="conditions of a class-conditional generator, cycled over the starts; "
        "default: all of the generator's conditions",
    )
    starts: int = Field(
        64, gt=0, le=1_000_000,
        description="B: number of starting latents (at most 1,000,000: every start's latents "
        "are kept for the report)",
    )
    chunk: int = Field(
        64, gt=0, le=4096,
        description="starts optimised together in one batch (at most 4096: a batch's images "
        "and gradients are in memory together)",
    )
    steps: int = Field(
        100, ge=1, le=100_000, description="T: gradient steps per start (at most 100,000)"
    )
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = Field(0.02, gt=0, description="learning rate")
    prior_weight: float = Field(0.001, ge=0, description="λ, weight of log p(z)")
    record_every: int = Field(
        10, gt=0, validate_default=True,
        description="record every this many steps (and the last); a chunk's records, "
        f"(steps / record_every + 1) x chunk, are held in memory: at most {MAX_TRACE_ROWS:,}",
    )
    top_n: int = Field(
        3, gt=0, le=1000,
        description="n of each classifier's recorded top-n predictions (at most 1000)",
    )
    hierarchy: str = Field(
        "auto",
        description="class hierarchy for the set distance: 'auto', 'imagenet', 'flat' or the "
        "path of a JSON tree",
    )
    show: int = Field(
        16, gt=0, le=1024, description="samples in the before/after image grid (at most 1024)"
    )
    ensemble: EnsembleConfig | None = None

    def input_files(self) -> dict[str, Path]:
        """The files the run reads (their content is part of the run's identity)."""
        files = {}
        if self.hierarchy not in HIERARCHY_KEYWORDS:
            files["hierarchy"] = Path(self.hierarchy)
        if self.ensemble is not None and self.ensemble.path is not None:
            files["ensemble.path"] = self.ensemble.path
        return files

    @field_validator("record_every")
    @classmethod
    def _trace_fits(cls, v: int, info: ValidationInfo) -> int:
        d = info.data  # starts, chunk and steps come first (when they were valid)
        if {"starts", "chunk", "steps"} <= d.keys():
            rows = (d["steps"] // v + 1) * min(d["chunk"], d["starts"])
            if rows > MAX_TRACE_ROWS:
                raise PydanticCustomError(
                    "too_large",
                    "(steps / record_every + 1) x chunk = {rows} records per chunk, more than "
                    "{most} (held in memory); raise record_every or lower chunk",
                    {"rows": f"{rows:,}", "most": f"{MAX_TRACE_ROWS:,}"},
                )
        return v

    @model_validator(mode="after")
    def _chunk_at_most_starts(self) -> MdsConfig:
        if self.chunk > self.starts:
            object.__setattr__(self, "chunk", self.starts)
        return self

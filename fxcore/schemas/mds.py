"""Config of the ``mds`` job (GeValDi, Algorithm 1) and of its ensemble study (appendix F)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from fxcore.schemas.common import ComponentSpec, JobConfig, Strict

#: ``hierarchy`` values that name no file
HIERARCHY_KEYWORDS = ("auto", "imagenet", "flat")


class EnsembleConfig(Strict):
    """``fx mds --ensemble``: the classifiers form a bagging ensemble (mean probability).

    ``data`` names the real data: ``"module:function"``, called with ``data_args`` as keyword
    arguments, returning an object whose ``split("train")`` / ``split("test")`` give
    ``(images, labels)`` (``uint8 (N, H, W)`` or float ``(N, C, H, W)`` in [0, 1]; class
    indices), or the path of an ``.npz`` file with ``train_images``, ``train_labels``,
    ``test_images``, ``test_labels``. With ``bootstrap`` each classifier is fit (its ``fit``
    method) on its own bootstrap sample of the training split; build them untrained.
    """

    data: str = Field(description="'module:function' or a .npz path")
    data_args: dict[str, str | int | float | bool] = Field(default_factory=dict)
    bootstrap: bool = Field(True, description="fit each classifier on a bootstrap sample")
    test_size: int | None = Field(None, gt=0, description="use the first N test images")
    eps_grid: list[float] = Field(
        default_factory=lambda: [round(0.5 + 0.125 * i, 3) for i in range(21)],
        min_length=1,
        description="DBSCAN eps values tried on the standardised MDS latents (0.5 .. 3)",
    )
    min_samples: int = Field(5, gt=0, description="DBSCAN min_samples")
    examples_per_cluster: int = Field(8, gt=0)


class MdsConfig(JobConfig):
    """``fx mds CONFIG``: latents whose images make ``classifiers`` disagree most.

    Maximises ``D[{p_m(y | g(z, c))}_m] + λ · log p(z)`` over ``z`` by gradient ascent from
    ``starts`` initial latents, processed ``chunk`` at a time (each chunk is one batch optimised
    together and recorded as one unit, so a resumed run skips finished chunks).
    """

    component_fields: ClassVar[dict[str, str]] = {
        "generator": "generator",
        "classifiers": "classifier",
        "divergence": "divergence",
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
    starts: int = Field(64, gt=0, description="B: number of starting latents")
    chunk: int = Field(64, gt=0, description="starts optimised together in one batch")
    steps: int = Field(100, ge=1, description="T: gradient steps per start")
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = Field(0.02, gt=0, description="learning rate")
    prior_weight: float = Field(0.001, ge=0, description="λ, weight of log p(z)")
    record_every: int = Field(10, gt=0, description="record every this many steps (and the last)")
    top_n: int = Field(3, gt=0, description="n of each classifier's recorded top-n predictions")
    hierarchy: str = Field(
        "auto",
        description="class hierarchy for the set distance: 'auto', 'imagenet', 'flat' or the "
        "path of a JSON tree",
    )
    show: int = Field(16, gt=0, description="samples in the before/after image grid")
    ensemble: EnsembleConfig | None = None

    def input_files(self) -> dict[str, Path]:
        """The files the run reads (their content is part of the run's identity)."""
        files = {}
        if self.hierarchy not in HIERARCHY_KEYWORDS:
            files["hierarchy"] = Path(self.hierarchy)
        if self.ensemble is not None and self.ensemble.data.endswith(".npz"):
            files["ensemble.data"] = Path(self.ensemble.data)
        return files

    @model_validator(mode="after")
    def _chunk_at_most_starts(self) -> MdsConfig:
        if self.chunk > self.starts:
            object.__setattr__(self, "chunk", self.starts)
        return self

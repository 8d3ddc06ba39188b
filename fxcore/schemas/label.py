"""Config of the ``label`` job (OPAL, Algorithms 1 and 4)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import (
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from fxcore.schemas.common import ComponentSpec, JobConfig, Strict, no_code

TABULAR: tuple[Literal["rf", "lr", "gb"], ...] = ("rf", "lr", "gb")
USE_DATASET = ('name a registered data set instead: dataset = "mnist/mnist" (with split = '
               '"test" for a part of it; fx plugins lists the data sets), path = "items.npz", '
               'folder = "images/" or csv = "images.csv"')


class LabelData(Strict):
    """Where the items to label come from: exactly one of

    - ``dataset``, a registered data set (``"plugin/name"`` or ``{name, params}``; ``fx
      plugins`` lists them) and its ``split`` (default ``"all"``);
    - ``path``, an ``.npz`` file with ``images``, optional ``labels`` and ``classes``;
    - ``folder``, a folder of image files: one subfolder per class (the ImageFolder layout; the
      subfolder names are the labels) or the images directly in it (no labels);
    - ``csv``, a CSV file with a ``path`` column (relative to the CSV's folder) and an optional
      ``label`` column (class names).

    Images of ``folder`` / ``csv`` are read with Pillow as ``channels`` (3: RGB, 1: grey) and
    resized to ``size`` (``H`` or ``[H, W]``; default: every image must have the first one's
    size). Their ``classes`` default to the first classifier's; a label that is not one of them
    is an error. Labels are the ground truth, used only by the ``simulate`` annotator and for
    scoring; unlabelled items need a person (annotator ``file`` or ``prompt``). ``limit`` keeps
    a random subset of that many items (seeded by the run's seed). A config never names code
    to run. See docs/howto.md.
    """

    dataset: ComponentSpec | None = None
    split: str | None = Field(None, description="split of the dataset (default 'all')")
    path: Path | None = None
    folder: Path | None = Field(None, description="image folder: class subfolders or flat")
    csv: Path | None = Field(None, description="CSV of image paths (+ optional labels)")
    classes: list[str] | None = Field(
        None, min_length=2, description="folder/csv: class names (default: the classifiers')")
    size: int | tuple[int, int] | None = Field(
        None, description="folder/csv: resize every image to H or [H, W] pixels")
    channels: Literal[1, 3] = Field(3, description="folder/csv: 3 (RGB) or 1 (grey)")
    limit: int | None = Field(None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _no_loader(cls, data: Any) -> Any:
        if isinstance(data, dict) and "loader" in data:
            raise no_code("loader", data["loader"], USE_DATASET)
        return data

    @model_validator(mode="after")
    def _one_source(self) -> LabelData:
        given = [k for k in ("dataset", "path", "folder", "csv") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of data.dataset, data.path, data.folder and "
                             "data.csv" + (f" (got {', '.join(given)})" if given else ""))
        if self.split is not None and self.dataset is None:
            raise ValueError("data.split applies to data.dataset only")
        if self.folder is None and self.csv is None:
            extra = [k for k in IMAGE_FILE_KEYS if k in self.model_fields_set]
            if extra:
                raise ValueError(f"data.{extra[0]} applies to data.folder and data.csv only")
        size = (self.size, self.size) if isinstance(self.size, int) else self.size
        if size is not None and min(size) < 1:
            raise ValueError(f"data.size must be positive pixels, got {self.size}")
        if self.classes is not None and len(set(self.classes)) != len(self.classes):
            raise ValueError("data.classes has duplicate names")
        return self

    @model_serializer(mode="wrap")
    def _omit_unset(self, handler: SerializerFunctionWrapHandler,
                    info: SerializationInfo) -> dict[str, Any]:
        """Without folder / csv the data dumps (and hashes) as before they existed, so older
        runs keep resuming."""
        data = handler(self)
        if isinstance(data, dict):
            for key in ("folder", "csv", *IMAGE_FILE_KEYS):
                if key in data and data[key] == LabelData.model_fields[key].default:
                    del data[key]
        return data


#: keys of ``[data]`` that only image files (``folder`` / ``csv``) take
IMAGE_FILE_KEYS = ("classes", "size", "channels")


class SplitConfig(Strict):
    """OPAL step 1: cluster the items, draw a fraction ``h`` equally from each cluster, split it
    into a fine-tuning set and an optimisation set of size ``m = min(max_optimisation, h·N/2)``.

    ``method = "kmeans-pca"`` (default; OPAL's replication code: k-means on a 2-D PCA of the
    items' representation) or ``"dbscan"`` (the paper's text; DBSCAN on the same 2-D PCA).
    ``representation``: ``"classifier"`` uses the first classifier's ``features`` (pixels when
    none offers features), ``"pixels"`` the flattened images.
    """

    fraction: float = Field(
        0.25, gt=0, lt=1, description="h: fraction of the items a person labels first"
    )
    method: Literal["kmeans-pca", "dbscan"] = "kmeans-pca"
    n_clusters: int = Field(10, gt=0, description="k of k-means")
    eps: float | None = Field(None, gt=0, description="DBSCAN radius (default: from k-distances)")
    min_samples: int = Field(5, gt=0, description="DBSCAN core-point neighbours")
    max_optimisation: int = Field(1000, gt=0, description="cap of m (the paper: 1000)")
    representation: Literal["classifier", "pixels"] = "classifier"


Pick = Literal["uncertain", "margin", "disagreement", "random"]
"""How active learning picks the items a person labels next (:mod:`fxcore.label.active`)."""


class ActiveConfig(Strict):
    """Active learning: a person labels the items the classifiers are least sure of, in rounds.

    With a certificate (the default), each round asks ``batch`` (a fraction of the items, or
    ``beta`` items) chosen by ``pick`` among the items the planned certificate would leave to a
    person anyway, refits the classifiers on everything labelled so far (``refit``), and stops
    when the rest can be auto-labelled (apart from the certificate's random sample).
    Without a certificate it is OPAL-AL (Algorithm 4): the asked items join the optimisation set.

    ``pick``: ``"uncertain"`` (lowest policy score first), ``"margin"`` (smallest gap between
    the two most probable classes), ``"disagreement"`` (most split vote) or ``"random"``.
    """

    beta: int | None = Field(None, gt=0, description="items per round (overrides batch)")
    batch: float = Field(0.025, gt=0, lt=1, description="items per round, a fraction of all")
    pick: Pick = "uncertain"
    refit: bool = Field(True, description="refit the classifiers on all labelled items per round")
    max_rounds: int = Field(1000, gt=0)

    def size(self, n_items: int) -> int:
        """Items asked per round."""
        return self.beta if self.beta is not None else max(1, math.ceil(self.batch * n_items))


class CertifyConfig(Strict):
    """The accuracy certificate: with probability ≥ 1 − ``delta`` the final labels (a person's
    count as correct) have accuracy ≥ α. A uniform random sample of the items the policy would
    auto-label is labelled by a person and a fixed-sequence test picks the policy's threshold
    (:mod:`fxcore.label.certify`). ``enabled = false`` gives plain OPAL (no guarantee)."""

    enabled: bool = True
    delta: float = Field(0.05, gt=0, lt=1, description="δ: allowed probability of missing α")
    score: Literal["mean", "labeller"] = Field(
        "mean", description="order of the candidates: the agreeing classifiers' mean confidence, "
        "or the labeller's own score (OPAL: Σ_k w_k c_ik)")


class _LabelCommon(JobConfig):
    """Fields shared by the image and the table form of the label job."""

    labeller: ComponentSpec = Field(default_factory=lambda: ComponentSpec(name="opal-milp"))
    annotator: ComponentSpec = Field(default_factory=lambda: ComponentSpec(name="simulate"))
    target_accuracy: float = Field(gt=0, le=1, description="α: required labelling accuracy")
    split: SplitConfig = Field(default_factory=SplitConfig)
    active: ActiveConfig | None = None
    certify: CertifyConfig = Field(default_factory=CertifyConfig)


class LabelConfig(_LabelCommon):
    """``fx label CONFIG``: label ``data`` to ``target_accuracy`` with the least manual effort."""

    component_fields: ClassVar[dict[str, str]] = {
        "classifiers": "classifier",
        "labeller": "labeller",
        "annotator": "annotator",
        "data.dataset": "dataset",
    }

    data: LabelData
    classifiers: list[ComponentSpec] = Field(min_length=1)
    finetune: bool = Field(True, description="fit each classifier on the fine-tuning set")
    batch_size: int = Field(256, gt=0, description="images per predict_proba call")

    def input_files(self) -> dict[str, Path]:
        """The files the run reads (their content is part of the run's identity)."""
        files = {"data.path": self.data.path, "data.csv": self.data.csv}
        return {k: v for k, v in files.items() if v is not None}  # folder images: items.files


class LabelTableConfig(_LabelCommon):
    """``fx label --table CSV``: the same run on a ready-made feature table (e.g. image
    comparison metrics of (original, transformed) pairs, OPAL RQ3), with tabular classifiers
    (``rf`` random forest, ``lr`` logistic regression, ``gb`` gradient boosting).

    ``nonfinite``: what to do with ±inf / NaN feature values: ``error`` (default), ``clip``
    (±inf become the column's finite extremes; NaN is still an error) or ``drop`` (rows with
    any such value are left out, and counted in the summary)."""

    component_fields: ClassVar[dict[str, str]] = {"labeller": "labeller", "annotator": "annotator"}

    table: Path
    label_column: str = Field(description="ground truth: used by the simulator and for scoring")
    features: list[str] | None = Field(None, description="default: every other column")
    id_column: str | None = Field(None, description="item ids (default: the row number)")
    classifiers: list[Literal["rf", "lr", "gb"]] = Field(
        default_factory=lambda: list(TABULAR), min_length=1
    )
    nonfinite: Literal["error", "clip", "drop"] = "error"

    def input_files(self) -> dict[str, Path]:
        """The files the run reads (their content is part of the run's identity)."""
        return {"--table": self.table}

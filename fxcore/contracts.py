"""Component contracts: what a plugin's component must offer, one Protocol per kind.

Images cross boundaries as float tensors ``(N, C, H, W)`` in ``[0, 1]`` on the component's
device. ``C`` is 3 for colour images; grey images may use ``C = 1`` and say so through the
component's ``channels`` attribute (consumers repeat the channel where they need 3).
Probabilities are ``(N, n_classes)`` tensors (classifiers) or ``(M, N, n_classes)`` arrays
(M classifiers stacked, for divergences and labellers).

The contracts are ``typing.Protocol`` classes: a component needs no fxcore base class, only the
methods below. ``runtime_checkable`` lets the kernel check the methods exist when it builds one.

Optional members are Protocols of their own (:class:`AttributeChecker`, :class:`Fittable`,
:class:`HasFeatures`, :class:`OnDevice`, :class:`DeclaresChannels`, :class:`Attachable`,
:class:`Exporting`, :class:`ScoredPolicy`, :class:`ConditionedPolicy`; :data:`OPTIONAL` lists
them by kind): a pipeline asks ``isinstance(component, Fittable)`` before it calls ``fit``, so
every member a pipeline uses is declared here, by name and type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # annotations only: importing the contracts must not cost torch's start-up
    import torch

    from fxcore.schemas import EvaluationDomain, Subdomain


@runtime_checkable
class Generator(Protocol):
    """Renders images of a subdomain.

    ``generate(prompt, attributes, n, seed)``: ``n`` images ``(n, C, H, W)`` in ``[0, 1]``; the
    same ``(prompt, attributes, n, seed)`` gives the same images, and image ``i`` of a call with
    seed ``s`` can be regenerated alone (plugins document how, e.g. ``seed + i``).

    Optional: :class:`AttributeChecker` (``check_attributes``).
    """

    channels: int

    def generate(
        self, prompt: str, attributes: dict[str, str], n: int, seed: int
    ) -> torch.Tensor: ...


@runtime_checkable
class LatentGenerator(Protocol):
    """A generator with an explicit latent space, used by ``mds`` (GeValDi); its own kind
    (``latent-generator``, hook ``fxcore_register_latent_generators``), not a generator.

    ``decode(z, condition)`` must be differentiable in ``z``; ``condition`` is a ``LongTensor``
    ``(n,)`` of indices into ``conditions`` (or ``None`` for an unconditional generator).
    ``log_prior(z)`` returns ``log p(z)`` per row (up to a constant). ``conditions`` lists the
    valid conditions (class names) or is ``None`` for an unconditional generator.
    """

    latent_dim: int
    channels: int
    conditions: Sequence[str] | None

    def sample_latent(self, n: int, seed: int) -> torch.Tensor: ...

    def decode(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor: ...

    def log_prior(self, z: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Classifier(Protocol):
    """Maps images to class probabilities.

    ``classes``: the names of the output columns. ``predict_proba(images) -> (N, C)``.
    ``differentiable``: ``True`` when gradients flow from the probabilities to the images
    (required by ``mds``). Optional: :class:`Fittable` (``fit``, fine-tuning, used by ``label``
    and ``mds``'s bagged ensembles), :class:`HasFeatures` (``features``), :class:`OnDevice`
    (``device``, where ``explore`` moves the images) and :class:`DeclaresChannels` (``channels``,
    for a classifier of grey images).
    """

    classes: Sequence[str]
    differentiable: bool

    def predict_proba(self, images: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Filter(Protocol):
    """Drops generated images that do not show their subdomain.

    ``keep(images, subdomain, domain) -> (mask, scores)``: a boolean ``(N,)`` tensor of images to
    keep and a float ``(N,)`` tensor of the scores behind the decision.
    """

    def keep(
        self, images: torch.Tensor, subdomain: Subdomain, domain: EvaluationDomain
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


@dataclass
class Observations:
    """What a selector knows: evaluated subdomain rows and their accuracies (in order)."""

    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    accuracy: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))

    def __len__(self) -> int:
        return len(self.rows)


@runtime_checkable
class Selector(Protocol):
    """Decides which subdomain(s) to evaluate next (the BO paper, Algorithm 1).

    ``setup(space, seed)`` is called once before the first proposal with the
    :class:`fxcore.domain.SubdomainSpace`. ``propose(observed, candidates, k)`` returns up to
    ``k`` distinct rows taken from ``candidates`` (the rows not evaluated yet). A selector must be
    deterministic given its seed and the sequence of calls: a resumed run replays the calls with
    the recorded observations to rebuild the selector's state.
    """

    def setup(self, space: Any, seed: int) -> None: ...

    def propose(self, observed: Observations, candidates: np.ndarray, k: int) -> np.ndarray: ...


@runtime_checkable
class Divergence(Protocol):
    """Disagreement of M predictive distributions: ``(M, N, C) -> (N,)``, differentiable.

    Input rows are probabilities (they sum to 1); implementations clamp before taking logs.
    """

    def __call__(self, probs: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class LabelPolicy(Protocol):
    """A fitted labelling policy (OPAL): which items to auto-label, and with which label.

    ``status``, ``gap`` (``None`` where the solver has none), ``seconds`` and ``message`` report
    the solver. Optional: :class:`ScoredPolicy` (``scores``), :class:`ConditionedPolicy`
    (``condition``).
    """

    status: str
    gap: float | None
    seconds: float
    message: str

    def decide(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``probs (M, N, C)`` -> ``(auto (N,) bool, labels (N,) int)``; label -1 where manual."""
        ...


@runtime_checkable
class Labeller(Protocol):
    """Fits a policy on an optimisation set: ``fit(probs (M, N, C), truth (N,), α)``."""

    def fit(self, probs: np.ndarray, truth: np.ndarray, target_accuracy: float) -> LabelPolicy: ...


@runtime_checkable
class Annotator(Protocol):
    """Answers "ask a person": ``annotate(item_ids, suggestions) -> labels``.

    ``suggestions`` is ``(len(item_ids), M)`` classifier predictions shown to the person (or
    ``None``). Returns one class index per item, or ``None`` for items not answered yet (a file
    round trip answers later; the run can then be resumed). Optional: :class:`Attachable`
    (``attach``), :class:`Exporting` (``last_export``).
    """

    def annotate(
        self, item_ids: Sequence[str], suggestions: np.ndarray | None = None
    ) -> list[int | None]: ...


@runtime_checkable
class Dataset(Protocol):
    """Real labelled images, read from files the plugin knows (configs name it, never code).

    ``classes``: the class names; ``splits``: the split names offered (``"all"`` for every
    image, usually also ``"train"`` and ``"test"``); ``split(which) -> (images, labels)`` with
    images ``uint8 (N, H, W)`` / ``(N, C, H, W)`` or float in ``[0, 1]`` and labels ``(N,)``
    class indices. Optional ``files``: the paths it reads, whose sha256 joins a run's identity.
    """

    classes: Sequence[str]
    splits: Sequence[str]

    def split(self, which: str) -> tuple[Any, Any]: ...


@runtime_checkable
class Executor(Protocol):
    """Runs a job's work items ("tasks") on workers that keep their components loaded.

    ``start(make_worker, setup, local)``: start the workers. Each worker is
    ``make_worker(setup)`` (a module-level function and a picklable ``setup``, so a worker in
    another process or on another machine builds its own components from the config's specs:
    models are never shipped), a callable ``task -> result``. ``local``: a worker already built
    in this process, which an in-process executor uses instead of building one.
    ``submit(key, task)`` queues a task; ``wait()`` blocks until a submitted task is done and
    returns ``(key, result)`` (in any order; a task whose worker died is retried, so every
    submitted task returns once), re-raising a task's own exception. ``cancel()`` forgets every
    task not returned yet; ``close()`` stops the workers. ``slots``: how many tasks are worth
    having in flight at once (1 for a sequential executor). ``remote``: ``True`` when the
    workers live in other processes, so components given as objects cannot reach them.

    The driver alone writes the run store, in the order it chooses, as results return.
    """

    slots: int
    remote: bool

    def start(self, make_worker: Any, setup: Any, local: Any = None) -> None: ...

    def submit(self, key: Any, task: Any) -> None: ...

    def wait(self) -> tuple[Any, Any]: ...

    def cancel(self) -> None: ...

    def close(self) -> None: ...


# ---------------------------------------------------------------- optional members


@runtime_checkable
class AttributeChecker(Protocol):
    """Generator, optional: ``check_attributes({attribute: [values]})`` raises a one-line
    ``ValueError`` naming the attribute and value it cannot render; ``fx explore`` calls it
    before the run directory is created, so the mistake is a config error (exit 2)."""

    def check_attributes(self, attributes: dict[str, Sequence[str]]) -> None: ...


@runtime_checkable
class Fittable(Protocol):
    """Classifier, optional: ``fit(images, labels)`` fine-tunes in place (``label``; bagged
    ensembles in ``mds``)."""

    def fit(self, images: Any, labels: Any) -> Any: ...


@runtime_checkable
class HasFeatures(Protocol):
    """Classifier, optional: ``features(images) -> (N, D)``, a representation of each image."""

    def features(self, images: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class OnDevice(Protocol):
    """Classifier, optional: ``device`` (a ``torch.device`` or its name) the images go to."""

    device: Any


@runtime_checkable
class DeclaresChannels(Protocol):
    """Classifier, optional: ``channels`` it expects (1 for grey); images are matched to it."""

    channels: int


@runtime_checkable
class Attachable(Protocol):
    """Annotator, optional: ``attach(context)`` is called once before the first question with
    the run's context (items, store, probabilities as they become known)."""

    def attach(self, context: Any) -> None: ...


@runtime_checkable
class Exporting(Protocol):
    """Annotator, optional: ``last_export``, the files it wrote for a person to answer."""

    last_export: Sequence[str | Path]


@runtime_checkable
class ScoredPolicy(Protocol):
    """Label policy, optional: ``scores(probs) -> (agree, label, score)`` per item, the policy's
    own ranking (used by the certificate)."""

    def scores(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


@runtime_checkable
class ConditionedPolicy(Protocol):
    """Label policy, optional: ``condition``, OPAL's agreement condition (default ``"all"``)."""

    condition: str


#: component kind names (the ``kind`` argument of :meth:`fxcore.plugins.Registry.create`)
Kind = Literal[
    "generator", "latent-generator", "filter", "classifier", "selector", "divergence",
    "labeller", "annotator", "dataset", "executor",
]

#: kind -> the Protocol its components follow
CONTRACTS: dict[str, type] = {
    "generator": Generator,
    "latent-generator": LatentGenerator,
    "filter": Filter,
    "classifier": Classifier,
    "selector": Selector,
    "divergence": Divergence,
    "labeller": Labeller,
    "annotator": Annotator,
    "dataset": Dataset,
    "executor": Executor,
}

#: kind -> the optional members' Protocols (checked with ``isinstance`` where used)
OPTIONAL: dict[str, tuple[type, ...]] = {
    "generator": (AttributeChecker,),
    "classifier": (Fittable, HasFeatures, OnDevice, DeclaresChannels),
    "annotator": (Attachable, Exporting),
    "labeller": (),  # its policy: ScoredPolicy, ConditionedPolicy
}

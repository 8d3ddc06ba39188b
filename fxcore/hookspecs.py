"""Hook specifications: one registration hook per component kind.

A plugin module implements any of these with ``@fxcore.hookimpl`` and calls ``register`` once per
component it provides::

    import fxcore

    @fxcore.hookimpl
    def fxcore_register_selectors(register):
        register("my-selector", MySelector, MySelectorParams)

``register(name, factory, params_model=None)``:

- ``name``: lower-case identifier (letters, digits, ``-``, ``_``, ``.``), unique within the plugin.
  Users refer to it as ``name`` or ``plugin/name``.
- ``factory``: a callable ``factory(**params) -> component``; a class is the usual choice.
- ``params_model``: a pydantic model of the factory's keyword arguments (``extra="forbid"``), or
  ``None`` when the factory takes none. Config errors then name the exact field.

The component returned by ``factory`` must follow the matching contract in
:mod:`fxcore.contracts`. Every hook is called once per plugin; an exception in a hook, or a wrong
argument to ``register``, disables that plugin only and is reported by ``fx plugins``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

from fxcore import PROJECT_NAME

if TYPE_CHECKING:  # an annotation only: fx plugins need not import pydantic for it
    from pydantic import BaseModel

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


class Register(Protocol):
    """The ``register`` callable handed to every registration hook."""

    def __call__(
        self, name: str, factory: Callable[..., Any], params_model: type[BaseModel] | None = None
    ) -> None: ...


@hookspec
def fxcore_register_generators(register: Register) -> None:
    """Register image generators for ``explore``: prompt and attributes in, images out
    (contract :class:`fxcore.contracts.Generator`). Generators with a latent space for ``mds``
    register with :func:`fxcore_register_latent_generators` instead.

    Example::

        @fxcore.hookimpl
        def fxcore_register_generators(register):
            register("sd21", StableDiffusionGenerator, SD21Params)
    """


@hookspec
def fxcore_register_latent_generators(register: Register) -> None:
    """Register latent generators for ``mds``: a latent ``z`` (and a condition) in, images out,
    differentiable (contract :class:`fxcore.contracts.LatentGenerator`). A kind of its own: a
    config that names one where a generator is wanted (or the reverse) is a config error.

    Example::

        @fxcore.hookimpl
        def fxcore_register_latent_generators(register):
            register("biggan", BigGANGenerator, BigGANParams)
    """


@hookspec
def fxcore_register_filters(register: Register) -> None:
    """Register image filters (contract :class:`fxcore.contracts.Filter`).

    Example::

        @fxcore.hookimpl
        def fxcore_register_filters(register):
            register("clip", ClipPromptFilter, ClipFilterParams)
    """


@hookspec
def fxcore_register_classifiers(register: Register) -> None:
    """Register image classifiers (contract :class:`fxcore.contracts.Classifier`).

    Example::

        @fxcore.hookimpl
        def fxcore_register_classifiers(register):
            register("timm", TimmClassifier, TimmParams)
    """


@hookspec
def fxcore_register_selectors(register: Register) -> None:
    """Register subdomain selectors (contract :class:`fxcore.contracts.Selector`).

    Example::

        @fxcore.hookimpl
        def fxcore_register_selectors(register):
            register("random", RandomSelector)
    """


@hookspec
def fxcore_register_divergences(register: Register) -> None:
    """Register divergences over M predictive distributions (contract
    :class:`fxcore.contracts.Divergence`).

    Example::

        @fxcore.hookimpl
        def fxcore_register_divergences(register):
            register("js", JensenShannon)
    """


@hookspec
def fxcore_register_labellers(register: Register) -> None:
    """Register labellers (contract :class:`fxcore.contracts.Labeller`).

    Example::

        @fxcore.hookimpl
        def fxcore_register_labellers(register):
            register("opal-milp", OpalMilpLabeller, OpalMilpParams)
    """


@hookspec
def fxcore_register_annotators(register: Register) -> None:
    """Register annotators, who answer "ask a person" (contract
    :class:`fxcore.contracts.Annotator`).

    Example::

        @fxcore.hookimpl
        def fxcore_register_annotators(register):
            register("simulate", GroundTruthAnnotator)
    """


@hookspec
def fxcore_register_datasets(register: Register) -> None:
    """Register data sets: real labelled images a config names instead of code (contract
    :class:`fxcore.contracts.Dataset`).

    Example::

        @fxcore.hookimpl
        def fxcore_register_datasets(register):
            register("mnist", MnistDigits)
    """


@hookspec
def fxcore_register_executors(register: Register) -> None:
    """Register executors, which evaluate a batch of subdomains on workers (contract
    :class:`fxcore.contracts.Executor`); the kernel's ``local`` runs them one after another in
    the driver's process, the plugin fxcore-ray on the actors of a Ray cluster.

    Example::

        @fxcore.hookimpl
        def fxcore_register_executors(register):
            register("ray", RayExecutor, RayParams)
    """


#: component kind -> name of its registration hook
HOOK_BY_KIND: dict[str, str] = {
    "generator": "fxcore_register_generators",
    "latent-generator": "fxcore_register_latent_generators",
    "filter": "fxcore_register_filters",
    "classifier": "fxcore_register_classifiers",
    "selector": "fxcore_register_selectors",
    "divergence": "fxcore_register_divergences",
    "labeller": "fxcore_register_labellers",
    "annotator": "fxcore_register_annotators",
    "dataset": "fxcore_register_datasets",
    "executor": "fxcore_register_executors",
}
KINDS: tuple[str, ...] = tuple(HOOK_BY_KIND)

#: the entry-point group of plugin manifests: ``"<kind>.<name>" = "<plugin module>"``, one entry
#: per component, read from the distribution's metadata without importing the plugin
MANIFEST_GROUP = "fxcore.components"

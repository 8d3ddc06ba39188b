"""fxcore-mnist: the reference plugin on real 28×28 data (MNIST-5k, Fashion-MNIST).

Components (names are stable):

- generator ``render``: real test-split images of a class, changed as the attributes say
  (:mod:`fxcore_mnist.render`);
- latent generator ``cvae``: a conditional VAE for ``mds`` (:mod:`fxcore_mnist.cvae`), also a
  generator (its ``generate`` renders the class the prompt names);
- classifiers ``cnn``, ``mlp``, ``linear``: trained on first use, cached
  (:mod:`fxcore_mnist.classifiers`);
- filter ``ink``: drops images whose digit is mostly destroyed (:mod:`fxcore_mnist.filters`);
- data sets ``mnist`` (MNIST-5k) and ``fashion`` (Fashion-MNIST), each with the splits
  ``train``, ``test`` and ``all`` (:mod:`fxcore_mnist.data`).

Plain-python API: :func:`load_dataset`, :func:`to_tensor`, :func:`load_classifier`.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from fxcore import hookimpl

from fxcore_mnist.classifiers import (
    ClassifierParams,
    MnistClassifier,
    load_classifier,
    make_cnn,
    make_linear,
    make_mlp,
)
from fxcore_mnist.data import Dataset, load_dataset, to_tensor
from fxcore_mnist.filters import InkFilter, InkParams
from fxcore_mnist.render import VOCABULARY, Render, RenderParams

__all__ = [
    "VOCABULARY",
    "ClassifierParams",
    "Dataset",
    "InkFilter",
    "MnistClassifier",
    "Render",
    "load_classifier",
    "load_dataset",
    "to_tensor",
]


@hookimpl
def fxcore_register_generators(register: Any) -> None:
    register("render", Render, RenderParams)
    from fxcore_mnist.cvae import ConditionalVAE, CvaeParams

    register("cvae", ConditionalVAE, CvaeParams)  # generate() renders the class a prompt names


@hookimpl
def fxcore_register_latent_generators(register: Any) -> None:
    from fxcore_mnist.cvae import ConditionalVAE, CvaeParams  # mds's conditional VAE

    register("cvae", ConditionalVAE, CvaeParams)


@hookimpl
def fxcore_register_classifiers(register: Any) -> None:
    register("cnn", make_cnn, ClassifierParams)
    register("mlp", make_mlp, ClassifierParams)
    register("linear", make_linear, ClassifierParams)


@hookimpl
def fxcore_register_filters(register: Any) -> None:
    register("ink", InkFilter, InkParams)


@hookimpl
def fxcore_register_datasets(register: Any) -> None:
    register("mnist", partial(load_dataset, "mnist"))
    register("fashion", partial(load_dataset, "fashion"))

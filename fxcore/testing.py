"""Shared pieces of the plugins' test suites (needs pytest; never imported by fxcore itself).

A model plugin's ``conftest.py``::

    from fxcore.testing import no_network, offline_and_one_thread

    offline_and_one_thread()   # before any hub library is imported

A selector plugin's ``conftest.py`` builds its domain with :func:`example_space`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from fxcore.domain import SubdomainSpace
from fxcore.models import OFFLINE_VARS, forbid_network
from fxcore.schemas import EvaluationDomain

PLUGIN_SWITCHES = ("FXCORE_PLUGINS_STRICT", "FXCORE_PLUGINS_ALLOW", "FXCORE_PLUGINS_DENY")


def offline_and_one_thread() -> None:
    """Hubs' offline switches on, and one torch thread.

    Tiny test models gain nothing from more threads, and on a busy 2-core machine OpenMP threads
    spinning against each other make every call 10-30x slower.
    """
    import torch

    for var in OFFLINE_VARS:
        os.environ[var] = "1"
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test: no plugin switches from the developer's shell, every socket refused."""
    for var in PLUGIN_SWITCHES:
        monkeypatch.delenv(var, raising=False)
    with forbid_network():
        yield


def example_space() -> SubdomainSpace:
    """4 attributes (3·3·2·4 = 72 combinations), two invalid rules -> 56 valid subdomains."""
    domain = EvaluationDomain(
        attributes={
            "view": ["front", "side", "back"],
            "color": ["black", "white", "brown"],
            "time": ["day", "night"],
            "weather": ["sunny", "rain", "snow", "fog"],
        },
        invalid=[
            {"time": "night", "weather": "sunny"},
            {"view": "back", "weather": ["snow", "fog"]},
        ],
        prompt_template="a {view} view of a {color} {true_class}, {time}, {weather}",
        true_class="dog",
    )
    return SubdomainSpace(domain)

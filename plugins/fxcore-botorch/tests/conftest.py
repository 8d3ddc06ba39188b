"""Shared fixtures: a small evaluation domain with invalid combinations."""

from __future__ import annotations

import pytest

from fxcore.domain import SubdomainSpace
from fxcore.schemas import EvaluationDomain


@pytest.fixture
def space() -> SubdomainSpace:
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


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> None:
    """Small GPs gain nothing from threads; on a shared 2-core machine they lose a lot."""
    import torch

    torch.set_num_threads(1)

"""Shared fixtures: a small evaluation domain with invalid combinations."""

from __future__ import annotations

import pytest

from fxcore.domain import SubdomainSpace
from fxcore.testing import example_space


@pytest.fixture
def space() -> SubdomainSpace:
    """The kernel's small test domain: 56 valid subdomains of 72."""
    return example_space()

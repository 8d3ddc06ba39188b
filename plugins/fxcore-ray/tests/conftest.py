"""One local Ray cluster for the whole suite, as the issue asks: ``ray.init(num_cpus=2)``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """A local 2-CPU Ray cluster; yields its address (subprocess drivers join it)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()

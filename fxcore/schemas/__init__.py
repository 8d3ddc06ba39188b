"""pydantic schemas for everything that crosses a boundary or is written to disk."""

from fxcore.schemas.common import (
    Attribute,
    ComponentSpec,
    Evaluation,
    EvaluationDomain,
    JobConfig,
    Strict,
    Subdomain,
    subdomain_id,
)
from fxcore.schemas.explore import ExploreConfig
from fxcore.schemas.label import LabelConfig
from fxcore.schemas.mds import MdsConfig

__all__ = [
    "Attribute",
    "ComponentSpec",
    "Evaluation",
    "ExploreConfig",
    "EvaluationDomain",
    "JobConfig",
    "LabelConfig",
    "MdsConfig",
    "Strict",
    "Subdomain",
    "subdomain_id",
]

"""Parameters of the ``ray`` executor (``executor = {name = "ray", params = {...}}``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RayParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(
        None,
        description="the Ray cluster to join (ray.init(address=...): 'auto', 'HOST:6379' or "
        "'ray://HOST:10001'); unset: RAY_ADDRESS when set, else a local cluster on this machine "
        "(this process's Ray when it already called ray.init)",
    )
    workers: int | None = Field(
        None, gt=0,
        description="actors (each holds its own loaded components); unset: the cluster's GPUs / "
        "num_gpus, or its CPUs / num_cpus when num_gpus is 0",
    )
    num_gpus: float = Field(0, ge=0, description="GPUs per actor (1: one actor per GPU)")
    num_cpus: float = Field(1, gt=0, description="CPUs per actor")
    max_restarts: int = Field(
        3, ge=0, description="times a dead actor is restarted (it rebuilds its components)"
    )
    max_task_retries: int = Field(
        3, ge=0, description="times a subdomain whose actor died is retried"
    )

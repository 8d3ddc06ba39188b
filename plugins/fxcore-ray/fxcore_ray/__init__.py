"""fxcore plugin ``ray``: the executor ``ray`` evaluates the subdomains of a batch in parallel on
Ray actors that keep their models loaded (one per GPU with ``num_gpus = 1``), the driver alone
writing the run store. Ray is imported when the executor starts, not when it is registered."""

from __future__ import annotations

import fxcore
from fxcore_ray.params import RayParams


def _ray_executor(**params):  # type: ignore[no-untyped-def]
    from fxcore_ray.executor import RayExecutor

    return RayExecutor(RayParams(**params))


@fxcore.hookimpl
def fxcore_register_executors(register):  # type: ignore[no-untyped-def]
    register("ray", _ray_executor, RayParams)

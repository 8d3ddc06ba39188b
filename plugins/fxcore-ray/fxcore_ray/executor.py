"""The ``ray`` executor (contract :class:`fxcore.contracts.Executor`).

- ``start``: joins the cluster at ``address`` (``ray.init(address=...)``) or starts a local one
  (or uses this process's Ray when it is already initialised), then starts ``workers`` actors,
  each with ``num_gpus``/``num_cpus``. Each actor builds its worker with ``make_worker(setup)``
  (the components from the config's specs: models are loaded on the workers, never shipped)
  and holds it for the whole run. ``start`` returns once every actor is ready and raises the
  first build error (a config error stays a config error, found before the run is written).
- ``submit`` sends a task to the actor with the fewest tasks in flight; ``wait`` returns the
  first task done (``ray.wait``), so results stream back as they finish.
- A dead actor (its process killed, its node lost) is restarted by Ray (``max_restarts``) and
  rebuilds its components; its tasks are retried (``max_task_retries``). Tasks are
  deterministic (image seeds derive from run seed, subdomain and round), so a retried task gives
  the same evaluation and the driver records each exactly once.
"""

from __future__ import annotations

import logging
from typing import Any

from fxcore.errors import FxError, RunError
from fxcore_ray.params import RayParams


class _Actor:
    """The body of a Ray actor: one loaded worker."""

    def __init__(self, make_worker: Any, setup: Any) -> None:
        import os

        self.pid = os.getpid()
        self.error: BaseException | None = None
        try:
            self.worker = make_worker(setup)
        except Exception as exc:  # noqa: BLE001 - reported by ready() and run(), not a crash
            self.error = exc

    def ready(self) -> int:
        if self.error is not None:
            raise self.error
        return self.pid

    def run(self, task: Any) -> Any:
        if self.error is not None:
            raise self.error
        return self.worker(task)


class RayExecutor:
    """Evaluates tasks on Ray actors; see the module docstring."""

    remote = True

    def __init__(self, params: RayParams | None = None, **kwargs: Any) -> None:
        self.params = params or RayParams(**kwargs)
        self.slots = 1
        self._actors: list[Any] = []
        self._load: list[int] = []  # tasks in flight per actor
        self._pending: dict[Any, tuple[Any, int]] = {}  # object ref -> (key, actor)
        self._started_ray = False

    # ------------------------------------------------------------------ lifecycle
    def start(self, make_worker: Any, setup: Any, local: Any = None) -> None:
        import ray

        p = self.params
        if not ray.is_initialized():
            ray.init(address=p.address, include_dashboard=False, logging_level=logging.WARNING,
                     configure_logging=True, log_to_driver=True)
            self._started_ray = True
        n = p.workers or self._default_workers(ray.cluster_resources())
        actor = ray.remote(_Actor).options(  # type: ignore[attr-defined]
            num_cpus=p.num_cpus, num_gpus=p.num_gpus, max_restarts=p.max_restarts,
            max_task_retries=p.max_task_retries,
        )
        self._actors = [actor.remote(make_worker, setup) for _ in range(n)]
        self._load = [0] * n
        self.slots = n
        try:
            self.pids = self._get([a.ready.remote() for a in self._actors])
        except BaseException:
            self.close()
            raise

    def _default_workers(self, resources: dict[str, float]) -> int:
        p = self.params
        if p.num_gpus > 0:
            return max(1, int(resources.get("GPU", 0) // p.num_gpus))
        return max(1, int(resources.get("CPU", 1) // p.num_cpus))

    def close(self) -> None:
        import ray

        self._pending.clear()
        if ray.is_initialized():
            for actor in self._actors:
                try:
                    ray.kill(actor, no_restart=True)
                except Exception:  # noqa: BLE001,S110 - already gone
                    pass
            if self._started_ray:
                ray.shutdown()
        self._actors = []
        self._started_ray = False

    # ------------------------------------------------------------------ tasks
    def submit(self, key: Any, task: Any) -> None:
        i = min(range(len(self._actors)), key=self._load.__getitem__)
        ref = self._actors[i].run.remote(task)
        self._pending[ref] = (key, i)
        self._load[i] += 1

    def wait(self) -> tuple[Any, Any]:
        import ray

        if not self._pending:
            raise RuntimeError("RayExecutor.wait with no task submitted")
        done, _ = ray.wait(list(self._pending), num_returns=1)
        ref = done[0]
        key, i = self._pending.pop(ref)
        self._load[i] -= 1
        return key, self._get(ref)

    def cancel(self) -> None:
        import ray

        for ref in self._pending:
            try:
                ray.cancel(ref)
            except Exception:  # noqa: BLE001,S110 - it finished meanwhile
                pass
        self._pending.clear()
        self._load = [0] * len(self._actors)

    def _get(self, ref: Any) -> Any:
        """``ray.get``; a task's own exception is re-raised as itself (a component's
        :class:`RunError` names it), a worker lost for good becomes a :class:`RunError`."""
        import ray
        from ray.exceptions import RayActorError, RayTaskError

        try:
            return ray.get(ref)
        except RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, FxError):
                raise cause from None
            raise RunError(f"a Ray worker failed: {cause or exc}; the run keeps what was "
                           "recorded, fix the cause and pass --resume") from exc
        except RayActorError as exc:
            raise RunError(
                f"a Ray worker died more than {self.params.max_restarts} times or its node was "
                f"lost ({type(exc).__name__}); the run keeps what was recorded, pass --resume"
            ) from exc

"""The kernel's executor ``local``: every task in the driver's process, one after another, in the
order it was submitted (contract :class:`fxcore.contracts.Executor`).

It is what ``fx explore`` did before executors existed: with one slot the explore loop submits a
task only once the one before is done, so the run store is written in exactly the same order.
"""

from __future__ import annotations

from collections import deque
from typing import Any


class LocalExecutor:
    """Runs each task when :meth:`wait` asks for the next result."""

    slots = 1
    remote = False

    def __init__(self) -> None:
        self._queue: deque[tuple[Any, Any]] = deque()
        self._worker: Any = None

    def start(self, make_worker: Any, setup: Any, local: Any = None) -> None:
        self._worker = local if local is not None else make_worker(setup)

    def submit(self, key: Any, task: Any) -> None:
        self._queue.append((key, task))

    def wait(self) -> tuple[Any, Any]:
        if self._worker is None:
            raise RuntimeError("LocalExecutor.wait before start")
        if not self._queue:
            raise RuntimeError("LocalExecutor.wait with no task submitted")
        key, task = self._queue.popleft()
        return key, self._worker(task)

    def cancel(self) -> None:
        self._queue.clear()

    def close(self) -> None:
        self._queue.clear()
        self._worker = None

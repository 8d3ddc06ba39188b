"""Progress for long work: a rich bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO


class Progress:
    """``advance(n, **info)``; on a TTY a live bar, elsewhere a line every ``every`` seconds."""

    def __init__(
        self,
        description: str,
        total: int | None,
        stream: TextIO | None = None,
        every: float = 5.0,
        enabled: bool = True,
    ) -> None:
        self.description = description
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.every = every
        self.enabled = enabled
        self.start = time.perf_counter()
        self._last = -float("inf")
        self._bar: Any = None
        self._task: Any = None
        if enabled and self.stream.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                console=Console(file=self.stream),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(description, total=total, info="")

    def advance(self, n: int = 1, **info: Any) -> None:
        self.done += n
        text = " ".join(f"{k}={_fmt(v)}" for k, v in info.items())
        if self._bar is not None:
            self._bar.update(self._task, advance=n, info=text)
            return
        if not self.enabled:
            return
        now = time.perf_counter()
        finished = self.total is not None and self.done >= self.total
        if now - self._last >= self.every or finished:
            self._last = now
            total = f"/{self.total}" if self.total is not None else ""
            line = f"[{self.description}] {self.done}{total} {now - self.start:.1f}s {text}"
            print(line.rstrip(), file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


@contextmanager
def progress(description: str, total: int | None = None, **kwargs: Any) -> Iterator[Progress]:
    bar = Progress(description, total, **kwargs)
    try:
        yield bar
    finally:
        bar.close()

"""Append-only answer journal: one JSON line per answer, fsynced before an answer is used.

A crash can at worst leave the *last* line incomplete: :meth:`AnswerJournal.read` recovers every
complete answer and reports the partial line; the next :meth:`AnswerJournal.append` first cuts
that partial line off, so the file stays one valid answer per line. Any other malformed line is
damage the journal cannot explain, and is an error naming the file and line.

A person may take an answer back before the run uses it (the web page's undo): that appends a
retraction line ``{"item", "retract": true}``, which drops the item's earlier answer; a later
answer line supersedes both. Nothing is ever rewritten.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fxcore.errors import RunError


@dataclass
class JournalContents:
    """The answers in a journal (last answer per item wins) and what was dropped."""

    answers: dict[str, int] = field(default_factory=dict)
    lines: int = 0
    partial: str | None = None  # description of an incomplete last line, if any


class AnswerJournal:
    """``answers.jsonl`` of a run; ``classes`` validates every label read or written."""

    def __init__(self, path: str | Path, classes: Sequence[str]) -> None:
        self.path = Path(path)
        self.classes = list(classes)

    def read(self) -> JournalContents:
        out = JournalContents()
        if not self.path.exists():
            return out
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")
        complete, tail = lines[:-1], lines[-1]
        for number, line in enumerate(complete, start=1):
            if not line.strip():
                continue
            item, label = self._parse(line, number)
            if label is None:
                out.answers.pop(item, None)
            else:
                out.answers[item] = label
            out.lines += 1
        if tail.strip():
            out.partial = (
                f"{self.path}: line {len(complete) + 1} is incomplete ({len(tail)} bytes, "
                "an interrupted write); it is ignored and that answer must be given again"
            )
        return out

    def _parse(self, line: bytes, number: int) -> tuple[str, int | None]:
        """``(item, label)`` of an answer line, ``(item, None)`` of a retraction."""
        where = f"{self.path}: line {number}"
        try:
            rec = json.loads(line)
            if rec.get("retract") is True:
                return str(rec["item"]), None
            item, label = str(rec["item"]), rec["label"]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise RunError(f"{where} is not a journal entry {{\"item\", \"label\"}}: "
                           f"{line[:80]!r}") from None
        if not isinstance(label, int) or not 0 <= label < len(self.classes):
            top = len(self.classes) - 1
            raise RunError(f"{where}: label {label!r} is not a class index 0..{top}")
        return item, label

    def _drop_partial_tail(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, "rb+") as fh:
            data = fh.read()
            if data and not data.endswith(b"\n"):
                fh.truncate(data.rfind(b"\n") + 1)
                fh.flush()
                os.fsync(fh.fileno())

    def append(self, answers: Iterable[tuple[str, int]], source: str = "") -> int:
        """Append answers ``(item, label)``, one line each, and fsync before returning: once
        this returns, the answers survive a crash. Returns the count."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._drop_partial_tail()
        n = 0
        with open(self.path, "ab") as fh:
            for item, label in answers:
                if not isinstance(label, int) or not 0 <= label < len(self.classes):
                    raise RunError(f"answer for {item!r}: label {label!r} is not a class index")
                rec = {"item": str(item), "label": int(label), "class": self.classes[label],
                       "source": source, "time": round(time.time(), 3)}
                fh.write((json.dumps(rec) + "\n").encode())
                n += 1
            fh.flush()
            os.fsync(fh.fileno())
        return n

    def retract(self, item: str, source: str = "") -> None:
        """Take back ``item``'s answer (an appended retraction line, fsynced): once this returns,
        a resumed run asks for the item again unless a later line answers it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._drop_partial_tail()
        rec = {"item": str(item), "retract": True, "source": source,
               "time": round(time.time(), 3)}
        with open(self.path, "ab") as fh:
            fh.write((json.dumps(rec) + "\n").encode())
            fh.flush()
            os.fsync(fh.fileno())

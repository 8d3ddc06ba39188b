"""Run store: one directory per run.

Layout::

    RUN_DIR/
      run.json        job, config hash, fxcore version, status (written atomically)
      config.json     the validated config snapshot the hash is computed from
      run.sqlite      records written in a transaction as each result is produced
      artefacts/      images, plots, exports

Every result is a *record* ``(kind, key, payload)``; ``key`` is unique per kind, so a resumed run
asks ``store.has(kind, key)`` and never repeats or loses work. ``--resume`` refuses a run whose
config hash differs from the new config's.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from fxcore import __version__
from fxcore.errors import ConfigError
from fxcore.paths import check_out_dir, not_regular

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    payload TEXT NOT NULL,
    created REAL NOT NULL,
    UNIQUE (kind, key)
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def config_hash(config: BaseModel) -> str:
    """sha256 of the config's canonical JSON (sorted keys), first 16 hex digits."""
    canon = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()[:16]


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``path`` through a temporary file and a rename: never a half-written file.

    Raises :class:`ConfigError` (nothing written) when ``path`` exists and is not a regular file:
    a rename would replace a symlink, device, FIFO or directory with a file.
    """
    kind = not_regular(path)
    if kind is not None:
        raise ConfigError(f"{path} is {kind}, not a regular file; not replacing it")
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RunStore:
    """An open run directory. Create or resume one with :meth:`open`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.artefacts = self.path / "artefacts"
        self.db = sqlite3.connect(self.path / "run.sqlite", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)
        self.info: dict[str, Any] = json.loads((self.path / "run.json").read_text())

    @classmethod
    def open(
        cls, path: str | Path, job: str, config: BaseModel, resume: bool = False
    ) -> RunStore:
        """Create ``path`` for a new run, or reopen it with ``resume=True``.

        Raises :class:`ConfigError` (nothing written) when a new run would overwrite an existing
        one, when there is nothing to resume, when the config changed since the run started, or
        when ``path`` cannot be a folder (:func:`fxcore.paths.check_out_dir`).
        """
        path = Path(path)
        check_out_dir(path)
        digest = config_hash(config)
        info_file = path / "run.json"
        if resume:
            if not info_file.exists():
                raise ConfigError(f"--resume: {path} holds no run to resume (no run.json)")
            info = json.loads(info_file.read_text())
            if info.get("job") != job:
                raise ConfigError(f"--resume: {path} is a {info.get('job')!r} run, not {job!r}")
            if info.get("config_hash") != digest:
                raise ConfigError(
                    f"--resume: the config changed since the run in {path} started "
                    f"(hash {info.get('config_hash')} != {digest}); start a new run with --out"
                )
        else:
            if info_file.exists():
                raise ConfigError(
                    f"{path} already holds a run; pass --resume to continue it or choose "
                    "another --out"
                )
            if path.exists() and any(path.iterdir()):
                raise ConfigError(f"{path} exists and is not empty; choose another --out")
            path.mkdir(parents=True, exist_ok=True)
            snapshot = json.dumps(config.model_dump(mode="json"), indent=2, sort_keys=True)
            write_atomic(path / "config.json", snapshot + "\n")
            info = {
                "job": job,
                "config_hash": digest,
                "fxcore_version": __version__,
                "created": time.time(),
                "status": "running",
            }
            write_atomic(info_file, json.dumps(info, indent=2) + "\n")
        store = cls(path)
        if resume:
            store._set_info(status="running", resumed=store.info.get("resumed", 0) + 1)
        return store

    # ------------------------------------------------------------------ records
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All writes inside commit together or not at all."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def add(self, kind: str, key: str, payload: dict[str, Any] | BaseModel) -> None:
        """Record one result (in its own transaction unless inside :meth:`transaction`)."""
        data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
        sql = "INSERT INTO records (kind, key, payload, created) VALUES (?, ?, ?, ?)"
        args = (kind, str(key), json.dumps(data), time.time())
        if self.db.in_transaction:
            self.db.execute(sql, args)
        else:
            with self.transaction():
                self.db.execute(sql, args)

    def has(self, kind: str, key: str) -> bool:
        sql = "SELECT 1 FROM records WHERE kind = ? AND key = ?"
        return self.db.execute(sql, (kind, str(key))).fetchone() is not None

    def records(self, kind: str) -> list[dict[str, Any]]:
        """Payloads of ``kind`` in the order they were written."""
        rows = self.db.execute(
            "SELECT payload FROM records WHERE kind = ? ORDER BY seq", (kind,)
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def count(self, kind: str) -> int:
        sql = "SELECT COUNT(*) FROM records WHERE kind = ?"
        return int(self.db.execute(sql, (kind,)).fetchone()[0])

    # ------------------------------------------------------------------ state
    def set_state(self, key: str, value: Any) -> None:
        sql = "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)"
        if self.db.in_transaction:
            self.db.execute(sql, (key, json.dumps(value)))
        else:
            with self.transaction():
                self.db.execute(sql, (key, json.dumps(value)))

    def get_state(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    # ------------------------------------------------------------------ artefacts & status
    def artefact(self, name: str) -> Path:
        """Path for an artefact (parent folders created); write it with :func:`write_atomic`."""
        path = self.artefacts / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _set_info(self, **fields: Any) -> None:
        self.info.update(fields)
        write_atomic(self.path / "run.json", json.dumps(self.info, indent=2) + "\n")

    def finish(self, summary: dict[str, Any] | None = None) -> None:
        """Mark the run complete and store its summary in ``run.json``."""
        self._set_info(status="complete", finished=time.time(), summary=summary or {})

    @property
    def complete(self) -> bool:
        return self.info.get("status") == "complete"

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Run store: one directory per run.

Layout::

    RUN_DIR/
      run.json        job, config hash, input files' sha256, run id, record count, status
                      (written atomically)
      config.json     the validated config snapshot the hash is computed from
      run.sqlite      records written in a transaction as each result is produced
      run.lock        flock'ed by the process writing the run (holds its pid)
      artefacts/      images, plots, exports

Every result is a *record* ``(kind, key, payload)``; ``key`` is unique per kind, so a resumed run
asks ``store.has(kind, key)`` and never repeats or loses work. ``--resume`` refuses a run whose
config hash differs from the new config's, an input file whose content changed (its sha256 is
recorded at creation), a damaged store (:meth:`RunStore.check`) and a run another process has
open.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
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
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
LOCK = "run.lock"


def config_hash(config: BaseModel) -> str:
    """sha256 of the config's canonical JSON (sorted keys), first 16 hex digits."""
    canon = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()[:16]


def file_sha256(path: Path) -> str:
    """sha256 of the file's bytes (hex), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def input_digests(inputs: Mapping[str, str | Path]) -> dict[str, dict[str, str]]:
    """``{label: {"path", "sha256"}}`` of a run's input files (``label``: how the user names the
    file, e.g. ``--table`` or ``data.path``). An unreadable file is a :class:`ConfigError`."""
    out = {}
    for label, path in inputs.items():
        try:
            out[label] = {"path": str(path), "sha256": file_sha256(Path(path))}
        except OSError as exc:
            raise ConfigError(f"{label} {path}: cannot read ({exc.strerror or exc})") from None
    return out


def check_inputs(recorded: Mapping[str, Any], now: Mapping[str, Mapping[str, str]]) -> None:
    """Raise :class:`ConfigError` naming the first input whose content differs from the one
    recorded when the run started, or the first file that joined or left a listed group
    (labels ``group[name]``, e.g. the images of ``data.folder``) that both runs read."""
    def group(label: str) -> str | None:
        return label.partition("[")[0] if label.endswith("]") and "[" in label else None

    shared = {group(k) for k in recorded} & {group(k) for k in now} - {None}
    for label in sorted({*recorded, *now}):
        if group(label) in shared and (label in recorded) != (label in now):
            what = ("is no longer there" if label in recorded
                    else "was not there when the run started")
            raise ConfigError(f"{label} {what}: the run's input files changed; start a new run "
                              "or restore the files")
    for label, then in recorded.items():
        current = now.get(label)
        if current is None or current["sha256"] == then.get("sha256"):
            continue
        raise ConfigError(
            f"{label} {then.get('path')} changed since the run started (sha256 "
            f"{str(then.get('sha256'))[:12]}… then, {current['sha256'][:12]}… now); start a new "
            "run or restore the file"
        )


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


def lock_run_dir(path: Path) -> int:
    """Take the OS lock of run dir ``path`` (non-blocking); returns the lock file's descriptor,
    held until it is closed. Raises :class:`ConfigError` when another process holds it."""
    try:
        fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
    except OSError as exc:
        raise ConfigError(f"run dir {path}: cannot open its lock file {LOCK} ({exc})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise ConfigError(f"run dir {path} is in use by another fx process (pid {pid})") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _read_info(info_file: Path) -> dict[str, Any]:
    try:
        info = json.loads(info_file.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{info_file} is damaged ({exc})") from None
    if not isinstance(info, dict) or not isinstance(info.get("job"), str):
        raise ConfigError(f"{info_file} is damaged (not a run's JSON object with a job)")
    return info


class RunStore:
    """An open run directory. Create or resume one with :meth:`open` (which locks it);
    ``RunStore(path)`` alone opens an existing run for reading (``check=True``: :meth:`check`
    it first, before anything is written to the database)."""

    def __init__(self, path: Path, info: dict[str, Any] | None = None,
                 lock: int | None = None, check: bool = False) -> None:
        self.path = Path(path)
        self.artefacts = self.path / "artefacts"
        self._lock = lock
        self.info: dict[str, Any] = info if info is not None else _read_info(
            self.path / "run.json")
        db_file = self.path / "run.sqlite"
        if check and not db_file.is_file():
            raise ConfigError(f"{db_file} is missing")
        try:
            self.db = sqlite3.connect(db_file, isolation_level=None)
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{db_file} is damaged ({exc})") from None
        try:
            if check:
                self.check()  # before anything is written to the file
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise ConfigError(f"{db_file} is damaged ({exc})") from None
        except BaseException:
            self.db.close()
            raise

    @classmethod
    def open(
        cls, path: str | Path, job: str, config: BaseModel, resume: bool = False,
        inputs: Mapping[str, str | Path] | None = None,
    ) -> RunStore:
        """Create ``path`` for a new run, or reopen it with ``resume=True``; either way the run
        dir stays locked (:func:`lock_run_dir`) until :meth:`close`. ``inputs`` names the files
        the run reads (``label -> path``); their sha256 is part of the run's identity.

        Raises :class:`ConfigError` (nothing written) when a new run would overwrite an existing
        one, when there is nothing to resume, when the config or an input file changed since the
        run started, when the store is damaged (:meth:`check`), when another process has the run
        open, or when ``path`` cannot be a folder (:func:`fxcore.paths.check_out_dir`).
        """
        path = Path(path)
        check_out_dir(path)
        digest = config_hash(config)
        files = input_digests(inputs or {})
        info_file = path / "run.json"
        if resume:
            if not info_file.exists():
                raise ConfigError(f"--resume: {path} holds no run to resume (no run.json)")
        else:
            if info_file.exists():
                raise ConfigError(
                    f"{path} already holds a run; pass --resume to continue it or choose "
                    "another --out"
                )
            if path.exists() and any(path.iterdir()):
                raise ConfigError(f"{path} exists and is not empty; choose another --out")
            path.mkdir(parents=True, exist_ok=True)
        lock = lock_run_dir(path)
        try:
            if resume:
                store = cls._resume(path, job, digest, files, lock)
            else:
                store = cls._create(path, job, config, digest, files, lock)
        except BaseException:
            os.close(lock)
            raise
        return store

    @classmethod
    def _create(cls, path: Path, job: str, config: BaseModel, digest: str,
                files: dict[str, dict[str, str]], lock: int) -> RunStore:
        if (path / "run.json").exists():  # another process made the run since open's check
            raise ConfigError(f"{path} already holds a run; pass --resume to continue it")
        snapshot = json.dumps(config.model_dump(mode="json"), indent=2, sort_keys=True)
        write_atomic(path / "config.json", snapshot + "\n")
        info = {
            "job": job,
            "config_hash": digest,
            "inputs": files,
            "run_id": uuid.uuid4().hex,
            "fxcore_version": __version__,
            "created": time.time(),
            "status": "running",
        }
        store = cls(path, info, lock)
        try:
            store.db.execute("INSERT INTO meta (key, value) VALUES ('run_id', ?)",
                             (info["run_id"],))
            store._set_info()
        except BaseException:
            store.db.close()
            raise
        return store

    @classmethod
    def _resume(cls, path: Path, job: str, digest: str, files: dict[str, dict[str, str]],
                lock: int) -> RunStore:
        try:
            info = _read_info(path / "run.json")
        except ConfigError as exc:
            raise ConfigError(f"--resume: {exc}") from None
        if info.get("job") != job:
            raise ConfigError(f"--resume: {path} is a {info.get('job')!r} run, not {job!r}")
        if info.get("config_hash") != digest:
            raise ConfigError(
                f"--resume: the config changed since the run in {path} started "
                f"(hash {info.get('config_hash')} != {digest}); start a new run with --out"
            )
        check_inputs(info.get("inputs", {}), files)
        try:
            store = cls(path, info, lock, check=True)
        except ConfigError as exc:
            raise ConfigError(f"--resume: {exc}") from None
        try:
            # runs made before inputs were recorded cannot be checked; from now on they are
            recorded = {**files, **info.get("inputs", {})}
            if info.get("status") == "complete":  # a finished run is only read: it stays so
                if recorded != info.get("inputs", {}):
                    store._set_info(inputs=recorded)
            else:
                store._set_info(status="running", resumed=info.get("resumed", 0) + 1,
                                inputs=recorded)
        except BaseException:
            store.db.close()
            raise
        return store

    def check(self) -> None:
        """Raise :class:`ConfigError` naming the file unless the store is whole: SQLite's
        ``quick_check`` passes, the database is the one ``run.json`` names (its ``run_id``) and
        holds at least the records ``run.json`` counted, and every payload is JSON."""
        db_file = self.path / "run.sqlite"
        try:
            problems = [r[0] for r in self.db.execute("PRAGMA quick_check").fetchall()]
            if problems != ["ok"]:
                raise ConfigError(f"{db_file} is damaged ({'; '.join(problems[:3])})")
            tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master")}
            if not {"records", "state"} <= tables:
                raise ConfigError(f"{db_file} is damaged (it holds no run: emptied or replaced)")
            row = None
            if "meta" in tables:  # runs made before fxcore kept a run_id have none
                row = self.db.execute("SELECT value FROM meta WHERE key = 'run_id'").fetchone()
            if "run_id" in self.info and (row is None or row[0] != self.info["run_id"]):
                raise ConfigError(f"{db_file} is damaged (it is not the database of this run: "
                                  "emptied or replaced)")
            n = self._n_records()
            if n < self.info.get("records", 0):
                raise ConfigError(f"{db_file} is damaged (it holds {n} records, run.json "
                                  f"counted {self.info['records']})")
            rows = self.db.execute(
                "SELECT 'record ' || kind || '/' || key, payload FROM records "
                "UNION ALL SELECT 'state ' || key, value FROM state"
            )
            for where, raw in rows:
                _decode(raw, db_file, where)
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{db_file} is damaged ({exc})") from None

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
        return [_decode(r[0], self.path / "run.sqlite", f"record {kind}") for r in rows]

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
        if row is None:
            return default
        return _decode(row[0], self.path / "run.sqlite", f"state {key}")

    # ------------------------------------------------------------------ artefacts & status
    def artefact(self, name: str) -> Path:
        """Path for an artefact (parent folders created); write it with :func:`write_atomic`."""
        path = self.artefacts / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _n_records(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM records").fetchone()[0])

    def _set_info(self, **fields: Any) -> None:
        """Update ``run.json`` (atomically, holding the run dir's lock) with ``fields`` and the
        number of records committed to the database (which :meth:`check` holds it to)."""
        lock = self._lock if self._lock is not None else lock_run_dir(self.path)
        try:
            self.info.update(fields)
            if not self.db.in_transaction:
                self.info["records"] = self._n_records()
            write_atomic(self.path / "run.json", json.dumps(self.info, indent=2) + "\n")
        finally:
            if lock != self._lock:
                os.close(lock)

    def finish(self, summary: dict[str, Any] | None = None) -> None:
        """Mark the run complete and store its summary in ``run.json``."""
        self._set_info(status="complete", finished=time.time(), summary=summary or {})

    @property
    def complete(self) -> bool:
        return self.info.get("status") == "complete"

    def close(self) -> None:
        """Close the database and release the run dir's lock."""
        self.db.close()
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _decode(raw: str, db_file: Path, where: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"{db_file} is damaged ({where}: {exc})") from None

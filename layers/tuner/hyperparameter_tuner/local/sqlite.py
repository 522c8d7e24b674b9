"""SQLite adapters: the local metadata tracker and metrics tracker (one database file in the store).

Each process opens its own connection (a pool of forked workers writes concurrently); WAL mode lets readers
and one writer proceed together, and ``BEGIN IMMEDIATE`` makes read-modify-write updates atomic.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlparse
from urllib.request import url2pathname

from pydantic import BaseModel, ValidationError

from ..errors import NotFoundError, StoreError
from ..ports import MetadataTracker, MetricsTracker
from ..records import Experiment, ExperimentStatus, ModelVersion, Run, utcnow

__all__ = ["SQLiteDatabase", "SQLiteMetadataTracker", "SQLiteMetricsTracker"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS experiments (
    run_id TEXT NOT NULL, experiment_id TEXT NOT NULL, idx INTEGER NOT NULL, status TEXT NOT NULL,
    finished_at TEXT, doc TEXT NOT NULL, PRIMARY KEY (run_id, experiment_id));
CREATE INDEX IF NOT EXISTS experiments_by_id ON experiments (experiment_id, status, finished_at);
CREATE INDEX IF NOT EXISTS experiments_by_run ON experiments (run_id, idx);
CREATE TABLE IF NOT EXISTS model_versions (
    version INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, experiment_id TEXT NOT NULL,
    created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL, experiment_id TEXT NOT NULL, split TEXT NOT NULL, name TEXT NOT NULL,
    value REAL, PRIMARY KEY (run_id, experiment_id, split, name));
"""

_PAGE = 500

_Record = TypeVar("_Record", bound=BaseModel)

_DATABASES: weakref.WeakSet[SQLiteDatabase] = weakref.WeakSet()
"""Every open database of this process (weakly: a database no longer used closes its connections when collected)."""


@atexit.register
def _close_databases() -> None:
    """At exit, close this process's connections: the last one checkpoints the WAL into the database file."""
    for db in list(_DATABASES):
        db._close_all()


class SQLiteDatabase:
    """A SQLite file shared by the local adapters, with one connection per process and thread.

    Parameters
    ----------
    path : str or Path
        The database file (created with its schema when writable).
    read_only : bool, optional
        Open without ever writing. Default: read-only exactly when the file exists and this process cannot write
        it or its folder (a read-only store can still be read; writes then raise :class:`StoreError`).

    Notes
    -----
    Every ``sqlite3`` error (a damaged or non-database file, a full disk, a lock held too long) is raised as
    :class:`StoreError` naming the file. A read-only database is opened with ``mode=ro``, or ``immutable=1``
    when SQLite cannot set up its WAL index there. Connections opened by a process are closed when it exits, so
    the last one checkpoints the WAL into the database file (a store copied afterwards is complete).
    """

    def __init__(self, path: str | Path, *, read_only: bool | None = None) -> None:
        self.path = Path(path)
        if read_only is None:
            read_only = self.path.exists() and not (
                os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)
            )
        self.read_only = read_only
        self._local = threading.local()
        self._opened: list[tuple[int, sqlite3.Connection]] = []
        self._opened_lock = threading.Lock()
        _DATABASES.add(self)
        if read_only:
            self.query("SELECT count(*) FROM sqlite_master")  # a file that is not a database fails here
            return
        try:
            self.connection().executescript(_SCHEMA)  # executescript commits on its own
        except sqlite3.Error as exc:
            raise self._error(exc, "cannot initialise the database") from exc

    def _error(self, exc: BaseException, action: str = "") -> StoreError:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        return StoreError(f"store {self.path}: {action} ({detail})" if action else f"store {self.path}: {detail}")

    def _open(self) -> sqlite3.Connection:
        if not self.read_only:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn
        if not self.path.is_file():
            raise StoreError(f"store {self.path}: no database file")
        location = quote(str(self.path.resolve()))
        try:
            conn = sqlite3.connect(f"file:{location}?mode=ro", uri=True, timeout=60, isolation_level=None)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError:  # no writable WAL index beside it: read the file as it is
            return sqlite3.connect(f"file:{location}?immutable=1", uri=True, isolation_level=None)

    def connection(self) -> sqlite3.Connection:
        """Return this process's and thread's connection, opening it on first use (also after a fork)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            try:
                conn = self._open()
            except sqlite3.Error as exc:
                raise self._error(exc, "cannot open the database") from exc
            self._local.conn, self._local.pid = conn, os.getpid()
            with self._opened_lock:
                self._opened.append((os.getpid(), conn))
        return conn

    def _close_all(self) -> None:
        """Close the connections this process opened (forked children's copies are left alone)."""
        with self._opened_lock:
            mine = [conn for pid, conn in self._opened if pid == os.getpid()]
            self._opened = [(pid, conn) for pid, conn in self._opened if pid != os.getpid()]
        for conn in mine:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locked) transaction, committed on success and rolled back on error."""
        if self.read_only:
            raise StoreError(f"store {self.path}: opened read-only, cannot write")
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise self._error(exc) from exc

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run a read query and return all rows."""
        try:
            return self.connection().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc) from exc

    def decode(self, model: type[_Record], doc: Any, what: str) -> _Record:
        """Validate a stored JSON document as ``model``; a garbled one raises :class:`StoreError` naming it."""
        try:
            return model.model_validate_json(doc)
        except (ValidationError, ValueError, TypeError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise StoreError(f"store {self.path}: corrupt {what} record ({first})") from exc


class SQLiteMetadataTracker(MetadataTracker):
    """:class:`MetadataTracker` on SQLite: runs and experiments as JSON documents with indexed keys.

    Parameters
    ----------
    db : SQLiteDatabase
        The store's database.
    artifact_root : str or Path, optional
        The store folder holding the model files (``open_store`` passes it). When given, an artifact URI inside
        it is recorded relative to it and resolved against it when read, so a copied or moved store names its own
        files; legacy absolute ``file:`` URIs of ``objects/<sha[:2]>/<sha256>`` are resolved the same way.
    """

    def __init__(self, db: SQLiteDatabase, artifact_root: str | Path | None = None) -> None:
        self.db = db
        self.artifact_root = None if artifact_root is None else Path(artifact_root)

    # artifact URIs: relative in the database, absolute (in this store) when read --------------------------------

    def _to_stored(self, experiment: Experiment) -> Experiment:
        ref = experiment.artifact
        if ref is None or self.artifact_root is None or not ref.uri.startswith("file:"):
            return experiment
        try:
            relative = _file_uri_path(ref.uri).relative_to(self.artifact_root.resolve())
        except ValueError:
            return experiment  # a file outside the store: keep the URI as given
        return experiment.model_copy(update={"artifact": ref.model_copy(update={"uri": relative.as_posix()})})

    def _from_stored(self, experiment: Experiment) -> Experiment:
        ref = experiment.artifact
        if ref is None or self.artifact_root is None:
            return experiment
        if "://" not in ref.uri and not ref.uri.startswith("file:"):
            path = self.artifact_root / ref.uri
        elif ref.uri.startswith("file:") and _file_uri_path(ref.uri).parts[-3:] == (
            "objects", ref.sha256[:2], ref.sha256
        ):
            path = self.artifact_root / "objects" / ref.sha256[:2] / ref.sha256
        else:
            return experiment
        uri = path.resolve().as_uri()
        return experiment.model_copy(update={"artifact": ref.model_copy(update={"uri": uri})})

    def _experiment(self, doc: Any, run_id: str, experiment_id: str) -> Experiment:
        return self._from_stored(self.db.decode(Experiment, doc, f"experiment {run_id}/{experiment_id}"))

    # runs ---------------------------------------------------------------------------------------------------

    def create_run(self, run: Run) -> bool:
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO runs (run_id, created_at, doc) VALUES (?, ?, ?)",
                (run.run_id, run.created_at.isoformat(), run.model_dump_json()),
            )
            return cursor.rowcount == 1

    def get_run(self, run_id: str) -> Run:
        rows = self.db.query("SELECT doc FROM runs WHERE run_id = ?", (run_id,))
        if not rows:
            raise NotFoundError(f"run {run_id!r} not found")
        return self.db.decode(Run, rows[0][0], f"run {run_id}")

    def update_run(self, run_id: str, **changes: Any) -> Run:
        unknown = sorted(set(changes) - (set(Run.model_fields) - {"run_id"}))
        if unknown:
            raise TypeError(f"update_run: {unknown[0]!r} is not an updatable Run field")
        with self.db.transaction() as conn:
            row = conn.execute("SELECT doc FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"run {run_id!r} not found")
            stored = self.db.decode(Run, row[0], f"run {run_id}")
            run = Run.model_validate({**stored.model_dump(), **changes})
            conn.execute("UPDATE runs SET doc = ? WHERE run_id = ?", (run.model_dump_json(), run_id))
        return run

    def list_runs(self, limit: int = 50) -> list[Run]:
        rows = self.db.query("SELECT run_id, doc FROM runs ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,))
        return [self.db.decode(Run, doc, f"run {run_id}") for run_id, doc in rows]

    def create_model_version(self, run_id: str, experiment_id: str) -> ModelVersion:
        created = utcnow()
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO model_versions (run_id, experiment_id, created_at) VALUES (?, ?, ?)",
                (run_id, experiment_id, created.isoformat()),
            )
        return ModelVersion(run_id=run_id, experiment_id=experiment_id, version=str(cursor.lastrowid),
                            created_at=created)

    def put_experiment(self, experiment: Experiment) -> Experiment:
        stored_form = self._to_stored(experiment)
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT status, doc FROM experiments WHERE run_id = ? AND experiment_id = ?",
                (experiment.run_id, experiment.experiment_id),
            ).fetchone()
            if row is not None:
                stored = self._experiment(row[1], experiment.run_id, experiment.experiment_id)
                if stored.status is ExperimentStatus.SUCCEEDED or stored.final:
                    return stored
            conn.execute(
                "INSERT OR REPLACE INTO experiments (run_id, experiment_id, idx, status, finished_at, doc)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (experiment.run_id, experiment.experiment_id, experiment.index, experiment.status.value,
                 experiment.finished_at.isoformat() if experiment.finished_at else None,
                 stored_form.model_dump_json()),
            )
        return self._from_stored(stored_form)

    def get_experiment(self, run_id: str, experiment_id: str) -> Experiment | None:
        rows = self.db.query(
            "SELECT doc FROM experiments WHERE run_id = ? AND experiment_id = ?", (run_id, experiment_id)
        )
        return self._experiment(rows[0][0], run_id, experiment_id) if rows else None

    def find_succeeded(self, experiment_id: str) -> Experiment | None:
        rows = self.db.query(
            "SELECT run_id, doc FROM experiments WHERE experiment_id = ? AND status = ?"
            " ORDER BY finished_at DESC LIMIT 1",
            (experiment_id, ExperimentStatus.SUCCEEDED.value),
        )
        return self._experiment(rows[0][1], rows[0][0], experiment_id) if rows else None

    def iter_experiments(self, run_id: str) -> Iterator[Experiment]:
        last = (-(2**62), "")
        while True:
            rows = self.db.query(
                "SELECT idx, experiment_id, doc FROM experiments WHERE run_id = ? AND (idx, experiment_id) > (?, ?)"
                " ORDER BY idx, experiment_id LIMIT ?",
                (run_id, *last, _PAGE),
            )
            for _, experiment_id, doc in rows:
                yield self._experiment(doc, run_id, experiment_id)
            if len(rows) < _PAGE:
                return
            last = (rows[-1][0], rows[-1][1])

    def discard_experiment(self, run_id: str, experiment_id: str) -> bool:
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT doc FROM experiments WHERE run_id = ? AND experiment_id = ? AND status = ?",
                (run_id, experiment_id, ExperimentStatus.RUNNING.value),
            ).fetchone()
            if row is None or self._experiment(row[0], run_id, experiment_id).final:
                return False
            conn.execute("DELETE FROM experiments WHERE run_id = ? AND experiment_id = ?", (run_id, experiment_id))
        return True


def _file_uri_path(uri: str) -> Path:
    """The local path of a ``file:`` URI."""
    return Path(url2pathname(urlparse(uri).path))


class SQLiteMetricsTracker(MetricsTracker):
    """:class:`MetricsTracker` on SQLite: one row per (run, experiment, split, metric)."""

    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db

    def log_metrics(self, run_id: str, experiment_id: str, split: str, metrics: Mapping[str, float]) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "DELETE FROM metrics WHERE run_id = ? AND experiment_id = ? AND split = ?",
                (run_id, experiment_id, split),
            )
            conn.executemany(
                "INSERT OR REPLACE INTO metrics (run_id, experiment_id, split, name, value) VALUES (?, ?, ?, ?, ?)",
                [(run_id, experiment_id, split, name, float(value)) for name, value in metrics.items()],
            )

    def get_metrics(self, run_id: str, experiment_id: str) -> dict[str, dict[str, float]]:
        rows = self.db.query(
            "SELECT split, name, value FROM metrics WHERE run_id = ? AND experiment_id = ?", (run_id, experiment_id)
        )
        result: dict[str, dict[str, float]] = {}
        for split, name, value in rows:
            try:
                result.setdefault(split, {})[name] = float("nan") if value is None else float(value)
            except (TypeError, ValueError) as exc:
                raise StoreError(
                    f"store {self.db.path}: corrupt metrics record {run_id}/{experiment_id} ({split} {name}: {exc})"
                ) from exc
        return result

"""SQLite adapters: the local metadata tracker and metrics tracker (one database file in the store).

Each process opens its own connection (a pool of forked workers writes concurrently); WAL mode lets readers
and one writer proceed together, and ``BEGIN IMMEDIATE`` makes read-modify-write updates atomic.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


class SQLiteDatabase:
    """A SQLite file shared by the local adapters, with one connection per process and thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        try:
            self.connection().executescript(_SCHEMA)  # executescript commits on its own
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot initialise the database ({exc})") from exc

    def connection(self) -> sqlite3.Connection:
        """Return this process's and thread's connection, opening it on first use (also after a fork)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            try:
                conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: cannot open the database ({exc})") from exc
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locked) transaction, committed on success and rolled back on error."""
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
            raise StoreError(f"{self.path}: {exc}") from exc

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run a read query and return all rows."""
        try:
            return self.connection().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from exc


class SQLiteMetadataTracker(MetadataTracker):
    """:class:`MetadataTracker` on SQLite: runs and experiments as JSON documents with indexed keys."""

    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db

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
        return Run.model_validate_json(rows[0][0])

    def update_run(self, run_id: str, **changes: Any) -> Run:
        unknown = sorted(set(changes) - (set(Run.model_fields) - {"run_id"}))
        if unknown:
            raise TypeError(f"update_run: {unknown[0]!r} is not an updatable Run field")
        with self.db.transaction() as conn:
            row = conn.execute("SELECT doc FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"run {run_id!r} not found")
            run = Run.model_validate({**json.loads(row[0]), **changes})
            conn.execute("UPDATE runs SET doc = ? WHERE run_id = ?", (run.model_dump_json(), run_id))
        return run

    def list_runs(self, limit: int = 50) -> list[Run]:
        rows = self.db.query("SELECT doc FROM runs ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,))
        return [Run.model_validate_json(doc) for (doc,) in rows]

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
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT status, doc FROM experiments WHERE run_id = ? AND experiment_id = ?",
                (experiment.run_id, experiment.experiment_id),
            ).fetchone()
            if row is not None:
                stored = Experiment.model_validate_json(row[1])
                if stored.status is ExperimentStatus.SUCCEEDED or stored.final:
                    return stored
            conn.execute(
                "INSERT OR REPLACE INTO experiments (run_id, experiment_id, idx, status, finished_at, doc)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (experiment.run_id, experiment.experiment_id, experiment.index, experiment.status.value,
                 experiment.finished_at.isoformat() if experiment.finished_at else None,
                 experiment.model_dump_json()),
            )
        return experiment

    def get_experiment(self, run_id: str, experiment_id: str) -> Experiment | None:
        rows = self.db.query(
            "SELECT doc FROM experiments WHERE run_id = ? AND experiment_id = ?", (run_id, experiment_id)
        )
        return Experiment.model_validate_json(rows[0][0]) if rows else None

    def find_succeeded(self, experiment_id: str) -> Experiment | None:
        rows = self.db.query(
            "SELECT doc FROM experiments WHERE experiment_id = ? AND status = ? ORDER BY finished_at DESC LIMIT 1",
            (experiment_id, ExperimentStatus.SUCCEEDED.value),
        )
        return Experiment.model_validate_json(rows[0][0]) if rows else None

    def iter_experiments(self, run_id: str) -> Iterator[Experiment]:
        last = (-(2**62), "")
        while True:
            rows = self.db.query(
                "SELECT idx, experiment_id, doc FROM experiments WHERE run_id = ? AND (idx, experiment_id) > (?, ?)"
                " ORDER BY idx, experiment_id LIMIT ?",
                (run_id, *last, _PAGE),
            )
            for _, _, doc in rows:
                yield Experiment.model_validate_json(doc)
            if len(rows) < _PAGE:
                return
            last = (rows[-1][0], rows[-1][1])


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
            result.setdefault(split, {})[name] = float("nan") if value is None else value
        return result

"""The local champion tracker: two tables in the store's SQLite database.

* ``champions``: one row per dataset, ``(dataset, version, doc)``; ``doc`` is the current champion as JSON.
* ``champion_history``: one row per decision, ``(dataset, version, key, doc)``, unique on ``(dataset, version)`` and
  on ``(dataset, key)``.

``record_decision`` runs in one ``BEGIN IMMEDIATE`` transaction (SQLite's write lock): the version it compares
cannot change before its writes commit, so two processes finishing runs of one dataset at once cannot both win.
"""

from __future__ import annotations

from typing import Any

from ..champion import Champion, ChampionDecision
from ..ports import ChampionTracker
from .sqlite import SQLiteDatabase

__all__ = ["SQLiteChampionTracker"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS champions (
    dataset TEXT PRIMARY KEY, version INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS champion_history (
    dataset TEXT NOT NULL, version INTEGER NOT NULL, key TEXT NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (dataset, version), UNIQUE (dataset, key));
"""


class SQLiteChampionTracker(ChampionTracker):
    """:class:`~hyperparameter_tuner.ports.ChampionTracker` on the store's SQLite database.

    Parameters
    ----------
    db : SQLiteDatabase
        The store's database; the two tables are created on first use (a read-only store reads as having no
        champions until one is recorded by a writer).
    """

    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db
        self._ready = False

    def _tables(self) -> bool:
        """Create the tables when writable; say whether they exist."""
        if not self._ready:
            if self.db.read_only:
                rows = self.db.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'champions'")
                if not rows:
                    return False
            else:
                with self.db.transaction() as conn:
                    for statement in filter(str.strip, _SCHEMA.split(";")):
                        conn.execute(statement)
            self._ready = True
        return True

    def get_champion(self, dataset: str) -> Champion | None:
        if not self._tables():
            return None
        rows = self.db.query("SELECT doc FROM champions WHERE dataset = ?", (dataset,))
        return self.db.decode(Champion, rows[0][0], f"champion of {dataset}") if rows else None

    def record_decision(self, decision: ChampionDecision, champion: Champion | None,
                        expected_version: int) -> ChampionDecision | None:
        self._tables()
        version = expected_version + 1
        stored = decision.model_copy(update={"version": version})
        with self.db.transaction() as conn:
            row = conn.execute("SELECT doc FROM champion_history WHERE dataset = ? AND key = ?",
                               (decision.dataset, stored.key)).fetchone()
            if row is not None:
                return self.db.decode(ChampionDecision, row[0], f"champion decision {stored.key}")
            current: Any = conn.execute("SELECT version, doc FROM champions WHERE dataset = ?",
                                        (decision.dataset,)).fetchone()
            if (current[0] if current else 0) != expected_version:
                return None
            if champion is None:
                if current is None:
                    raise ValueError("record_decision: a decision that keeps the champion needs a champion")
                champion = self.db.decode(Champion, current[1], f"champion of {decision.dataset}")
            new = champion.model_copy(update={"version": version})
            conn.execute("INSERT OR REPLACE INTO champions (dataset, version, doc) VALUES (?, ?, ?)",
                         (decision.dataset, version, new.model_dump_json()))
            conn.execute("INSERT INTO champion_history (dataset, version, key, doc) VALUES (?, ?, ?, ?)",
                         (decision.dataset, version, stored.key, stored.model_dump_json()))
        return stored

    def get_decision(self, dataset: str, key: str) -> ChampionDecision | None:
        if not self._tables():
            return None
        rows = self.db.query("SELECT doc FROM champion_history WHERE dataset = ? AND key = ?", (dataset, key))
        return self.db.decode(ChampionDecision, rows[0][0], f"champion decision {key}") if rows else None

    def history(self, dataset: str) -> list[ChampionDecision]:
        if not self._tables():
            return []
        rows = self.db.query("SELECT version, doc FROM champion_history WHERE dataset = ? ORDER BY version",
                             (dataset,))
        return [self.db.decode(ChampionDecision, doc, f"champion decision {dataset}#{version}")
                for version, doc in rows]

"""The database a bot's state lives in, as little of it as the state's tables need.

The chat histories (bot/chats.py) are one set of SQL statements over either database: a
SQLite file for the one bot process of the embedded default, or PostgreSQL (bot/pg_state.py)
that every replica of a bot shares. Statements are written with ``?`` placeholders and in
the SQL both understand (``INSERT ... RETURNING``, ``ON CONFLICT``); only the tables'
definitions differ, by ``dialect``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from index.sqlite import transaction

MEMORY = ":memory:"  # a SQLite database that lasts as long as the process (the REPL's)


class StateDb(Protocol):
    """A connection that runs one statement, or one transaction, at a time."""

    dialect: str  # "sqlite" or "postgres": which of a table's definitions to create

    def run(self, query: str, params: Sequence[object] = ()) -> tuple[list[tuple], int]:
        """Run one statement: the rows it returns and the number of rows it changed."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """A block whose statements (``run``) are one transaction, committed if it ends."""
        ...

    def create(self, statements: Sequence[str]) -> None:
        """Create tables and indexes (``IF NOT EXISTS``), with other processes doing so too."""
        ...

    def close(self) -> None: ...


class SqliteDb:
    """A SQLite file (or an in-memory database), written in WAL mode."""

    dialect = "sqlite"

    def __init__(self, path: str | Path = MEMORY, *, durable: bool = False) -> None:
        """Open (and create) the database; ``durable`` commits survive a power cut too."""
        if str(path) != MEMORY:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        if durable:
            self._db.execute("PRAGMA synchronous=FULL")
        self._lock = threading.RLock()

    def run(self, query: str, params: Sequence[object] = ()) -> tuple[list[tuple], int]:
        with self._lock:
            cursor = self._db.execute(query, params)
            rows = cursor.fetchall()  # before rowcount: RETURNING counts rows as fetched
            return rows, cursor.rowcount

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock, transaction(self._db):
            yield

    def create(self, statements: Sequence[str]) -> None:
        with self.transaction():
            for statement in statements:
                self._db.execute(statement)

    def close(self) -> None:
        with self._lock:
            self._db.close()

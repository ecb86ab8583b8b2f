"""SQLite transactions written once: BEGIN, then COMMIT if the block ends, else ROLLBACK."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def transaction(db: sqlite3.Connection, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
    """Run the block in one transaction on ``db`` (opened with ``isolation_level=None``).

    ``IMMEDIATE`` takes the database's write lock at once, so a read-then-write block never
    fails half way on another writer; ``DEFERRED`` is for blocks that only read and want
    one consistent view. Anything raised (KeyboardInterrupt too) rolls the block back.
    """
    if mode not in ("IMMEDIATE", "DEFERRED", "EXCLUSIVE"):
        raise ValueError(f"unknown transaction mode {mode!r}")
    db.execute(f"BEGIN {mode}")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:  # SQLite rolls some failures back by itself
            db.execute("ROLLBACK")
        raise

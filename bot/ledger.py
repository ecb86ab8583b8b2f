"""Exactly-once replies: each update is written down when it arrives, ticked off when handled.

Telegram keeps an update until getUpdates asks for a higher offset, and python-telegram-bot
asks for it when it fetches the next batch, before the fetched updates are handled: a crash
in between would lose them. So ``LedgerQueue`` records each update durably as it is put on
the application's update queue (in polling mode before the next getUpdates, in webhook mode
before the 200 that tells Telegram not to send it again), and ``LedgerProcessor`` marks it
answered when its handling has ended. At start, recorded but unanswered updates are handled
again; an update already recorded (Telegram sending it again after a crash, a webhook
retry) is dropped.

On disk: table ``updates`` in the chats database (update id, when it arrived, its JSON, when
it was answered), written with ``synchronous=FULL`` so a record outlives a power cut too.
A crash after a reply was sent and before it was marked answered sends it again at start:
the one window left, between Telegram's answer to sendMessage and one SQLite write.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from telegram import Bot, Update
from telegram.ext import SimpleUpdateProcessor

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS updates (
    update_id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    update_json TEXT NOT NULL,
    answered_at REAL
);
CREATE INDEX IF NOT EXISTS updates_answered ON updates(answered_at);
"""

# Answered updates are remembered this long: Telegram sends an update again for at most
# 24 hours, and picks update ids at random after a week without updates, so old ids may
# come back as new updates.
KEEP_ANSWERED = 2 * 24 * 3600
PRUNE_EVERY = 60.0  # seconds


class Ledger:
    """Which updates arrived and which were answered, in SQLite."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._lock = threading.Lock()
        self._pruned_at = float("-inf")
        with self._lock:
            self._db.executescript(SCHEMA)

    def arrived(self, update_id: int, update_json: str) -> bool:
        """Record an update; False if it was recorded before (answered, or being answered)."""
        now = time.time()
        with self._lock:
            if now - self._pruned_at > PRUNE_EVERY:
                self._db.execute(
                    "DELETE FROM updates WHERE answered_at < ?", (now - KEEP_ANSWERED,)
                )
                self._pruned_at = now
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO updates (update_id, received_at, update_json) "
                "VALUES (?, ?, ?)",
                (update_id, now, update_json),
            )
        return cursor.rowcount == 1

    def answered(self, update_id: int) -> None:
        """Mark an update answered: it is never handled again."""
        with self._lock:
            self._db.execute(
                "UPDATE updates SET answered_at = ? WHERE update_id = ?", (time.time(), update_id)
            )

    def unanswered(self) -> list[dict]:
        """The updates recorded but not answered, oldest first, as Telegram sent them."""
        with self._lock:
            rows = self._db.execute(
                "SELECT update_json FROM updates WHERE answered_at IS NULL ORDER BY update_id"
            ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


class LedgerQueue(asyncio.Queue):
    """The application's update queue: an update is recorded before it is queued, once."""

    def __init__(self, ledger: Ledger) -> None:
        super().__init__()
        self.ledger = ledger

    async def put(self, item: Any) -> None:
        if isinstance(item, Update) and not self.ledger.arrived(item.update_id, item.to_json()):
            logger.info("update %s arrived again; it is answered once", item.update_id)
            return
        await super().put(item)

    def replay(self, bot: Bot) -> int:
        """Queue the updates that were recorded but not answered; returns how many.

        Call before updates are fetched, so they are handled first. They bypass ``put``:
        they are recorded already.
        """
        pending = self.ledger.unanswered()
        for data in pending:
            self.put_nowait(Update.de_json(data, bot))
        return len(pending)


class LedgerProcessor(SimpleUpdateProcessor):
    """Handles updates concurrently (as SimpleUpdateProcessor) and marks each answered.

    An update is answered once its handlers have run, whether they replied or failed (the
    error handler has told the user): handling it again would not help. One cancelled by a
    shutdown is not, and is handled at the next start.
    """

    def __init__(self, ledger: Ledger, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self.ledger = ledger

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        await coroutine
        if isinstance(update, Update):
            self.ledger.answered(update.update_id)

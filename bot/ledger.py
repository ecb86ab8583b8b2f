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

Replicas (ARTICLEBOT_STORE=postgres, webhook mode) share one ledger in PostgreSQL
(bot/pg_state.py's ``PostgresLedger``): an update there is leased to the replica that
recorded it, which renews its leases while it runs (``keep_leases``); one whose replica
stopped renewing (killed, or its machine gone) is taken over and answered by another.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, Protocol

from telegram import Bot, Update
from telegram.ext import Application, ContextTypes, SimpleUpdateProcessor

from .state_db import SqliteDb

logger = logging.getLogger(__name__)

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS updates (
        update_id INTEGER PRIMARY KEY,
        received_at REAL NOT NULL,
        update_json TEXT NOT NULL,
        answered_at REAL)""",
    "CREATE INDEX IF NOT EXISTS updates_answered ON updates(answered_at)",
)

# Answered updates are remembered this long: Telegram sends an update again for at most
# 24 hours, and picks update ids at random after a week without updates, so old ids may
# come back as new updates.
KEEP_ANSWERED = 2 * 24 * 3600
PRUNE_EVERY = 60.0  # seconds


class UpdateLedger(Protocol):
    """What the update queue and the processor need of a ledger, wherever it is kept."""

    # Seconds an unanswered update stays the process's that recorded it without a renewal
    # (``renew``); None for a ledger no other process uses.
    lease: float | None

    def arrived(self, update_id: int, update_json: str) -> bool:
        """Record an update; False if it was recorded before (answered, or being answered)."""
        ...

    def answered(self, update_id: int) -> None:
        """Mark an update answered: it is never handled again."""
        ...

    def unanswered(self) -> list[dict]:
        """At start: the recorded updates no running process is answering, oldest first, as
        Telegram sent them; they are this process's to answer now."""
        ...

    def renew(self) -> list[dict]:
        """Keep this process's unanswered updates its own for another lease, and take over
        (and return) those whose process stopped renewing them."""
        ...

    def close(self) -> None: ...


class Ledger:
    """Which updates arrived and which were answered, in SQLite, for one bot process."""

    lease = None  # the process that opens the file is the only one answering its updates

    def __init__(self, path: str | Path) -> None:
        self._db = SqliteDb(path, durable=True)
        self._db.create(SCHEMA)
        self._pruned_at = float("-inf")

    def arrived(self, update_id: int, update_json: str) -> bool:
        now = time.time()
        if now - self._pruned_at > PRUNE_EVERY:
            self._db.run("DELETE FROM updates WHERE answered_at < ?", (now - KEEP_ANSWERED,))
            self._pruned_at = now
        _, inserted = self._db.run(
            "INSERT OR IGNORE INTO updates (update_id, received_at, update_json) VALUES (?, ?, ?)",
            (update_id, now, update_json),
        )
        return inserted == 1

    def answered(self, update_id: int) -> None:
        self._db.run(
            "UPDATE updates SET answered_at = ? WHERE update_id = ?", (time.time(), update_id)
        )

    def unanswered(self) -> list[dict]:
        rows, _ = self._db.run(
            "SELECT update_json FROM updates WHERE answered_at IS NULL ORDER BY update_id"
        )
        return [json.loads(row[0]) for row in rows]

    def renew(self) -> list[dict]:
        return []  # no other process answers these updates: none to take over

    def close(self) -> None:
        self._db.close()


class LedgerQueue(asyncio.Queue):
    """The application's update queue: an update is recorded before it is queued, once."""

    def __init__(self, ledger: UpdateLedger) -> None:
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
        return self.requeue(self.ledger.unanswered(), bot)

    def requeue(self, updates: list[dict], bot: Bot) -> int:
        """Queue updates the ledger has recorded already (bypassing ``put``); returns how
        many. On the event loop's thread: an asyncio queue is not thread-safe."""
        for data in updates:
            self.put_nowait(Update.de_json(data, bot))
        return len(updates)


class LedgerProcessor(SimpleUpdateProcessor):
    """Handles updates concurrently (as SimpleUpdateProcessor) and marks each answered.

    An update is answered once its handlers have run, whether they replied or failed (the
    error handler has told the user): handling it again would not help. One cancelled by a
    shutdown is not, and is handled at the next start.
    """

    def __init__(self, ledger: UpdateLedger, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self.ledger = ledger

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        await coroutine
        if isinstance(update, Update):
            self.ledger.answered(update.update_id)


def keep_leases(application: Application) -> None:
    """With a ledger that replicas share: renew this process's leases every third of a
    lease, and answer the updates of replicas that stopped renewing theirs."""
    queue: LedgerQueue = application.update_queue
    lease = queue.ledger.lease
    if lease is None:
        return

    async def renew(context: ContextTypes.DEFAULT_TYPE) -> None:
        # The database in a thread, off the event loop; the queue on the loop.
        taken = queue.requeue(await asyncio.to_thread(queue.ledger.renew), context.bot)
        if taken:
            logger.info("took over %d updates that a stopped replica was answering", taken)

    application.job_queue.run_repeating(renew, interval=lease / 3, first=lease / 3, name="leases")

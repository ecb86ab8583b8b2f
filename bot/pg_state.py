"""The bot's state in PostgreSQL, shared by every replica: N processes behave as one bot.

With ARTICLEBOT_STORE=postgres, the articles' database keeps the rest of the bot's state
too, so that replicas of ``articlebot telegram`` (webhook mode, behind a load balancer that
sends each update to any of them) answer as one bot. Tables, beside the store's
(index/postgres_store.py):

    turns      each chat's questions and answers (bot/chats.py: the same statements as
               in SQLite), so /sources and follow-ups work whichever replica answers
    questions  user_id, asked_at: each user's questions of the last minute (the quota)
    updates    update_id, received_at, update_json, answered_at, owner, lease_until:
               the ledger of exactly-once replies (bot/ledger.py)

Times are seconds since the epoch by the database's clock, never a machine's: replicas on
machines whose clocks differ still agree on a minute and on when a lease runs out.

Leases: an update is recorded with its replica's name (``owner``) and a lease that the
replica renews every third of a lease while it runs (bot/ledger.py's ``keep_leases``). A
replica that is killed, or whose machine is gone, stops renewing; once its lease has run
out the next replica to renew claims its unanswered updates (``FOR UPDATE SKIP LOCKED``:
each is claimed by one replica) and answers them. A replica that stops cleanly gives up its
leases at once. A replica that cannot reach the database for a whole lease may see its
updates answered twice: the lease (TELEGRAM_UPDATE_LEASE) is that trade.

Polling: Telegram gives updates to one getUpdates consumer per bot, so a second poller
would steal updates from the first. ``PollingLock`` is a session-level advisory lock,
held for the poller's life; a second poller refuses to start.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg

from index.postgres_schema import connect, redacted

from .ledger import KEEP_ANSWERED, PRUNE_EVERY
from .state import PollerRunning

logger = logging.getLogger(__name__)

# The database's clock, in seconds since the epoch (clock_timestamp: the time now, not the
# transaction's start).
NOW = "extract(epoch FROM clock_timestamp())::float8"
# Advisory lock keys, apart from the store's write lock (one bigint key): two int4 keys,
# the first saying what is locked.
SCHEMA_LOCK = 0x41_52_54_53  # "ARTS": creating the state's tables
QUOTA_LOCK = 0x41_52_54_51  # "ARTQ": with a user's hash: counting the user's questions
POLLING_LOCK = 0x41_52_54_50  # "ARTP": with a bot's hash: polling Telegram for the bot
CLAIM_AT_ONCE = 100  # orphaned updates one renewal takes over


class PostgresDb:
    """A connection to the state's database (bot/state_db.py's ``StateDb``).

    ``?`` placeholders become psycopg's ``%s``: the state's statements hold no other ``?``
    and no ``%``.
    """

    dialect = "postgres"

    def __init__(self, url: str) -> None:
        """Connect; StoreError says why it cannot."""
        self.where = redacted(url)
        self._db = connect(url)
        self._lock = threading.RLock()  # one statement or transaction at a time

    def run(self, query: str, params: Sequence[object] = ()) -> tuple[list[tuple], int]:
        with self._lock:
            cursor = self._db.execute(query.replace("?", "%s"), params)
            rows = cursor.fetchall() if cursor.description else []
            return rows, cursor.rowcount

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock, self._db.transaction():
            yield

    def create(self, statements: Sequence[str]) -> None:
        # Two processes creating one table at once can collide on the catalog: one at a time.
        with self.transaction():
            self.run("SELECT pg_advisory_xact_lock(?, 0)", (SCHEMA_LOCK,))
            for statement in statements:
                self.run(statement)

    def now(self) -> float:
        """The database's clock, in seconds since the epoch."""
        return self.run(f"SELECT {NOW}")[0][0][0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


QUOTA_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS questions (
        user_id BIGINT NOT NULL, asked_at DOUBLE PRECISION NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS questions_user ON questions(user_id, asked_at)",
)


class PostgresQuota:
    """At most ``per_minute`` questions from one user in any 60 seconds, whichever replicas
    the questions reach (bot/desk.py's ``QuestionQuota``, for one process, says the same)."""

    def __init__(self, db: PostgresDb, per_minute: int) -> None:
        self._db = db
        self.per_minute = per_minute
        self._pruned_at = float("-inf")
        db.create(QUOTA_SCHEMA)

    def take(self, user_id: int, now: float | None = None) -> float:
        """0 if the user may ask now (and counts the question); else seconds to wait."""
        with self._db.transaction():
            # One count at a time per user: two replicas must not both let the last one in.
            self._db.run("SELECT pg_advisory_xact_lock(?, hashtext(?))", (QUOTA_LOCK, str(user_id)))
            now = self._db.now() if now is None else now
            if now - self._pruned_at > PRUNE_EVERY:  # the users who have stopped asking
                self._db.run("DELETE FROM questions WHERE asked_at <= ?", (now - 60,))
                self._pruned_at = now
            else:
                self._db.run(
                    "DELETE FROM questions WHERE user_id = ? AND asked_at <= ?",
                    (user_id, now - 60),
                )
            ((count, first),), _ = self._db.run(
                "SELECT count(*), min(asked_at) FROM questions WHERE user_id = ?", (user_id,)
            )
            if count >= self.per_minute:
                return first + 60 - now
            self._db.run("INSERT INTO questions (user_id, asked_at) VALUES (?, ?)", (user_id, now))
            return 0.0

    def close(self) -> None:
        self._db.close()


LEDGER_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS updates (
        update_id BIGINT PRIMARY KEY,
        received_at DOUBLE PRECISION NOT NULL,
        update_json TEXT NOT NULL,
        answered_at DOUBLE PRECISION,
        owner TEXT,
        lease_until DOUBLE PRECISION)""",
    "CREATE INDEX IF NOT EXISTS updates_answered ON updates(answered_at)",
    """CREATE INDEX IF NOT EXISTS updates_leased ON updates(lease_until)
        WHERE answered_at IS NULL""",
)


class PostgresLedger:
    """The ledger of exactly-once replies (bot/ledger.py's ``UpdateLedger``) that replicas
    share: each unanswered update is leased to the replica that recorded it."""

    def __init__(self, db: PostgresDb, lease: float) -> None:
        self._db = db
        self.lease = lease
        # This process, by name: the machine, the process and a nonce (pids are reused).
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._pruned_at = float("-inf")
        db.create(LEDGER_SCHEMA)

    def arrived(self, update_id: int, update_json: str) -> bool:
        _, inserted = self._db.run(
            "INSERT INTO updates (update_id, received_at, update_json, owner, lease_until) "
            f"VALUES (?, {NOW}, ?, ?, {NOW} + ?) ON CONFLICT (update_id) DO NOTHING",
            (update_id, update_json, self.owner, self.lease),
        )
        return inserted == 1

    def answered(self, update_id: int) -> None:
        self._db.run(
            f"UPDATE updates SET answered_at = {NOW}, owner = NULL, lease_until = NULL "
            "WHERE update_id = ?",
            (update_id,),
        )

    def unanswered(self) -> list[dict]:
        """At start: the unanswered updates whose replica has stopped (its lease ran out),
        now this one's, oldest first. Those of running replicas stay theirs."""
        return self._claim()

    def renew(self) -> list[dict]:
        with self._db.transaction():
            self._db.run(
                f"UPDATE updates SET lease_until = {NOW} + ? "
                "WHERE owner = ? AND answered_at IS NULL",
                (self.lease, self.owner),
            )
            if time.monotonic() - self._pruned_at > PRUNE_EVERY:
                self._db.run(f"DELETE FROM updates WHERE answered_at < {NOW} - ?", (KEEP_ANSWERED,))
                self._pruned_at = time.monotonic()
        return self._claim()

    def _claim(self) -> list[dict]:
        """Take over the unanswered updates whose lease ran out, each by one replica."""
        rows, _ = self._db.run(
            f"UPDATE updates SET owner = ?, lease_until = {NOW} + ? WHERE update_id IN ("
            "SELECT update_id FROM updates "
            f"WHERE answered_at IS NULL AND lease_until < {NOW} "
            "ORDER BY update_id LIMIT ? FOR UPDATE SKIP LOCKED) "
            "RETURNING update_id, update_json",
            (self.owner, self.lease, CLAIM_AT_ONCE),
        )
        return [json.loads(data) for _, data in sorted(rows)]

    def close(self) -> None:
        """Give up this process's leases, so another replica answers what it leaves at once
        (updates a shutdown cancelled), then close the connection."""
        try:
            self._db.run(
                "UPDATE updates SET lease_until = 0 WHERE owner = ? AND answered_at IS NULL",
                (self.owner,),
            )
        except psycopg.Error as exc:  # the leases then run out by themselves
            logger.warning("could not give up the leases on unanswered updates: %s", exc)
        finally:
            self._db.close()


class PollingLock:
    """The right to poll Telegram for one bot: a session-level advisory lock in the
    database, held until ``close`` (or until the process dies and its session ends)."""

    def __init__(self, url: str, token: str) -> None:
        """Take the lock for the bot whose token is ``token``; PollerRunning if another
        process holds it."""
        self._db = PostgresDb(url)
        # Keyed by the bot's id, the token's public part (never the secret one): Telegram's
        # rule is one consumer per bot.
        bot_id = self._bot_id = token.partition(":")[0]
        ((taken,),), _ = self._db.run(
            "SELECT pg_try_advisory_lock(?, hashtext(?))", (POLLING_LOCK, bot_id)
        )
        if not taken:
            self._db.close()
            raise PollerRunning(
                f"another articlebot process is polling Telegram for this bot (bot {bot_id}, "
                f"database {self._db.where}): Telegram allows one getUpdates consumer per "
                "bot, so replicas must use webhooks: set TELEGRAM_MODE=webhook (and "
                "TELEGRAM_WEBHOOK_URL, the load balancer's address) on every process, or "
                "stop the other poller"
            )

    def close(self) -> None:
        """Let go of the lock, then close the connection. The unlock is explicit because
        a closed connection's session ends a moment later, in the server's own time: a
        poller restarted at once would otherwise find the lock still held."""
        try:
            self._db.run("SELECT pg_advisory_unlock(?, hashtext(?))", (POLLING_LOCK, self._bot_id))
        except psycopg.Error as exc:  # ending the session below lets go of it all the same
            logger.warning("could not let go of the polling lock: %s", exc)
        finally:
            self._db.close()

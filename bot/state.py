"""What a bot keeps beside its articles, and where: chats, the update ledger, question quotas.

The choice is made here, once, by ARTICLEBOT_STORE: with the embedded default (faiss) the
chats and the ledger are in a SQLite file (TELEGRAM_CHATS_DB, else chats.sqlite in the data
directory) and each user's quota is counted in the process, as one process serves the bot;
with postgres they are in the articles' database, shared by every replica (bot/pg_state.py).
Either way the same interfaces: ``ChatHistory``, ``UpdateLedger``, ``Quota``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .chats import ChatHistory
from .core import postgres_url
from .desk import QuestionQuota, Quota
from .ledger import Ledger, UpdateLedger
from .settings import Settings

if TYPE_CHECKING:  # psycopg is the postgres extra's: imported only when it is chosen
    from .pg_state import PollingLock


class PollerRunning(RuntimeError):
    """Another process polls Telegram for this bot; the message says what to do instead."""


@dataclass
class BotState:
    """The state of one bot process; the desk closes ``chats``, the front end ``ledger``."""

    chats: ChatHistory
    ledger: UpdateLedger
    quota: Quota


def open_state(settings: Settings) -> BotState:
    """The bot's state where the settings put it; StoreError if its database is unreachable
    or not set."""
    per_minute = settings.telegram_questions_per_minute
    if settings.store == "postgres":
        from .pg_state import PostgresDb, PostgresLedger, PostgresQuota

        url = postgres_url(settings)
        # A connection each: the ledger works on the event loop, the chats in the answering
        # threads, and neither waits for the other.
        return BotState(
            chats=ChatHistory(PostgresDb(url)),
            ledger=PostgresLedger(PostgresDb(url), settings.telegram_update_lease),
            quota=PostgresQuota(PostgresDb(url), per_minute),
        )
    chats_db = settings.telegram_chats_db or Path(settings.data_dir) / "chats.sqlite"
    return BotState(ChatHistory(chats_db), Ledger(chats_db), QuestionQuota(per_minute))


def hold_polling(settings: Settings) -> PollingLock | None:
    """Before polling Telegram with a shared state: the lock only one poller of the bot may
    hold (PollerRunning says why not); None with the embedded state."""
    if settings.store != "postgres":
        return None
    from .pg_state import PollingLock

    return PollingLock(postgres_url(settings), settings.telegram_bot_token.get_secret_value())

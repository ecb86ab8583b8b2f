"""Each chat's questions and answers, kept in a database so they survive a restart.

The history feeds follow-up questions; the stored answers let /sources and the Sources
button show the passages behind an answer long after it was given. The database is a
SQLite file (chats.sqlite in the data directory) for one bot process, or the PostgreSQL
database of ARTICLEBOT_STORE=postgres, which every replica of the bot shares (bot/state.py
chooses): the same statements on either (bot/state_db.py). Each chat's date window
(/since, /until) is kept beside its turns, and /reset leaves it be.
"""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

from index.dates import DateWindow

from .answering import Turn
from .state_db import MEMORY, SqliteDb, StateDb
from .types import Answer

SCHEMA = {
    "sqlite": (
        """CREATE TABLE IF NOT EXISTS turns (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            chat_id INTEGER NOT NULL,
            asked_at REAL NOT NULL,
            question TEXT NOT NULL,
            answer_text TEXT NOT NULL,
            answer_json TEXT NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS turns_chat ON turns(chat_id, id)",
        "CREATE TABLE IF NOT EXISTS windows (chat_id INTEGER PRIMARY KEY, since TEXT, until TEXT)",
    ),
    "postgres": (
        """CREATE TABLE IF NOT EXISTS turns (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            chat_id BIGINT NOT NULL,
            asked_at DOUBLE PRECISION NOT NULL,
            question TEXT NOT NULL,
            answer_text TEXT NOT NULL,
            answer_json TEXT NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS turns_chat ON turns(chat_id, id)",
        "CREATE TABLE IF NOT EXISTS windows (chat_id BIGINT PRIMARY KEY, since TEXT, until TEXT)",
    ),
}

KEEP_TURNS = 50  # per chat; older turns are dropped


class ChatHistory:
    """The turns of every chat: question, answer text and the full Answer as JSON.

    ``db``: the database, or the path of a SQLite file (``MEMORY``: for the process's life).
    """

    def __init__(self, db: StateDb | str | Path = MEMORY) -> None:
        self._db = SqliteDb(db) if isinstance(db, str | Path) else db
        self._db.create(SCHEMA[self._db.dialect])

    def record(self, chat_id: int, answer: Answer) -> int:
        """Store an answer as the chat's latest turn; returns the turn's id."""
        data = json.dumps(answer.to_dict(), ensure_ascii=False)
        with self._db.transaction():
            (turn,), _ = self._db.run(
                "INSERT INTO turns (chat_id, asked_at, question, answer_text, answer_json) "
                "VALUES (?, ?, ?, ?, ?) RETURNING id",
                (chat_id, time.time(), answer.question, answer.text, data),
            )
            self._db.run(
                "DELETE FROM turns WHERE chat_id = ? AND id NOT IN "
                "(SELECT id FROM turns WHERE chat_id = ? ORDER BY id DESC LIMIT ?)",
                (chat_id, chat_id, KEEP_TURNS),
            )
        return int(turn[0])

    def history(self, chat_id: int, turns: int) -> list[Turn]:
        """The chat's last ``turns`` (question, answer text) pairs, oldest first."""
        if turns <= 0:
            return []
        rows, _ = self._db.run(
            "SELECT question, answer_text FROM turns WHERE chat_id = ? ORDER BY id DESC LIMIT ?",
            (chat_id, turns),
        )
        return [(q, a) for q, a in reversed(rows)]

    def answer(self, chat_id: int, turn_id: int | None = None) -> Answer | None:
        """The answer of one turn of the chat, or its latest answer; None if there is none."""
        if turn_id is None:
            rows, _ = self._db.run(
                "SELECT answer_json FROM turns WHERE chat_id = ? ORDER BY id DESC LIMIT 1",
                (chat_id,),
            )
        else:
            rows, _ = self._db.run(
                "SELECT answer_json FROM turns WHERE chat_id = ? AND id = ?", (chat_id, turn_id)
            )
        return Answer.from_dict(json.loads(rows[0][0])) if rows else None

    def window(self, chat_id: int) -> DateWindow:
        """The dates the chat's questions search (/since, /until); open if none were set."""
        rows, _ = self._db.run("SELECT since, until FROM windows WHERE chat_id = ?", (chat_id,))
        if not rows:
            return DateWindow()
        return DateWindow(*(date.fromisoformat(day) if day else None for day in rows[0]))

    def set_window(self, chat_id: int, window: DateWindow) -> None:
        """Keep the dates the chat's questions search from now on (an open window: all)."""
        since, until = (day.isoformat() if day else None for day in (window.since, window.until))
        if window:
            self._db.run(
                "INSERT INTO windows (chat_id, since, until) VALUES (?, ?, ?) ON CONFLICT "
                "(chat_id) DO UPDATE SET since = excluded.since, until = excluded.until",
                (chat_id, since, until),
            )
        else:
            self._db.run("DELETE FROM windows WHERE chat_id = ?", (chat_id,))

    def forget(self, chat_id: int) -> int:
        """Delete the chat's history; returns how many turns were dropped."""
        return self._db.run("DELETE FROM turns WHERE chat_id = ?", (chat_id,))[1]

    def close(self) -> None:
        self._db.close()

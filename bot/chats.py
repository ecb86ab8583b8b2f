"""Each chat's questions and answers, kept in SQLite so they survive a restart.

The history feeds follow-up questions; the stored answers let /sources and the Sources
button show the passages behind an answer long after it was given. Each chat's date window
(/since, /until) is kept beside its turns, and /reset leaves it be.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import date
from pathlib import Path

from index.dates import DateWindow
from index.sqlite import transaction

from .answering import Turn
from .types import Answer

SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id INTEGER NOT NULL,
    asked_at REAL NOT NULL,
    question TEXT NOT NULL,
    answer_text TEXT NOT NULL,
    answer_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_chat ON turns(chat_id, id);
CREATE TABLE IF NOT EXISTS windows (
    chat_id INTEGER PRIMARY KEY,
    since TEXT,
    until TEXT
);
"""

KEEP_TURNS = 50  # per chat; older turns are dropped


MEMORY = ":memory:"  # a history that lasts as long as the process (the REPL's)


class ChatHistory:
    """The turns of every chat: question, answer text and the full Answer as JSON."""

    def __init__(self, path: str | Path = MEMORY) -> None:
        if str(path) != MEMORY:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._lock = threading.Lock()
        with self._lock:
            self._db.executescript(SCHEMA)

    def record(self, chat_id: int, answer: Answer) -> int:
        """Store an answer as the chat's latest turn; returns the turn's id."""
        data = json.dumps(answer.to_dict(), ensure_ascii=False)
        with self._lock, transaction(self._db):
            cursor = self._db.execute(
                "INSERT INTO turns (chat_id, asked_at, question, answer_text, answer_json) "
                "VALUES (?, ?, ?, ?, ?)",
                (chat_id, time.time(), answer.question, answer.text, data),
            )
            self._db.execute(
                "DELETE FROM turns WHERE chat_id = ? AND id NOT IN "
                "(SELECT id FROM turns WHERE chat_id = ? ORDER BY id DESC LIMIT ?)",
                (chat_id, chat_id, KEEP_TURNS),
            )
        return int(cursor.lastrowid)

    def history(self, chat_id: int, turns: int) -> list[Turn]:
        """The chat's last ``turns`` (question, answer text) pairs, oldest first."""
        if turns <= 0:
            return []
        with self._lock:
            rows = self._db.execute(
                "SELECT question, answer_text FROM turns WHERE chat_id = ? "
                "ORDER BY id DESC LIMIT ?",
                (chat_id, turns),
            ).fetchall()
        return [(q, a) for q, a in reversed(rows)]

    def answer(self, chat_id: int, turn_id: int | None = None) -> Answer | None:
        """The answer of one turn of the chat, or its latest answer; None if there is none."""
        with self._lock:
            if turn_id is None:
                row = self._db.execute(
                    "SELECT answer_json FROM turns WHERE chat_id = ? ORDER BY id DESC LIMIT 1",
                    (chat_id,),
                ).fetchone()
            else:
                row = self._db.execute(
                    "SELECT answer_json FROM turns WHERE chat_id = ? AND id = ?",
                    (chat_id, turn_id),
                ).fetchone()
        return Answer.from_dict(json.loads(row[0])) if row else None

    def window(self, chat_id: int) -> DateWindow:
        """The dates the chat's questions search (/since, /until); open if none were set."""
        with self._lock:
            row = self._db.execute(
                "SELECT since, until FROM windows WHERE chat_id = ?", (chat_id,)
            ).fetchone()
        if row is None:
            return DateWindow()
        return DateWindow(*(date.fromisoformat(day) if day else None for day in row))

    def set_window(self, chat_id: int, window: DateWindow) -> None:
        """Keep the dates the chat's questions search from now on (an open window: all)."""
        since, until = (day.isoformat() if day else None for day in (window.since, window.until))
        with self._lock:
            if window:
                self._db.execute(
                    "INSERT OR REPLACE INTO windows (chat_id, since, until) VALUES (?, ?, ?)",
                    (chat_id, since, until),
                )
            else:
                self._db.execute("DELETE FROM windows WHERE chat_id = ?", (chat_id,))

    def forget(self, chat_id: int) -> int:
        """Delete the chat's history; returns how many turns were dropped."""
        with self._lock:
            cursor = self._db.execute("DELETE FROM turns WHERE chat_id = ?", (chat_id,))
        return cursor.rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()

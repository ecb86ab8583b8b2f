"""The feeds articlebot follows, and the entries already taken from them, in SQLite.

One file in the data directory, ``feeds.sqlite``, apart from the store's: the store can change
its own layout without touching this one. It holds::

    feeds     url, title, the validators of the last answer (ETag, Last-Modified), when the
              feed was last polled and last read well, its failures in a row and last error
    entries   the link of every entry already taken (read and indexed, or found unreadable),
              so that an entry is read once however often it stays in its feed

A poll writes what it learned about every feed it polled in one transaction, after the
articles were stored: a crash before it leaves the entries untaken and the old validators,
so the next poll reads them again (the store skips content it already holds).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .sqlite import transaction

DB_NAME = "feeds.sqlite"
MAX_BACKOFF = timedelta(days=1)

SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    id TEXT PRIMARY KEY, url TEXT NOT NULL UNIQUE, title TEXT NOT NULL, added_at TEXT NOT NULL,
    etag TEXT, last_modified TEXT, last_polled TEXT, last_ok TEXT,
    failures INTEGER NOT NULL DEFAULT 0, last_error TEXT
);
CREATE TABLE IF NOT EXISTS entries (
    link TEXT PRIMARY KEY,
    feed_id TEXT NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    taken_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_feed ON entries(feed_id);
"""
_STATE = ("title", "etag", "last_modified", "last_polled", "last_ok", "failures", "last_error")


class FeedError(ValueError):
    """A feed cannot be followed, found or read; the message says why, for a person."""


class NoSuchFeed(FeedError):
    """No followed feed has this id, id prefix or URL (the front end says where they are
    listed)."""


@dataclass
class Feed:
    """A followed feed and what the last polls found. Times are UTC."""

    id: str
    url: str
    title: str
    added_at: datetime
    etag: str | None = None
    last_modified: str | None = None
    last_polled: datetime | None = None
    last_ok: datetime | None = None
    failures: int = 0  # polls in a row that failed; each doubles the wait (next_poll)
    last_error: str | None = None
    entries: int = 0  # entries taken from it so far

    def next_poll(self, interval: timedelta) -> datetime | None:
        """When the feed is next due: ``interval`` after the last poll, times 2^failures
        for a failing feed (at most a day); None for a feed never polled (due now)."""
        if self.last_polled is None:
            return None
        wait = min(interval * 2 ** min(self.failures, 20), max(MAX_BACKOFF, interval))
        return self.last_polled + wait

    def is_due(self, now: datetime, interval: timedelta) -> bool:
        """Whether a poll at ``now`` should read this feed."""
        due = self.next_poll(interval)
        # A little early counts: cron or a job queue that runs every ``interval`` starts a
        # second or so later or earlier each time, and must not skip every other run.
        return due is None or now >= due - min(timedelta(minutes=1), interval / 10)


def feed_id(url: str) -> str:
    """A stable id for a feed: a hash of its URL."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:12]


class FeedRegistry:
    """The followed feeds and their taken entries, in ``feeds.sqlite`` of a data directory.

    Safe to share between threads (one lock around the connection); several processes
    (cron's ``articlebot feeds poll`` and the bot) may use the same file.
    """

    def __init__(self, data_dir: str | Path) -> None:
        path = Path(data_dir)
        path.mkdir(parents=True, exist_ok=True)
        self.path = path / DB_NAME
        self._db = sqlite3.connect(
            self.path, timeout=60, check_same_thread=False, isolation_level=None
        )
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        # Held by a whole poll, so that two polls in one process do not read the same feeds.
        self.polling = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.executescript(SCHEMA)

    def add(self, url: str, title: str, now: datetime | None = None) -> Feed:
        """Follow the feed at ``url``; FeedError if it is followed already."""
        feed = Feed(feed_id(url), url, title, now or datetime.now(UTC))
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO feeds (id, url, title, added_at) VALUES (?, ?, ?, ?)",
                    (feed.id, feed.url, feed.title, _text(feed.added_at)),
                )
            except sqlite3.IntegrityError as exc:
                raise FeedError(f"already following {url} (feed {feed.id})") from exc
        return feed

    def feeds(self) -> list[Feed]:
        """Every followed feed, in the order they were added."""
        with self._lock:
            rows = self._db.execute(
                "SELECT feeds.*, (SELECT COUNT(*) FROM entries WHERE feed_id = feeds.id) "
                "AS entries FROM feeds ORDER BY added_at, id"
            ).fetchall()
        return [_feed(row) for row in rows]

    def due(self, now: datetime, interval: timedelta) -> list[Feed]:
        """The feeds a poll at ``now`` should read (see ``Feed.is_due``)."""
        return [feed for feed in self.feeds() if feed.is_due(now, interval)]

    def find(self, id_or_prefix: str) -> Feed:
        """The feed with this id, unique id prefix or URL; FeedError if there is none."""
        key = id_or_prefix.strip()
        matches = [f for f in self.feeds() if key and (f.id.startswith(key) or f.url == key)]
        if not matches:
            raise NoSuchFeed(f"no feed {key!r}")
        if len(matches) > 1:
            ids = ", ".join(f.id for f in matches)
            raise FeedError(f"{key!r} is the start of several feed ids ({ids}); give more of it")
        return matches[0]

    def remove(self, id_or_prefix: str) -> Feed:
        """Stop following a feed (its indexed articles stay in the store)."""
        feed = self.find(id_or_prefix)
        with self._lock:
            self._db.execute("DELETE FROM feeds WHERE id = ?", (feed.id,))
        return feed

    def taken(self, links: Iterable[str]) -> set[str]:
        """Those of ``links`` that were taken already, from any feed."""
        links = list(dict.fromkeys(links))
        found: set[str] = set()
        with self._lock:
            for i in range(0, len(links), 500):
                part = links[i : i + 500]
                query = f"SELECT link FROM entries WHERE link IN ({','.join('?' * len(part))})"
                found.update(row[0] for row in self._db.execute(query, part))
        return found

    def record(self, polled: Iterable[tuple[Feed, list[str]]], now: datetime) -> None:
        """Save each polled feed's state and the links taken from it, in one transaction.

        A feed removed while it was being polled stays removed (its links are not kept).
        """
        assignments = ", ".join(f"{name} = ?" for name in _STATE)
        with self._lock, transaction(self._db):
            for feed, links in polled:
                values = [_text(getattr(feed, name)) for name in _STATE]
                cursor = self._db.execute(
                    f"UPDATE feeds SET {assignments} WHERE id = ?", (*values, feed.id)
                )
                if cursor.rowcount:
                    self._db.executemany(
                        "INSERT OR IGNORE INTO entries (link, feed_id, taken_at) VALUES (?, ?, ?)",
                        [(link, feed.id, _text(now)) for link in links],
                    )

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _text(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _feed(row: sqlite3.Row) -> Feed:
    return Feed(
        id=row["id"],
        url=row["url"],
        title=row["title"],
        added_at=datetime.fromisoformat(row["added_at"]),
        etag=row["etag"],
        last_modified=row["last_modified"],
        last_polled=_time(row["last_polled"]),
        last_ok=_time(row["last_ok"]),
        failures=row["failures"],
        last_error=row["last_error"],
        entries=row["entries"],
    )

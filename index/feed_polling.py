"""Polling the followed feeds: read what is new in each, add it to the store, remember it.

A poll reads the due feeds (index/feed_registry.py: every ``interval``, a failing feed less
often) a few at a time, and at most ``per_host`` fetches go to one host at once. A feed is
fetched with the validators of its last answer (If-None-Match, If-Modified-Since): a 304 adds
nothing and is not parsed. Of a changed feed, the entries whose links were not taken before,
at most ``max_entries`` of them, are read (index/feeds.py); their articles are added to the
store in one step; then the registry saves every polled feed's state and taken links. When
entries were left over for the next poll, the validators are not kept, so that the next poll
reads the feed whole again instead of being told it has not changed.

A feed that fails (cannot be fetched, is not a feed) is counted and reported, with
``newly_failed`` set the first time, and never stops the others.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from .dates import day_of, expired
from .feed_registry import Feed, FeedError, FeedRegistry
from .feeds import Entry, ParsedFeed, parse_feed, read_entry
from .fetch import FetchError, Page, fetch
from .ingest import IngestReport, add_loaded
from .language import detect_language
from .readers import Limits, Loaded
from .types import Article

if TYPE_CHECKING:
    from .ingest import Indexer, ProgressFn

log = logging.getLogger(__name__)


@dataclass
class PollLimits:
    """How feeds are read: the bounds of every fetch, how often, how much, how many at once."""

    read: Limits = field(default_factory=Limits)  # timeout, size, private addresses
    interval: timedelta = timedelta(minutes=15)  # ARTICLEBOT_FEED_INTERVAL
    max_entries: int = 20  # new entries read from one feed per poll (ARTICLEBOT_FEED_MAX_ENTRIES)
    per_host: int = 2  # fetches at once to one host, to be a polite reader
    workers: int = 4  # feeds read at once
    # Entries dated more than this many days ago are not taken: retention would remove
    # them at its next run (ARTICLEBOT_RETENTION_DAYS, index/retention.py); None: all.
    retention_days: int | None = None


@dataclass
class FeedPoll:
    """What one poll did with one feed."""

    feed: Feed  # its state after the poll
    added: list[Article] = field(default_factory=list)
    skipped: list[Article] = field(default_factory=list)  # content already indexed
    errors: list[str] = field(default_factory=list)  # "link: why", entries with no text at all
    from_feed: list[str] = field(default_factory=list)  # "link: why the page was not read";
    # these entries were indexed from the text the feed gives for them
    deferred: int = 0  # new entries left for the next poll (max_entries)
    not_modified: bool = False  # the server said 304: nothing to read
    error: str | None = None  # why the feed itself could not be read
    newly_failed: bool = False  # it failed and had not before: worth telling someone, once
    recovered: bool = False  # it was read after failing


@dataclass
class PollReport:
    """What a poll did, feed by feed; feeds not due yet are in ``waiting``."""

    polled: list[FeedPoll] = field(default_factory=list)
    waiting: list[Feed] = field(default_factory=list)
    chunks: int = 0
    stored: IngestReport = field(default_factory=IngestReport)  # copies kept, sample retired

    @property
    def added(self) -> list[Article]:
        return [article for poll in self.polled for article in poll.added]

    @property
    def failed(self) -> list[FeedPoll]:
        return [poll for poll in self.polled if poll.error]

    @property
    def newly_failed(self) -> list[FeedPoll]:
        return [poll for poll in self.polled if poll.newly_failed]

    @property
    def recovered(self) -> list[FeedPoll]:
        return [poll for poll in self.polled if poll.recovered]


class HostSlots:
    """At most ``per_host`` fetches at once to any one host, across threads."""

    def __init__(self, per_host: int) -> None:
        self.per_host = per_host
        self._lock = threading.Lock()
        self._slots: dict[str, threading.Semaphore] = {}

    @contextmanager
    def hold(self, url: str) -> Iterator[None]:
        host = (urlparse(url).hostname or "").lower()
        with self._lock:
            slot = self._slots.setdefault(host, threading.Semaphore(self.per_host))
        with slot:
            yield


def follow(
    registry: FeedRegistry, url: str, limits: PollLimits, now: datetime | None = None
) -> tuple[Feed, ParsedFeed]:
    """Follow the feed at ``url`` once it was fetched and found to be a feed, and what it
    holds now (its entries are read by the next poll). FeedError or FetchError say why not."""
    url = url.strip()
    known = next((feed for feed in registry.feeds() if feed.url == url), None)
    if known:
        raise FeedError(f"already following {url} (feed {known.id})")
    page = _fetch(url, {}, limits, HostSlots(limits.per_host))
    parsed = parse_feed(page.data, page.url, page.content_type)
    return registry.add(url, parsed.title or url, now), parsed


def poll_due(
    indexer: Indexer,
    registry: FeedRegistry,
    limits: PollLimits,
    *,
    now: datetime | None = None,
    progress: ProgressFn | None = None,
) -> PollReport:
    """Poll every feed that is due at ``now`` once and add what is new to the indexer's store.

    Synchronous; meant for a worker thread (the bot's indexing thread, or cron's
    ``articlebot feeds poll``). Two polls in one process take turns.
    """
    now = now or datetime.now(UTC)
    with registry.polling:
        feeds = registry.feeds()
        due = [feed for feed in feeds if feed.is_due(now, limits.interval)]
        report = _poll(indexer, registry, due, limits, now, progress)
    report.waiting = [feed for feed in feeds if feed not in due]
    return report


def poll_feeds(
    indexer: Indexer,
    registry: FeedRegistry,
    ids: list[str],
    limits: PollLimits,
    *,
    now: datetime | None = None,
    progress: ProgressFn | None = None,
) -> PollReport:
    """Poll the named feeds (ids, unique id prefixes or URLs) now, due or not."""
    feeds = [registry.find(key) for key in ids]  # FeedError before anything is fetched
    with registry.polling:
        return _poll(indexer, registry, feeds, limits, now or datetime.now(UTC), progress)


def _poll(
    indexer: Indexer,
    registry: FeedRegistry,
    feeds: list[Feed],
    limits: PollLimits,
    now: datetime,
    progress: ProgressFn | None,
) -> PollReport:
    if not feeds:
        return PollReport()
    slots = HostSlots(limits.per_host)
    # langdetect loads its profiles on first use, and not safely from two threads at once.
    detect_language("articlebot reads feeds")
    workers = max(1, min(limits.workers, len(feeds)))
    with ThreadPoolExecutor(workers, thread_name_prefix="feed") as pool:
        reads = list(
            pool.map(lambda feed: _read_feed(feed, registry, limits, slots, now.date()), feeds)
        )
    loads = [loaded for _, feed_loads, _ in reads for loaded in feed_loads]
    stored = add_loaded(indexer, loads, progress)
    new_ids = {article.id for article in stored.added}
    for poll, feed_loads, _ in reads:
        _count(poll, feed_loads, new_ids)
        _settle(poll, now)
    registry.record([(poll.feed, taken) for poll, _, taken in reads], now)
    return PollReport(polled=[poll for poll, _, _ in reads], chunks=stored.chunks, stored=stored)


def _read_feed(
    feed: Feed, registry: FeedRegistry, limits: PollLimits, slots: HostSlots, today: date
) -> tuple[FeedPoll, list[Loaded], list[str]]:
    """Fetch a feed and read its new entries: the poll so far, what was read, the links taken.

    Runs in a worker thread; the registry is only read.
    """
    poll = FeedPoll(replace(feed))
    validators = {"If-None-Match": feed.etag, "If-Modified-Since": feed.last_modified}
    try:
        page = _fetch(feed.url, validators, limits, slots)
        if page.status == 304:
            poll.not_modified = True
            return poll, [], []
        parsed = parse_feed(page.data, page.url, page.content_type)
        unique: dict[str, Entry] = {}
        for entry in parsed.entries:  # a feed may list an entry twice
            unique.setdefault(entry.key, entry)
        entries = list(unique.values())
        taken = registry.taken(entry.key for entry in entries)
        new = [entry for entry in entries if entry.key not in taken]
        if limits.retention_days:
            new = [e for e in new if not _expired(e.date, limits.retention_days, today)]
        chosen = new[: limits.max_entries]
        poll.deferred = len(new) - len(chosen)
        loads = []
        for entry in chosen:
            with slots.hold(entry.link) if entry.link else nullcontext():
                loaded, why = read_entry(entry, limits.read)
            if why and loaded.articles:
                poll.from_feed.append(f"{entry.key}: {why}")
            loads.append(loaded)
    except (FetchError, FeedError) as exc:
        poll.error = str(exc)
        return poll, [], []
    except Exception as exc:  # one feed's surprise must not stop the others' polls
        log.exception("feed %s (%s) failed", feed.id, feed.url)
        poll.error = f"unexpected error ({type(exc).__name__}: {exc})"
        return poll, [], []
    poll.feed.title = parsed.title or feed.title
    poll.feed.entries = feed.entries + len(chosen)
    keep = poll.deferred == 0  # else the next poll must read the feed, not get a 304
    poll.feed.etag = page.headers.get("etag") if keep else None
    poll.feed.last_modified = page.headers.get("last-modified") if keep else None
    return poll, loads, [entry.key for entry in chosen]


def _expired(entry_date: str | None, days: int, today: date) -> bool:
    """Whether an entry is dated before what retention keeps (an undated one is not)."""
    return entry_date is not None and expired(day_of(entry_date), days, today)


def _fetch(url: str, validators: dict, limits: PollLimits, slots: HostSlots) -> Page:
    headers = {name: value for name, value in validators.items() if value}
    with slots.hold(url):
        return fetch(
            url,
            max_bytes=limits.read.max_bytes,
            timeout=limits.read.fetch_timeout,
            allow_private=limits.read.allow_private_urls,
            headers=headers,
        )


def _count(poll: FeedPoll, loads: list[Loaded], new_ids: set[str]) -> None:
    """Sort the feed's articles into added and already indexed, and note its bad entries."""
    for loaded in loads:
        if loaded.error:
            poll.errors.append(loaded.error)
        for article in loaded.articles:
            if article.id in new_ids:
                new_ids.discard(article.id)  # two feeds with one article: the first added it
                poll.added.append(article)
            else:
                poll.skipped.append(article)


def _settle(poll: FeedPoll, now: datetime) -> None:
    """The feed's state after this poll: its failures counted, or cleared."""
    feed, before = poll.feed, poll.feed.failures
    feed.last_polled = now
    if poll.error:
        feed.failures = before + 1
        feed.last_error = poll.error
        poll.newly_failed = before == 0
        log.warning("feed %s (%s) failed: %s", feed.id, feed.url, poll.error)
    else:
        feed.failures, feed.last_error, feed.last_ok = 0, None, now
        poll.recovered = before > 0

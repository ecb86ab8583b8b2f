"""The question desk: what the REPL and the Telegram bot do, whatever the front end.

A desk answers questions in the context of a chat (its history of follow-ups, kept in
``ChatHistory``), shows the answers again (/sources), forgets a chat (/reset), lists,
adds and removes articles, and holds each user's question quota. Its calls block (embedding,
search, generation, indexing): the REPL calls them directly, the Telegram front end runs
them in its thread pools, off the event loop.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from index.dates import DateWindow, parse_day
from index.feed_polling import PollReport, follow, poll_due, poll_feeds
from index.feed_registry import Feed, FeedError, FeedRegistry
from index.fetch import FetchError
from index.ingest import IngestReport, ProgressFn, Removal, add_content, ingest
from index.retention import prune
from index.store import ArticleInfo, ArticleStore, StoreError
from index.types import Article

from . import gloss
from .answering import Answerer, drain
from .chats import ChatHistory
from .core import indexer, limits, poll_limits
from .listing import Listing, listing
from .settings import Settings
from .types import Answer

logger = logging.getLogger(__name__)


class Quota(Protocol):
    """How many questions a user may ask, wherever the count is kept (bot/state.py)."""

    def take(self, user_id: int) -> float:
        """0 if the user may ask now (and counts the question); else seconds to wait."""
        ...


def upload_source(name: str) -> str:
    """The source of the articles of a file uploaded to the bot as ``name``."""
    return f"telegram:{name}"


class QuestionQuota:
    """At most ``per_minute`` questions from one user in any 60 seconds, counted in this
    process (bot/pg_state.py's ``PostgresQuota`` counts them for every replica)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._asked: dict[int, deque[float]] = {}

    def take(self, user_id: int, now: float | None = None) -> float:
        """0 if the user may ask now (and counts the question); else seconds to wait."""
        now = time.monotonic() if now is None else now
        asked = self._asked.setdefault(user_id, deque())
        while asked and asked[0] <= now - 60:
            asked.popleft()
        if len(asked) >= self.per_minute:
            return asked[0] + 60 - now
        asked.append(now)
        return 0.0


class Access:
    """Who may use the bot and who may change its articles (Telegram user and chat ids)."""

    def __init__(self, settings: Settings) -> None:
        self.admins = set(settings.admin_user_ids)
        self.users = set(settings.allowed_user_ids)
        self.chats = set(settings.allowed_chat_ids)
        self._refused: set[int] = set()

    def is_admin(self, user_id: int) -> bool:
        return user_id in self.admins

    def is_allowed(self, user_id: int, chat_id: int | None) -> bool:
        """Admins always; otherwise a listed user or a listed chat; no lists means everyone."""
        if self.is_admin(user_id) or not (self.users or self.chats):
            return True
        return user_id in self.users or chat_id in self.chats

    def first_refusal(self, user_id: int) -> bool:
        """True the first time a user is turned away, so they hear it once."""
        if user_id in self._refused:
            return False
        self._refused.add(user_id)
        return True


class Desk:
    """Answer, remember, list, add and remove articles: every front end's domain side.

    ``quota`` limits questions per user (None: no limit, as for the one local REPL user).
    ``feeds``: the followed feeds, for a front end that follows and polls them.
    Safe to call from several threads: the store and the chat history lock themselves.
    """

    def __init__(
        self,
        settings: Settings,
        store: ArticleStore,
        answerer: Answerer,
        chats: ChatHistory,
        quota: Quota | None = None,
        feeds: FeedRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.answerer = answerer
        self.chats = chats
        self.quota = quota
        self.limits = limits(settings)
        self.indexer = indexer(settings, store)
        self.feeds = feeds
        self.poll_limits = poll_limits(settings)
        # A desk answers many questions: the Arabic lexicon (0.6 s, bot/gloss.py) is read now,
        # in the background, not by the first Arabic question about English articles. (A
        # one-shot `articlebot ask` reads it only for such a question.)
        if gloss.GLOSSED_LANGUAGE in answerer.retriever.languages():
            gloss.prepare()

    def wait_before_asking(self, user_id: int) -> float:
        """0 if the user may ask now (the question is counted); else seconds to wait."""
        return 0.0 if self.quota is None else self.quota.take(user_id)

    def ask(
        self, chat_id: int, question: str, on_text: Callable[[str], None] | None = None
    ) -> tuple[Answer, int]:
        """The answer to a question in a chat's context, stored as the chat's latest turn.

        Returns the answer and its turn id (for /sources of that very answer). ``on_text``
        gets each piece of a language model's text as it is written (an extractive answer
        comes whole, with no pieces).
        """
        history = self.chats.history(chat_id, self.settings.telegram_history_turns)
        window = self.chats.window(chat_id)
        answer = drain(self.answerer.stream(question, history, window or None), on_text)
        turn = self.chats.record(chat_id, answer)
        logger.info(
            "chat %s: %s by %s in %.0f ms (first text at %s ms)",
            chat_id,
            "refused" if answer.refused else f"{len(answer.citations)} citations",
            answer.mode,
            answer.timings.get("total", 0.0),
            f"{answer.timings['first_token']:.0f}" if "first_token" in answer.timings else "-",
        )
        return answer, turn

    def answer(self, chat_id: int, turn_id: int | None = None) -> Answer | None:
        """A stored answer of the chat (its latest if ``turn_id`` is None)."""
        return self.chats.answer(chat_id, turn_id)

    def forget(self, chat_id: int) -> None:
        """Forget the chat's questions and answers."""
        self.chats.forget(chat_id)

    def window(self, chat_id: int) -> DateWindow:
        """The dates the chat's questions search (open: every article)."""
        return self.chats.window(chat_id)

    def limit_dates(self, chat_id: int, end: str, day: str) -> DateWindow:
        """Set one end of the chat's date window: ``end`` "since" or "until", ``day``
        YYYY-MM-DD, or "off" to open that end. Returns the window; ValueError says why a
        day or a window cannot be (the window is then left as it was)."""
        window = self.chats.window(chat_id)
        value = None if day.strip().lower() == "off" else parse_day(day)
        window = replace(window, **{end: value})
        self.chats.set_window(chat_id, window)
        return window

    def listing(
        self, page: int = 1, counted: int | None = None, after: str | None = None
    ) -> Listing:
        """A page of the indexed articles, newest first (by its date, else the time it was
        added): the one after the article ``after`` if it is still indexed, else of the
        listing of ``counted`` articles if given: bot/listing.py."""
        return listing(self.store, page, counted, after)

    def count(self) -> int:
        """How many articles are indexed."""
        return len(self.store)

    def add(self, target: str, progress: ProgressFn | None = None) -> IngestReport:
        """Index a file, a folder or an http(s) URL; what failed is in the report's errors."""
        return ingest(self.indexer, [target], self.limits, progress)

    def add_upload(
        self, data: bytes, name: str, progress: ProgressFn | None = None
    ) -> IngestReport:
        """Index the content of an uploaded file named ``name``.

        The good lines of a JSONL file are added and each bad one is in the report's
        errors, as "line N: why"; the reply names the file already.
        """
        return add_content(
            self.indexer, data, name, upload_source(name), limits=self.limits, progress=progress
        )

    def put(self, article: Article, progress: ProgressFn | None = None) -> IngestReport:
        """Index an article in place of those with its key (an edited post replaces the
        post): the new one is added first, then the old ones are removed."""
        old = []
        if article.key:
            old = [i for i in self.store.ids_with_key(article.key) if i != article.id]
        added = self.indexer.add([article], progress, replacing=old)
        for article_id in old:
            self.indexer.remove(article_id, successor=article.id)
        if old:
            logger.info("article %s replaced %s (key %s)", article.id, old, article.key)
        return IngestReport.of(added)

    def remove(self, article_id: str) -> Removal | None:
        """Remove an article, or one of its copies, by id or unique id prefix (a copy of a
        removed article takes its place); None if there is no such article."""
        try:
            return self.indexer.remove(article_id)
        except StoreError:
            return None

    def follow(
        self, url: str, progress: ProgressFn | None = None
    ) -> tuple[Feed | None, IngestReport]:
        """Follow the feed at ``url`` and poll it now: the feed (None if it cannot be
        followed) and what its first poll added; why it failed is in the report's errors."""
        assert self.feeds is not None, "this desk follows no feeds"
        try:
            feed, _ = follow(self.feeds, url, self.poll_limits)
        except (FetchError, FeedError) as exc:
            return None, IngestReport(errors=[str(exc)])
        report = poll_feeds(
            self.indexer, self.feeds, [feed.id], self.poll_limits, progress=progress
        )
        (poll,) = report.polled
        errors = poll.errors + ([poll.error] if poll.error else [])
        return poll.feed, IngestReport(poll.added, poll.skipped, errors, report.chunks)

    def followed(self) -> list[Feed]:
        """The followed feeds, in the order they were added."""
        return self.feeds.feeds() if self.feeds else []

    def unfollow(self, id_or_prefix: str) -> Feed:
        """Stop following a feed (its articles stay); FeedError says why not."""
        if self.feeds is None:
            raise FeedError("no feeds are followed")
        return self.feeds.remove(id_or_prefix)

    def poll(self) -> PollReport:
        """Poll every due feed and index what is new (a failing feed is in the report)."""
        if self.feeds is None:
            return PollReport()
        return poll_due(self.indexer, self.feeds, self.poll_limits)

    def prune(self) -> list[ArticleInfo]:
        """Remove the articles older than ARTICLEBOT_RETENTION_DAYS (none if it is unset)."""
        days = self.settings.retention_days
        return prune(self.store, days) if days else []

    def close(self) -> None:
        """Close the chat history, the feeds and the store (after every call has returned)."""
        self.chats.close()
        if self.feeds:
            self.feeds.close()
        self.store.close()

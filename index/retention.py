"""Retention: articles older than a number of days leave the store.

An article's age is that of its date (when it was published), else of the time it was
added (index/dates.py), counted in whole days in UTC: with 30 days, on 2026-12-31 the
articles of 2026-12-01 stay and those of 2026-11-30 go. They are found by their days
(``store.articles(window)``) and removed together (``store.remove_articles``), under one
hold of the store's write lock. The Telegram bot prunes on a schedule
(bot/telegram_dates.py); ``articlebot index prune`` does it from cron.
"""

from __future__ import annotations

from datetime import date, timedelta

from .dates import DateWindow, day_of, today
from .store import ArticleInfo, ArticleStore


def too_old(store: ArticleStore, days: int, on: date | None = None) -> list[ArticleInfo]:
    """The articles older than ``days`` days on the day ``on`` (today), oldest first."""
    on = on or today()
    # Every day before the first one kept (``expired``), read by the store's index on the
    # article's day: the bot asks every hour, and listing every article took seconds at a
    # million chunks.
    old = store.articles(DateWindow(until=on - timedelta(days=days + 1)))
    return sorted(old, key=lambda a: day_of(a.date or a.added_at))


def prune(store: ArticleStore, days: int, on: date | None = None) -> list[ArticleInfo]:
    """Remove the articles older than ``days`` days on ``on`` (today); returns them."""
    with store.writing():
        old = too_old(store, days, on)
        store.remove_articles([article.id for article in old])
    return old

"""Feeds in the Telegram bot: admins follow, list and drop feeds; the bot polls them.

``/feed add URL`` follows a feed and polls it at once, ``/feeds`` lists the followed feeds
and how their polls went, ``/feed remove ID`` stops following one. While the bot runs, a
job of python-telegram-bot's JobQueue polls the due feeds every ARTICLEBOT_FEED_INTERVAL
minutes, in the desk's indexing thread (never on the event loop). The registry backs a
failing feed off (index/feed_registry.py); the admins hear of a feed once when it starts
failing and once when it recovers, in their private chats.
"""

from __future__ import annotations

import logging
from datetime import datetime

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, ContextTypes

from index.feed_registry import Feed, FeedError, NoSuchFeed
from index.readers import is_url

from .telegram_desk import access_of, desk_of, index_with_progress, threads_of
from .telegram_html import prompt_html
from .telegram_replies import reply, say, send, user_language

logger = logging.getLogger(__name__)

FIRST_POLL = 60.0  # seconds after start, at most, of the first poll: feeds due while it was down


async def feed_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Follows a feed and shows what its first poll added, or stops following one; admins."""
    if not access_of(context).is_admin(update.effective_user.id):
        await reply(update, context, say(update, "tg_admin_only"))
        return
    action, target = ((context.args or []) + ["", ""])[:2]
    if action == "add" and is_url(target):
        await _follow(update, context, target)
    elif action == "remove" and target:
        await _unfollow(update, context, target)
    else:
        await reply(update, context, say(update, "tg_feed_usage"))


async def _follow(update: Update, context: ContextTypes.DEFAULT_TYPE, url: str) -> None:
    desk, followed = desk_of(context), []

    def work(progress):
        feed, report = desk.follow(url, progress)
        followed.append(feed)
        return report

    await index_with_progress(update, context, url, work)
    if followed and followed[0]:
        feed, minutes = followed[0], f"{desk.settings.feed_interval:g}"
        await reply(
            update,
            context,
            say(update, "tg_following", title=feed.title, id=feed.id, minutes=minutes),
        )


async def _unfollow(update: Update, context: ContextTypes.DEFAULT_TYPE, key: str) -> None:
    try:
        feed = await threads_of(context).indexing(desk_of(context).unfollow, key)
    except FeedError as exc:
        error = f"{exc}; /feeds shows them" if isinstance(exc, NoSuchFeed) else str(exc)
        await reply(update, context, say(update, "tg_feed_not_removed", id=key, error=error))
        return
    await reply(update, context, say(update, "tg_unfollowed", title=feed.title, id=feed.id))


async def feeds_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Lists the followed feeds: id, title, URL, last poll, failures and last error; admins."""
    if not access_of(context).is_admin(update.effective_user.id):
        await reply(update, context, say(update, "tg_admin_only"))
        return
    feeds = await threads_of(context).answering(desk_of(context).followed)
    await reply(update, context, feeds_html(feeds, user_language(update)))


def feeds_html(feeds: list[Feed], lang: str) -> str:
    """The followed feeds, one paragraph each, escaped for Telegram."""
    if not feeds:
        return prompt_html("tg_no_feeds", lang)
    parts = [prompt_html("tg_feeds", lang, count=str(len(feeds)))]
    for feed in feeds:
        part = prompt_html(
            "tg_feed_line",
            lang,
            id=feed.id,
            title=feed.title,
            url=feed.url,
            polled=_when(feed.last_polled, lang),
            entries=str(feed.entries),
        )
        if feed.failures:
            error = feed.last_error or ""
            failing = prompt_html("tg_feed_failing", lang, failures=str(feed.failures), error=error)
            part += "\n" + failing
        parts.append(part)
    return "\n\n".join(parts)


def _when(moment: datetime | None, lang: str) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else prompt_html("tg_never", lang)


async def poll_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Polls the due feeds in the indexing thread; tells the admins of a feed that starts
    failing or recovers, once each. An error is logged and the next run tries again."""
    try:
        report = await threads_of(context).indexing(desk_of(context).poll)
    except Exception:  # the bot outlives any poll
        logger.exception("polling the feeds failed")
        return
    if report.polled:
        logger.info(
            "feeds polled: %d, articles added: %d, failed: %d",
            len(report.polled),
            len(report.added),
            len(report.failed),
        )
    notices = [
        prompt_html("tg_feed_failed", "en", title=p.feed.title, id=p.feed.id, error=p.error or "")
        for p in report.newly_failed
    ] + [
        prompt_html("tg_feed_recovered", "en", title=p.feed.title, id=p.feed.id)
        for p in report.recovered
    ]
    for notice in notices:
        await tell_admins(context, notice)


async def tell_admins(context: ContextTypes.DEFAULT_TYPE, text: str) -> None:
    """Send HTML to each admin's private chat; an admin who never started the bot is logged."""
    for admin in sorted(access_of(context).admins):
        try:
            await send(context, admin, text)
        except TelegramError as exc:
            logger.warning("could not tell admin %s: %s", admin, exc)


def schedule_polls(application: Application, minutes: float) -> None:
    """Poll the due feeds every ``minutes`` while the bot runs (the first soon after start)."""
    interval = minutes * 60
    application.job_queue.run_repeating(
        poll_job, interval=interval, first=min(interval, FIRST_POLL), name="feeds"
    )

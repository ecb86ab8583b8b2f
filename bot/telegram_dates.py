"""Dates in the Telegram bot: each chat's date window, and retention on a schedule.

``/since 2026-11-01`` and ``/until 2026-11-30`` keep the chat's questions to the articles
dated in those days (their date, else the day they were added), until ``/since off`` and
``/until off``; without a day they say the window in force. The window is the chat's, kept
with its history (bot/chats.py), so it outlives a restart; each answer searched in it says
so first. When ARTICLEBOT_RETENTION_DAYS is set, a JobQueue job removes the articles older
than that soon after start and then every hour, in the desk's indexing thread.
"""

from __future__ import annotations

import html
import logging

from telegram import Update
from telegram.ext import Application, ContextTypes

from . import prompts
from .telegram_desk import desk_of, threads_of
from .telegram_replies import reply, user_language

logger = logging.getLogger(__name__)

PRUNE_EVERY = 3600.0  # seconds: the finest retention is a day, so an hour is prompt enough
FIRST_PRUNE = 5.0  # seconds after start: what aged while the bot was down goes at once


async def since_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Keeps this chat's questions to articles dated from a day on, or from any day (off)."""
    await _limit_dates(update, context, "since")


async def until_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Keeps this chat's questions to articles dated up to a day, or to any day (off)."""
    await _limit_dates(update, context, "until")


async def _limit_dates(update: Update, context: ContextTypes.DEFAULT_TYPE, end: str) -> None:
    desk, chat_id, lang = desk_of(context), update.effective_chat.id, user_language(update)
    day = " ".join(context.args or [])
    if not day:
        window = await threads_of(context).answering(desk.window, chat_id)
        await reply(update, context, html.escape(prompts.window_reply(window, lang, False)))
        return
    try:
        window = await threads_of(context).answering(desk.limit_dates, chat_id, end, day)
    except ValueError as exc:
        text = prompts.text("window_usage", lang, command=end, error=str(exc))
        await reply(update, context, html.escape(text))
        return
    await reply(update, context, html.escape(prompts.window_reply(window, lang, True)))


async def prune_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Removes the articles older than ARTICLEBOT_RETENTION_DAYS, in the indexing thread;
    an error is logged and the next run tries again."""
    try:
        removed = await threads_of(context).indexing(desk_of(context).prune)
    except Exception:  # the bot outlives any pruning
        logger.exception("removing old articles failed")
        return
    if removed:
        days = desk_of(context).settings.retention_days
        logger.info(
            "removed %d articles older than %s days: %s",
            len(removed),
            days,
            ", ".join(a.id[:8] for a in removed),
        )


def schedule_pruning(application: Application, days: int | None) -> None:
    """Remove old articles while the bot runs, if a retention is set (else nothing)."""
    if days:
        application.job_queue.run_repeating(
            prune_job, interval=PRUNE_EVERY, first=FIRST_PRUNE, name="retention"
        )

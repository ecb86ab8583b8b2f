"""Telegram posts as articles: posts of listed channels, and posts an admin forwards.

A post of a channel listed in TELEGRAM_INGEST_CHANNELS (by id or @username) is indexed as
it arrives (``channel_post``), and an edit of it (``edited_channel_post``) replaces its
article. The article's title is the post's first line, its text the post's text or caption,
its date the post's, its source the post's public link (``https://t.me/NAME/ID``), or for a
private channel ``telegram channel TITLE #ID``. Its key, ``telegram:CHAT/MESSAGE``, is what
an edit finds it by. An album is several messages: each one with a caption is an article of
its own, and the others carry no text to index.

A message an admin forwards to the bot in a private chat is indexed the same way, from its
origin (``forward_origin``): the original date, the public link of a public channel's post
(and that post's key, so that the channel's own post and the forward are one article), else
the name of the channel, group or person it came from.
"""

from __future__ import annotations

import logging
from datetime import datetime

from telegram import (
    Chat,
    Message,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
    Update,
)
from telegram.ext import ContextTypes

from index.dates import normalize_date
from index.language import detect_language
from index.types import Article

from .telegram_desk import access_of, desk_of, index_with_progress, threads_of
from .telegram_replies import reply, say

logger = logging.getLogger(__name__)

TITLE_CHARS = 120


def post_title(text: str) -> str:
    """A post's first non-empty line, cut at a word to about TITLE_CHARS characters."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if len(first) <= TITLE_CHARS:
        return first
    cut = first[:TITLE_CHARS].rsplit(" ", 1)[0] or first[:TITLE_CHARS]
    return cut.rstrip(" ,;:-") + "…"


def channel_source(chat: Chat, message_id: int) -> str:
    """The public link of a channel's post, or its name and number for a private channel."""
    if chat.username:
        return f"https://t.me/{chat.username}/{message_id}"
    return f"telegram channel {chat.title or chat.id} #{message_id}"


def post_article(
    text: str, date: datetime, source: str, key: str, lang: str | None = None
) -> Article:
    """The article of a post."""
    text = text.strip()
    return Article(
        text=text,
        title=post_title(text),
        source=source,
        lang=lang or detect_language(text),
        date=normalize_date(date),
        key=key,
    )


def channel_article(message: Message) -> Article | None:
    """The article of a channel's post (None for a post without text or caption)."""
    text = message.text or message.caption
    if not text or not text.strip():
        return None
    chat = message.chat
    source = channel_source(chat, message.message_id)
    return post_article(text, message.date, source, f"telegram:{chat.id}/{message.message_id}")


def forwarded_article(message: Message) -> Article | None:
    """The article of a forwarded message, from its origin (None without text or caption)."""
    text = message.text or message.caption
    origin = message.forward_origin
    if not text or not text.strip() or origin is None:
        return None
    key = f"telegram:forward:{message.chat.id}/{message.message_id}"
    if isinstance(origin, MessageOriginChannel):
        source = channel_source(origin.chat, origin.message_id)
        key = f"telegram:{origin.chat.id}/{origin.message_id}"
    elif isinstance(origin, MessageOriginChat):
        name = origin.sender_chat.title or origin.sender_chat.username or origin.sender_chat.id
        source = f"telegram forward from {name}"
    elif isinstance(origin, MessageOriginUser):
        source = f"telegram forward from {origin.sender_user.full_name}"
    elif isinstance(origin, MessageOriginHiddenUser):
        source = f"telegram forward from {origin.sender_user_name}"
    else:
        source = "telegram forward"
    return post_article(text, origin.date, source, key)


def _listed(chat: Chat, channels: list[str]) -> bool:
    names = {str(chat.id)}
    if chat.username:
        names.add("@" + chat.username.lower())
    return bool(names & set(channels))


async def channel_post(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Indexes a listed channel's post, or an edit of it in place of the post; no reply."""
    message = update.effective_message
    chat, desk = message.chat, desk_of(context)
    if not _listed(chat, desk.settings.telegram_ingest_channels):
        logger.info("ignored a post of channel %s (@%s): not listed", chat.id, chat.username)
        return
    article = channel_article(message)
    if article is None:
        logger.info("post %s of channel %s has no text to index", message.message_id, chat.id)
        return
    report = await threads_of(context).indexing(desk.put, article)
    if report.added:
        outcome = "added"
    elif report.copies:
        outcome = f"kept as a copy of article {report.copies[0].of[:8]}"
    else:
        outcome = "already indexed"
    logger.info(
        "channel %s post %s%s: %s",
        chat.id,
        message.message_id,
        " (edited)" if update.edited_channel_post else "",
        outcome,
    )


async def forwarded_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Indexes a message an admin forwards, with a progress message; refuses anyone else."""
    if not access_of(context).is_admin(update.effective_user.id):
        await reply(update, context, say(update, "tg_forward_admin_only"))
        return
    article = forwarded_article(update.effective_message)
    if article is None:
        await reply(update, context, say(update, "tg_forward_no_text"))
        return
    desk = desk_of(context)
    await index_with_progress(
        update, context, article.title, lambda progress: desk.put(article, progress)
    )

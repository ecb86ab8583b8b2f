"""Putting replies in a Telegram chat: split messages, "typing…", drafts and progress.

``reply`` and ``send`` send HTML split into as many messages as it takes. ``typing`` shows
"typing…" while slow work runs. ``Draft`` shows an LLM answer while it is written and then
replaces it by the finished one; ``ProgressMessage`` says how far indexing has got. Both
edit one message, at most every so often, so a chat is never flooded with edits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from . import prompts
from .ratelimit import DRAFT, DraftDropped
from .telegram_html import draft_html, prompt_html, split_html

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 2.0  # seconds between edits of an indexing progress message
TYPING_EVERY = 4.5  # a chat action shows for about 5 seconds
TYPING_DELAY = 1.0  # show "typing…" only for answers that take longer than this
DRAFT_POLL = 0.25  # seconds between looks at the text so far


def user_language(update: Update) -> str:
    """The user's Telegram language if the bot speaks it, else English."""
    user = update.effective_user
    tag = (user.language_code or "en").lower() if user else "en"
    code = tag.split("-")[0]
    if code == "zh":  # zh-hans, zh-cn, zh-sg; zh-hant, zh-tw, zh-hk: langdetect's two
        traditional = any(part in tag for part in ("hant", "tw", "hk", "mo"))
        code = "zh-tw" if traditional else "zh-cn"
    return code if code in prompts.TEXTS else "en"


def say(update: Update, key: str, **values: str) -> str:
    """A fixed text in the user's language, escaped for HTML."""
    return prompt_html(key, user_language(update), **values)


async def send(
    context: ContextTypes.DEFAULT_TYPE,
    chat_id: int,
    text: str,
    *,
    reply_to: Message | None = None,
    markup: InlineKeyboardMarkup | None = None,
) -> Message:
    """Send HTML to a chat, split into as many messages as it takes; the markup goes last."""
    return await send_parts(context, chat_id, split_html(text), reply_to=reply_to, markup=markup)


async def send_parts(
    context: ContextTypes.DEFAULT_TYPE,
    chat_id: int,
    parts: list[str],
    *,
    reply_to: Message | None = None,
    markup: InlineKeyboardMarkup | None = None,
) -> Message:
    """Send messages in order; the first replies to ``reply_to``, the last has the markup."""
    sent = None
    for n, part in enumerate(parts):
        sent = await context.bot.send_message(
            chat_id,
            part,
            parse_mode=ParseMode.HTML,
            reply_markup=markup if n == len(parts) - 1 else None,
            reply_to_message_id=reply_to.message_id if reply_to and n == 0 else None,
            allow_sending_without_reply=True,
        )
    assert sent is not None
    return sent


async def reply(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
) -> Message:
    """Answer the update's message: in groups as a reply to it, in private chats plainly."""
    message = update.effective_message
    in_group = update.effective_chat.type != ChatType.PRIVATE
    return await send(
        context,
        update.effective_chat.id,
        text,
        reply_to=message if in_group and message else None,
        markup=markup,
    )


@contextlib.asynccontextmanager
async def typing(context: ContextTypes.DEFAULT_TYPE, chat_id: int) -> AsyncIterator[None]:
    """Show "typing…" in the chat until the block ends, if it lasts over TYPING_DELAY."""

    async def keep_typing() -> None:
        # Most extractive answers are sent before a "typing…" would show. Sending one anyway
        # spends the bot's overall request budget (30 a second) in a burst of chats: with
        # 0.4 s here, 50 chats at once had p95 1.54 s; with 1 s, 1.00-1.14 s
        # (bench/telegram_load.py).
        await asyncio.sleep(TYPING_DELAY)
        while True:
            with contextlib.suppress(TelegramError):
                await context.bot.send_chat_action(chat_id, ChatAction.TYPING)
            await asyncio.sleep(TYPING_EVERY)

    task = asyncio.create_task(keep_typing())
    try:
        yield
    finally:
        task.cancel()


def _not_modified(exc: BadRequest) -> bool:
    return "message is not modified" in str(exc).lower()


class Draft:
    """An answer shown while it is written: sent with the first text, edited with newer text
    at most every ``interval`` seconds, and at the end replaced by the finished answer.

    Drafts are best effort: one that fails is skipped (a 429 is not waited out), and if the
    first cannot be sent the finished answer is sent as usual.
    """

    def __init__(self, update: Update, context: ContextTypes.DEFAULT_TYPE, interval: float):
        self.update, self.context, self.interval = update, context, interval
        self.text = ""  # the text so far, added to by the answering thread
        self.message: Message | None = None
        self.failed = False
        self._shown = ""
        self._next_at = float("-inf")  # loop time before which the message is not edited

    def on_text(self, piece: str) -> None:
        """Add a piece of the model's text (called in the answering thread)."""
        # One str assignment, atomic: the event loop reads whole texts only.
        self.text = self.text + piece

    async def follow(self, job: asyncio.Future) -> None:
        """Show the text so far until ``job`` is done."""
        loop = asyncio.get_running_loop()
        while not job.done():
            wait = max(DRAFT_POLL, self._next_at - loop.time())
            await asyncio.wait([job], timeout=wait)
            text = self.text
            due = loop.time() >= self._next_at
            if not job.done() and not self.failed and due and text.strip() and text != self._shown:
                await self._show(text)

    async def _show(self, text: str) -> None:
        loop = asyncio.get_running_loop()
        chat_id = self.update.effective_chat.id
        try:
            if self.message is None:
                self.message = await reply(self.update, self.context, draft_html(text))
            else:
                await self.context.bot.edit_message_text(
                    draft_html(text),
                    chat_id,
                    self.message.message_id,
                    parse_mode=ParseMode.HTML,
                    rate_limit_args=DRAFT,
                )
        except DraftDropped as exc:
            self._next_at = loop.time() + max(self.interval, exc.retry_after)
            return
        except BadRequest as exc:
            if not _not_modified(exc):
                logger.warning("chat %s: draft not shown: %s", chat_id, exc)
        except TelegramError as exc:
            logger.warning("chat %s: draft not shown: %s", chat_id, exc)
            self.failed = self.message is None
        self._shown, self._next_at = text, loop.time() + self.interval

    async def finish(self, text: str, markup: InlineKeyboardMarkup | None) -> None:
        """Replace the draft with the finished answer (split if long), or send it anew."""
        if self.message is None:
            await reply(self.update, self.context, text, markup)
            return
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, self._next_at - loop.time()))
        chat_id = self.update.effective_chat.id
        first, *rest = split_html(text)
        try:
            await self.context.bot.edit_message_text(
                first,
                chat_id,
                self.message.message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=None if rest else markup,
            )
        except BadRequest as exc:
            if not _not_modified(exc):
                # E.g. the user deleted the draft: the answer still arrives.
                logger.warning("chat %s: draft not replaced (%s); sending the answer", chat_id, exc)
                await reply(self.update, self.context, text, markup)
                return
        if rest:
            await send_parts(self.context, chat_id, rest, markup=markup)


class ProgressMessage:
    """One message saying how far a job has got, edited at most every PROGRESS_EVERY s."""

    def __init__(self, message: Message, context: ContextTypes.DEFAULT_TYPE) -> None:
        self.message = message
        self.context = context
        self._shown = message.text_html
        self._last_edit = asyncio.get_running_loop().time()
        self._done_total = (0, 0)

    @classmethod
    async def send(
        cls, update: Update, context: ContextTypes.DEFAULT_TYPE, text: str
    ) -> ProgressMessage:
        """Reply to the update with the first text of the progress message."""
        return cls(await reply(update, context, text), context)

    def progress(self, done: int, total: int) -> None:
        """Note how far the job has got (called in the job's thread)."""
        self._done_total = (done, total)  # one tuple assignment: the loop reads it whole

    async def follow(self, job: asyncio.Future, text_at: Callable[[str], str]) -> None:
        """Until ``job`` is done, show ``text_at(percent)`` whenever the percentage moved."""
        loop = asyncio.get_running_loop()
        while not job.done():
            await asyncio.wait([job], timeout=max(0.0, self._next_edit() - loop.time()))
            done, total = self._done_total
            if not job.done() and total:
                await self.show(text_at(str(min(99, 100 * done // total))))

    async def show(self, text: str) -> None:
        """Edit the message to ``text`` (unless it says that already), in due time; what
        does not fit in one message follows in new ones."""
        if text == self._shown:
            return
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, self._next_edit() - loop.time()))
        first, *rest = split_html(text)
        await self.message.edit_text(first, parse_mode=ParseMode.HTML)
        self._last_edit, self._shown = loop.time(), text
        if rest:
            await send_parts(self.context, self.message.chat_id, rest)

    def _next_edit(self) -> float:
        return self._last_edit + PROGRESS_EVERY

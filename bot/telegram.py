"""The Telegram front end: python-telegram-bot 22 handlers over the answer chain.

Handlers only translate between Telegram and the domain. The domain side is ``Desk``:
it answers questions off the event loop, keeps each chat's history, and adds or removes
articles. ``articlebot telegram`` runs it with long polling, or behind a webhook.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import logging
import re
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ChatAction, ChatType, MessageLimit, ParseMode
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from index.ingest import IngestReport, ProgressFn, add_loaded, ingest
from index.readers import Loaded, ReadError, is_url, read_bytes
from index.store import ArticleInfo, ArticleStore, StoreError
from index.types import Article

from . import prompts
from .answering import Answerer
from .chats import ChatHistory
from .render import sources_text
from .settings import Settings
from .types import Answer

logger = logging.getLogger(__name__)

UPLOAD_SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm", ".pdf"}
DOWNLOAD_LIMIT = 20 * 1024 * 1024  # the Bot API's getFile limit
PROGRESS_EVERY = 2.0  # seconds between edits of an indexing progress message
TYPING_EVERY = 4.5  # a chat action shows for about 5 seconds
TYPING_DELAY = 1.0  # show "typing…" only for answers that take longer than this
DRAFT_LIMIT = 4000  # characters of an answer shown while it is written; the final one is split
DRAFT_POLL = 0.25  # seconds between looks at the text so far
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]


# ---- the domain side ----------------------------------------------------------------


class QuestionQuota:
    """At most ``per_minute`` questions from one user in any 60 seconds."""

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


class Desk:
    """What the bot does, Telegram aside: answer, remember, add and remove articles.

    Answers run in a small thread pool and indexing in its own thread, so CPU-bound work
    never blocks the event loop and a long upload never stops questions being answered.
    """

    def __init__(
        self, settings: Settings, store: ArticleStore, answerer: Answerer, chats: ChatHistory
    ) -> None:
        from .core import indexer, limits

        self.settings = settings
        self.store = store
        self.indexer = indexer(settings, store)
        self.answerer = answerer
        self.chats = chats
        self.limits = limits(settings)
        self.quota = QuestionQuota(settings.telegram_questions_per_minute)
        self._answering = ThreadPoolExecutor(settings.telegram_workers, "answer")
        self._indexing = ThreadPoolExecutor(1, "index")
        self._refused: set[int] = set()

    def is_admin(self, user_id: int) -> bool:
        return user_id in self.settings.admin_user_ids

    def is_allowed(self, user_id: int, chat_id: int | None) -> bool:
        """Admins always; otherwise a listed user or a listed chat; no lists means everyone."""
        s = self.settings
        if self.is_admin(user_id) or not (s.allowed_user_ids or s.allowed_chat_ids):
            return True
        return user_id in s.allowed_user_ids or chat_id in s.allowed_chat_ids

    def first_refusal(self, user_id: int) -> bool:
        """True the first time a user is turned away, so they hear it once."""
        if user_id in self._refused:
            return False
        self._refused.add(user_id)
        return True

    async def ask(
        self, chat_id: int, question: str, on_text: Callable[[str], None] | None = None
    ) -> tuple[Answer, int]:
        """The answer to a question in a chat's context, stored as the chat's latest turn.

        ``on_text`` gets the model's text so far each time a piece of it arrives, in the
        answering thread (LLM answers only: an extractive answer comes whole).
        """

        def work() -> tuple[Answer, int]:
            history = self.chats.history(chat_id, self.settings.telegram_history_turns)
            text, answer = "", None
            for piece in self.answerer.stream(question, history):
                if isinstance(piece, Answer):
                    answer = piece
                elif on_text is not None:
                    text += piece
                    on_text(text)
            if answer is None:
                raise RuntimeError("the answer chain ended without an answer")
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

        return await self._run(self._answering, work)

    async def answer(self, chat_id: int, turn_id: int | None = None) -> Answer | None:
        """A stored answer of the chat (its latest if ``turn_id`` is None)."""
        return await self._run(self._answering, self.chats.answer, chat_id, turn_id)

    async def forget(self, chat_id: int) -> None:
        await self._run(self._answering, self.chats.forget, chat_id)

    async def articles(self) -> list[ArticleInfo]:
        return await self._run(self._answering, self.store.articles)

    def add_upload(
        self, data: bytes, name: str, progress: ProgressFn
    ) -> asyncio.Future[IngestReport]:
        """Index an uploaded file in the background."""

        def work() -> IngestReport:
            path, source = Path(name), f"telegram:{name}"
            try:
                loaded = Loaded(
                    source, read_bytes(data, path.suffix.lower(), source, path.stem, self.limits)
                )
            except ReadError as exc:  # the reply names the file already
                loaded = Loaded(source, [], str(exc))
            return add_loaded(self.indexer, [loaded], progress)

        return asyncio.wrap_future(self._indexing.submit(work))

    def add_url(self, url: str, progress: ProgressFn) -> asyncio.Future[IngestReport]:
        """Fetch and index the article at a URL in the background."""
        return asyncio.wrap_future(
            self._indexing.submit(ingest, self.indexer, [url], self.limits, progress)
        )

    async def remove(self, article_id: str) -> Article | None:
        """Remove an article by id or unique id prefix; None if there is no such article."""
        try:
            return await self._run(self._indexing, self.store.remove, article_id)
        except StoreError:
            return None

    async def _run(self, pool: ThreadPoolExecutor, fn: Callable, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    def close(self) -> None:
        """Finish running work, then close the databases."""
        self._answering.shutdown(wait=True)
        self._indexing.shutdown(wait=True)
        self.chats.close()
        self.store.close()


# ---- rendering as Telegram HTML -----------------------------------------------------

_TOKEN = re.compile(r"<(/?)([a-zA-Z][\w-]*)[^>]*>|&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);|.", re.DOTALL)
_SENTENCE_END = set(".!?؟۔…")


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_html(text: str, limit: int = MessageLimit.MAX_TEXT_LENGTH) -> list[str]:
    """Cut Telegram HTML into messages of at most ``limit`` visible characters.

    Cuts at a paragraph break if one falls in the second half of a message, else at a
    line break, a sentence end or a space; tags open at a cut are closed at the end of
    one message and reopened at the start of the next, so every message parses.
    """
    tokens: list[tuple[str, int, tuple[str, str] | None]] = []  # raw, visible, tag
    for m in _TOKEN.finditer(text):
        if m.group(2):
            tokens.append((m.group(0), 0, ("/" if m.group(1) else "", m.group(2).lower())))
        else:
            tokens.append((m.group(0), _utf16_len(html.unescape(m.group(0))), None))

    parts: list[str] = []
    stack: list[tuple[str, str]] = []  # (name, opening tag) open where the part starts
    start = 0
    while start < len(tokens):
        opened, open_stack = list(stack), list(stack)
        visible, end = 0, start
        cuts: dict[int, tuple[int, int, list[tuple[str, str]]]] = {}  # kind -> (end, vis, stack)
        while end < len(tokens) and visible + tokens[end][1] <= limit:
            raw, width, tag = tokens[end]
            visible += width
            if tag and tag[0] == "/":
                for k in range(len(open_stack) - 1, -1, -1):
                    if open_stack[k][0] == tag[1]:
                        del open_stack[k]
                        break
            elif tag:
                open_stack.append((tag[1], raw))
            end += 1
            following = tokens[end][0] if end < len(tokens) else ""
            kind = None
            if raw == "\n" and end >= 2 and tokens[end - 2][0] == "\n":
                kind = 0  # paragraph
            elif raw == "\n":
                kind = 1  # line
            elif raw in _SENTENCE_END and following.isspace():
                kind = 2  # sentence
            elif raw.isspace():
                kind = 3  # word
            if kind is not None:
                cuts[kind] = (end, visible, list(open_stack))
        if end == len(tokens):
            cut = (end, visible, open_stack)
        else:
            usable = [cuts[k] for k in sorted(cuts) if cuts[k][1] >= limit // 2]
            fallback = [cuts[k] for k in sorted(cuts, reverse=True)]
            cut = (usable or fallback or [(max(end, start + 1), visible, open_stack)])[0]
        end, _, closing = cut
        body = "".join(raw for raw, _, _ in tokens[start:end])
        part = "".join(t for _, t in opened) + body + "".join(f"</{n}>" for n, _ in closing[::-1])
        if html.unescape(re.sub(r"<[^>]*>", "", part)).strip():
            parts.append(part.strip())
        stack, start = closing, end
    return parts


def _link(title: str, source: str) -> str:
    if is_url(source):
        return f'<a href="{html.escape(source, quote=True)}">{html.escape(title)}</a>'
    # A local path says nothing to a chat user and need not be shown to one.
    name = source.removeprefix("telegram:")
    return f"{html.escape(title)} — {html.escape(Path(name).name)}"


def answer_html(answer: Answer) -> str:
    """An Answer as Telegram HTML: the quoted answer, then its numbered sources."""
    lines = [html.escape(answer.text)]
    if answer.citations:
        lines += ["", f"<b>{html.escape(prompts.text('sources', answer.lang))}:</b>"]
        by_article: dict[str, list] = {}
        for c in answer.citations:
            by_article.setdefault(c.article_id, []).append(c)
        for group in by_article.values():
            c = group[0]
            numbers = "".join(f"[{g.number}]" for g in group)
            lines.append(
                f"{numbers} {_link(c.title, c.source)} (id <code>{c.article_id[:8]}</code>)"
            )
    return "\n".join(lines)


def sources_html(answer: Answer | None, lang: str) -> str:
    """The full passages behind an answer, escaped."""
    if answer is None:
        return html.escape(prompts.text("no_sources", lang))
    return html.escape(sources_text(answer))


def articles_html(articles: list[ArticleInfo], lang: str) -> str:
    if not articles:
        return html.escape(prompts.text("tg_no_articles", lang))
    lines = [html.escape(prompts.text("tg_articles", lang, count=str(len(articles))))]
    for a in articles:
        lines.append(
            f"• <code>{a.id[:8]}</code> [{html.escape(a.lang)}] {_link(a.title, a.source)}"
        )
    return "\n".join(lines)


def user_language(update: Update) -> str:
    """The user's Telegram language if the bot speaks it, else English."""
    user = update.effective_user
    code = (user.language_code or "en").split("-")[0] if user else "en"
    return code if code in prompts.TEXTS else "en"


def say(update: Update, key: str, **values: str) -> str:
    """A fixed text in the user's language, escaped for HTML."""
    return html.escape(prompts.text(key, user_language(update), **values))


# ---- flood control ------------------------------------------------------------------

# Methods that put a message in a chat, which Telegram limits to about one a second.
_PACED = {"sendMessage", "editMessageText", "sendDocument", "sendPhoto", "copyMessage"}
# Methods that must not be repeated after a timeout: the first try may have arrived.
_NOT_REPEATABLE = {"sendMessage", "sendDocument", "sendPhoto", "copyMessage"}
# rate_limit_args of an edit that newer text will replace: a 429 drops it (DraftDropped)
# instead of waiting it out and then showing stale text.
DRAFT = -1


class DraftDropped(TelegramError):
    """A draft edit that Telegram refused with a 429; the next one may go ``retry_after`` on."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"draft dropped: flood control, retry in {retry_after:g} s")
        self.retry_after = retry_after


class ChatPacedRateLimiter(AIORateLimiter):
    """AIORateLimiter (overall and group limits, 429s waited out and retried) plus two things.

    Messages to one chat are sent one at a time, ``interval`` seconds apart, so bursts do
    not draw 429s at all; and network errors are retried with backoff.
    """

    def __init__(self, interval: float, max_retries: int) -> None:
        super().__init__(max_retries=max_retries)
        self._interval = interval
        self._network_retries = max_retries
        self._chat_locks: dict[object, asyncio.Lock] = {}
        self._chat_last: dict[object, float] = {}

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        draft = rate_limit_args == DRAFT
        if draft:
            rate_limit_args = None

        async def attempt(*a: Any, **kw: Any) -> Any:
            try:
                return await self._with_network_retries(endpoint, callback, *a, **kw)
            except RetryAfter as exc:
                if not draft:
                    raise  # AIORateLimiter waits it out and retries
                wait = exc.retry_after
                raise DraftDropped(
                    wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
                ) from exc

        chat_id = data.get("chat_id")
        if endpoint not in _PACED or chat_id is None or self._interval <= 0:
            return await super().process_request(
                attempt, args, kwargs, endpoint, data, rate_limit_args
            )
        loop = asyncio.get_running_loop()
        lock = self._chat_locks.setdefault(chat_id, asyncio.Lock())
        async with lock:
            wait = self._chat_last.get(chat_id, float("-inf")) + self._interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                return await super().process_request(
                    attempt, args, kwargs, endpoint, data, rate_limit_args
                )
            finally:
                # Counted from when Telegram has answered, so it has seen the message.
                self._chat_last[chat_id] = loop.time()
                self._forget_idle_chats(loop.time())

    def _forget_idle_chats(self, now: float) -> None:
        if len(self._chat_last) < 10_000:
            return
        for chat_id, last in list(self._chat_last.items()):
            lock = self._chat_locks.get(chat_id)
            if now - last > self._interval and not (lock and lock.locked()):
                self._chat_last.pop(chat_id, None)
                self._chat_locks.pop(chat_id, None)

    async def _with_network_retries(
        self, endpoint: str, callback: Callable[..., Coroutine[Any, Any, Any]], *a: Any, **kw: Any
    ) -> Any:
        for attempt in range(self._network_retries + 1):
            try:
                return await callback(*a, **kw)
            except BadRequest:
                raise
            except TimedOut:
                if endpoint in _NOT_REPEATABLE or attempt == self._network_retries:
                    raise
            except NetworkError as exc:
                if attempt == self._network_retries:
                    raise
                logger.warning("%s failed (%s); retrying", endpoint, exc)
            await asyncio.sleep(min(0.5 * 2**attempt, 10))
        raise AssertionError("unreachable")


# ---- Telegram plumbing --------------------------------------------------------------


def _desk(context: ContextTypes.DEFAULT_TYPE) -> Desk:
    return context.bot_data["desk"]


class _AddressedToBot(filters.MessageFilter):
    """Private messages, and group messages that mention the bot or reply to it."""

    def filter(self, message: Message) -> bool:
        if message.chat.type == ChatType.PRIVATE:
            return True
        bot = message.get_bot()
        reply = message.reply_to_message
        if reply and reply.from_user and reply.from_user.id == bot.id:
            return True
        mention = f"@{bot.username}".lower()
        mentions = {
            **message.parse_entities([MessageEntity.MENTION]),
            **message.parse_caption_entities([MessageEntity.MENTION]),
        }
        return any(value.lower() == mention for value in mentions.values())


ADDRESSED = _AddressedToBot()


def _without_mention(text: str, username: str) -> str:
    return re.sub(rf"@{re.escape(username)}\b", " ", text, flags=re.IGNORECASE).strip()


@contextlib.asynccontextmanager
async def _typing(context: ContextTypes.DEFAULT_TYPE, chat_id: int) -> AsyncIterator[None]:
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


async def _send(
    context: ContextTypes.DEFAULT_TYPE,
    chat_id: int,
    text: str,
    *,
    reply_to: Message | None = None,
    markup: InlineKeyboardMarkup | None = None,
) -> Message:
    """Send HTML to a chat, split into as many messages as it takes; the markup goes last."""
    return await _send_parts(context, chat_id, split_html(text), reply_to=reply_to, markup=markup)


async def _send_parts(
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


async def _reply(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
) -> Message:
    """Answer the update's message: in groups as a reply to it, in private chats plainly."""
    message = update.effective_message
    in_group = update.effective_chat.type != ChatType.PRIVATE
    return await _send(
        context,
        update.effective_chat.id,
        text,
        reply_to=message if in_group and message else None,
        markup=markup,
    )


def draft_html(text: str) -> str:
    """The model's text so far as Telegram HTML, cut to fit one message."""
    text = text.strip()
    if _utf16_len(text) > DRAFT_LIMIT:
        cut = text.encode("utf-16-le")[: 2 * DRAFT_LIMIT].decode("utf-16-le", errors="ignore")
        text = cut.rstrip() + " …"
    return html.escape(text)


def _not_modified(exc: BadRequest) -> bool:
    return "message is not modified" in str(exc).lower()


class _Draft:
    """An answer shown while it is written: sent with the first text, edited with newer text
    at most every ``interval`` seconds, and at the end replaced by the finished answer.

    Drafts are best effort: one that fails is skipped (a 429 is not waited out), and if the
    first cannot be sent the finished answer is sent as usual.
    """

    def __init__(self, update: Update, context: ContextTypes.DEFAULT_TYPE, interval: float):
        self.update, self.context, self.interval = update, context, interval
        self.text = ""  # the text so far, set by the answering thread
        self.message: Message | None = None
        self.failed = False
        self._shown = ""
        self._next_at = float("-inf")  # loop time before which the message is not edited

    def on_text(self, text: str) -> None:
        # Runs in the answering thread; a str assignment is atomic, the loop reads it later.
        self.text = text

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
                self.message = await _reply(self.update, self.context, draft_html(text))
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
            await _reply(self.update, self.context, text, markup)
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
                await _reply(self.update, self.context, text, markup)
                return
        if rest:
            await _send_parts(self.context, chat_id, rest, markup=markup)


async def _answer(update: Update, context: ContextTypes.DEFAULT_TYPE, question: str) -> None:
    """Answer a question with citations and a Sources button, within the user's quota.

    LLM answers are shown as they are written, then replaced by the checked answer.
    """
    desk = _desk(context)
    wait = desk.quota.take(update.effective_user.id)
    if wait:
        await _reply(update, context, say(update, "tg_rate_limited", seconds=str(int(wait) + 1)))
        return
    chat_id = update.effective_chat.id
    draft = _Draft(update, context, desk.settings.telegram_stream_edit_interval)
    on_text = draft.on_text if draft.interval > 0 else None
    async with _typing(context, chat_id):
        job = asyncio.create_task(desk.ask(chat_id, question, on_text))
        await draft.follow(job)
        answer, turn = job.result()
    button = None
    if answer.hits:
        label = prompts.text("sources", answer.lang)
        button = InlineKeyboardMarkup(
            [[InlineKeyboardButton(label, callback_data=f"sources:{turn}")]]
        )
    await draft.finish(answer_html(answer), button)


async def _index(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    name: str,
    start: Callable[[ProgressFn], asyncio.Future[IngestReport]],
) -> None:
    """Run an indexing job, editing one progress message at most every PROGRESS_EVERY s."""
    loop = asyncio.get_running_loop()
    status = await _reply(update, context, say(update, "tg_indexing", name=name))
    last_edit, shown = loop.time(), status.text_html
    done_total = [0, 0]

    def progress(done: int, total: int) -> None:
        done_total[:] = [done, total]

    job = start(progress)

    async def edit(text: str) -> None:
        nonlocal last_edit, shown
        if text != shown:
            await asyncio.sleep(max(0.0, last_edit + PROGRESS_EVERY - loop.time()))
            await status.edit_text(text, parse_mode=ParseMode.HTML)
            last_edit, shown = loop.time(), text

    while not job.done():
        await asyncio.wait([job], timeout=max(0.0, last_edit + PROGRESS_EVERY - loop.time()))
        done, total = done_total
        if not job.done() and total:
            percent = str(min(99, 100 * done // total))
            await edit(say(update, "tg_indexing_progress", name=name, percent=percent))
    report = job.result()
    await edit(_report_html(update, name, report, len(_desk(context).store)))


def _report_html(update: Update, name: str, report: IngestReport, count: int) -> str:
    lines = [
        say(
            update,
            "tg_added",
            title=a.title,
            id=a.id[:8],
            chunks=str(report.chunks),
            count=str(count),
        )
        for a in report.added
    ]
    lines += [say(update, "tg_already", title=a.title, id=a.id[:8]) for a in report.skipped]
    lines += [say(update, "tg_add_failed", name=name, error=e) for e in report.errors]
    return "\n".join(lines) or say(update, "tg_add_failed", name=name, error="nothing to index")


# ---- handlers -----------------------------------------------------------------------


async def gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Turns away, once and politely, anyone the bot does not serve."""
    user, chat = update.effective_user, update.effective_chat
    desk = _desk(context)
    if user is None or desk.is_allowed(user.id, chat.id if chat else None):
        return
    if update.callback_query:
        await update.callback_query.answer()
    message = update.message
    addressed = update.callback_query or (
        message and (ADDRESSED.check_update(update) or (message.text or "").startswith("/"))
    )
    if addressed and chat and desk.first_refusal(user.id):
        logger.info("refused user %s in chat %s", user.id, chat.id)
        await _send(context, chat.id, say(update, "tg_not_allowed"))
    raise ApplicationHandlerStop


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greets the user and says how to ask, in the user's language."""
    await _reply(update, context, say(update, "tg_start"))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Lists the commands (and the admin ones to admins)."""
    text = say(update, "tg_help")
    if _desk(context).is_admin(update.effective_user.id):
        text += "\n\n" + say(update, "tg_help_admin")
    await _reply(update, context, text)


async def ask_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answers the question after /ask."""
    question = " ".join(context.args or [])
    if not question:
        await _reply(update, context, say(update, "tg_ask_usage"))
        return
    await _answer(update, context, question)


async def question_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answers a question sent as a plain message (in groups: a mention or a reply)."""
    question = _without_mention(update.effective_message.text, context.bot.username)
    if question:
        await _answer(update, context, question)


async def sources_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Shows the full passages behind this chat's last answer."""
    answer = await _desk(context).answer(update.effective_chat.id)
    await _reply(update, context, sources_html(answer, user_language(update)))


async def sources_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Shows the full passages behind the answer whose Sources button was pressed."""
    query = update.callback_query
    await query.answer()
    turn = int(query.data.partition(":")[2] or 0) or None
    answer = await _desk(context).answer(update.effective_chat.id, turn)
    await _send(
        context,
        update.effective_chat.id,
        sources_html(answer, user_language(update)),
        reply_to=query.message if isinstance(query.message, Message) else None,
    )


async def articles_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Lists the indexed articles."""
    articles = await _desk(context).articles()
    await _reply(update, context, articles_html(articles, user_language(update)))


async def reset_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Forgets this chat's questions and answers."""
    await _desk(context).forget(update.effective_chat.id)
    await _reply(update, context, say(update, "tg_reset"))


async def document_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Indexes a document an admin sends, with a progress message; refuses anyone else."""
    desk = _desk(context)
    if not desk.is_admin(update.effective_user.id):
        await _reply(update, context, say(update, "tg_admin_only"))
        return
    document = update.effective_message.document
    name = Path(document.file_name or "upload.txt").name
    suffix = Path(name).suffix.lower()
    limit = min(DOWNLOAD_LIMIT, desk.settings.max_file_bytes)
    if suffix not in UPLOAD_SUFFIXES:
        await _reply(update, context, say(update, "tg_file_type", suffix=suffix or name))
        return
    if document.file_size and document.file_size > limit:
        await _reply(update, context, say(update, "tg_file_too_big", limit=str(limit >> 20)))
        return
    data = bytes(await (await document.get_file()).download_as_bytearray())
    await _index(update, context, name, lambda progress: desk.add_upload(data, name, progress))


async def add_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Indexes the article at a URL, for admins."""
    desk = _desk(context)
    if not desk.is_admin(update.effective_user.id):
        await _reply(update, context, say(update, "tg_admin_only"))
        return
    url = (context.args or [""])[0]
    if not is_url(url):
        await _reply(update, context, say(update, "tg_add_usage"))
        return
    await _index(update, context, url, lambda progress: desk.add_url(url, progress))


async def remove_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Removes an article by id, for admins."""
    desk = _desk(context)
    if not desk.is_admin(update.effective_user.id):
        await _reply(update, context, say(update, "tg_admin_only"))
        return
    if not context.args:
        await _reply(update, context, say(update, "tg_remove_usage"))
        return
    article = await desk.remove(context.args[0])
    if article is None:
        await _reply(update, context, say(update, "tg_no_article", id=context.args[0]))
        return
    count = str(len(desk.store))
    await _reply(update, context, say(update, "tg_removed", title=article.title, count=count))


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Logs the error with its context, then tells the user briefly that it went wrong."""
    chat_id = user_id = None
    if isinstance(update, Update):
        chat_id = update.effective_chat.id if update.effective_chat else None
        user_id = update.effective_user.id if update.effective_user else None
    logger.error(
        "handling update %s (chat %s, user %s) failed",
        getattr(update, "update_id", None),
        chat_id,
        user_id,
        exc_info=context.error,
    )
    if isinstance(update, Update) and chat_id is not None:
        try:
            await _send(context, chat_id, say(update, "tg_error"))
        except TelegramError as exc:
            logger.error("could not tell chat %s about the error: %s", chat_id, exc)


# ---- the application ----------------------------------------------------------------


def file_url(settings: Settings) -> str:
    """Where files are downloaded from: the setting, or derived from the API base URL."""
    if settings.telegram_api_file_url:
        return settings.telegram_api_file_url
    base = settings.telegram_api_base_url
    head, sep, tail = base.rpartition("/bot")
    return f"{head}/file/bot{tail}" if sep else base.rstrip("/") + "/file/bot"


async def register_commands(application: Application) -> None:
    """Put the command menu in Telegram's UI, in every language the bot speaks."""
    for lang, commands in prompts.BOT_COMMANDS.items():
        await application.bot.set_my_commands(
            [BotCommand(name, description) for name, description in commands],
            language_code=None if lang == "en" else lang,
        )
    logger.info("running as @%s", application.bot.username)


def build_application(settings: Settings, desk: Desk) -> Application:
    """The python-telegram-bot Application with every handler registered."""
    application = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_api_base_url)
        .base_file_url(file_url(settings))
        .rate_limiter(
            ChatPacedRateLimiter(settings.telegram_chat_interval, settings.telegram_max_retries)
        )
        .concurrent_updates(True)
        .post_init(register_commands)
        .build()
    )
    application.bot_data["desk"] = desk
    private_or_addressed = filters.UpdateType.MESSAGE & ADDRESSED
    application.add_handlers(
        [
            CommandHandler("start", start),
            CommandHandler("help", help_command),
            CommandHandler("ask", ask_command),
            CommandHandler("sources", sources_command),
            CommandHandler("articles", articles_command),
            CommandHandler("reset", reset_command),
            CommandHandler("add", add_command),
            CommandHandler("remove", remove_command),
            CallbackQueryHandler(sources_button, pattern=r"^sources:"),
            MessageHandler(
                private_or_addressed & filters.TEXT & ~filters.COMMAND, question_message
            ),
            MessageHandler(private_or_addressed & filters.Document.ALL, document_message),
        ]
    )
    application.add_handler(TypeHandler(Update, gate), group=-1)
    application.add_error_handler(on_error)
    return application


class _HideSecrets(logging.Filter):
    """Keep the bot token and the webhook secret out of every log line."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        for secret in self.secrets:
            message = message.replace(secret, "<secret>")
            if record.exc_text:
                record.exc_text = record.exc_text.replace(secret, "<secret>")
        record.msg, record.args = message, ()
        return True


def _quiet_logs(settings: Settings) -> None:
    secrets = [settings.telegram_bot_token.get_secret_value()]
    if settings.telegram_webhook_secret:
        secrets.append(settings.telegram_webhook_secret.get_secret_value())
    for handler in logging.getLogger().handlers:
        handler.addFilter(_HideSecrets(secrets))
    if logging.getLogger().level > logging.INFO:
        logging.getLogger(__name__).setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mode",
        choices=["polling", "webhook"],
        help="long polling or a webhook (default: TELEGRAM_MODE, else polling)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """run the Telegram bot (long polling, or a webhook)"""
    from .core import build_answerer, open_store

    if settings.telegram_bot_token is None:
        print("articlebot: set TELEGRAM_BOT_TOKEN to the token from @BotFather", file=sys.stderr)
        return 2
    mode = args.mode or settings.telegram_mode
    if mode == "webhook" and not (
        settings.telegram_webhook_url and settings.telegram_webhook_secret
    ):
        print(
            "articlebot: webhook mode needs TELEGRAM_WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET",
            file=sys.stderr,
        )
        return 2
    _quiet_logs(settings)
    store = open_store(settings)
    chats = ChatHistory(settings.telegram_chats_db or Path(settings.data_dir) / "chats.sqlite")
    desk = Desk(settings, store, build_answerer(settings, store), chats)
    application = build_application(settings, desk)
    logger.info("%d articles indexed; starting in %s mode", len(store), mode)
    try:
        if mode == "webhook":
            application.run_webhook(
                listen=settings.telegram_webhook_listen,
                port=settings.telegram_webhook_port,
                url_path=urlparse(settings.telegram_webhook_url).path.lstrip("/"),
                webhook_url=settings.telegram_webhook_url,
                secret_token=settings.telegram_webhook_secret.get_secret_value(),
                allowed_updates=ALLOWED_UPDATES,
                bootstrap_retries=settings.telegram_max_retries,
            )
        else:
            application.run_polling(
                allowed_updates=ALLOWED_UPDATES, bootstrap_retries=settings.telegram_max_retries
            )
    finally:
        desk.close()
    logger.info("stopped")
    return 0


COMMAND = (add_arguments, run)

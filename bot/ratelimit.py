"""Flood control toward the Bot API: per-chat pacing, retries, and drafts that may be dropped.

Telegram allows about one message a second in a chat and 30 requests a second overall, and
answers more with 429 (retry after N seconds). ``ChatPacedRateLimiter`` keeps under both and
retries network errors; an edit sent with ``rate_limit_args=DRAFT`` is dropped on a 429
(``DraftDropped``) instead of being retried late with stale text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import AIORateLimiter

logger = logging.getLogger(__name__)

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

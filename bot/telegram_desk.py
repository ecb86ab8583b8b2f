"""The desk as Telegram handlers reach it: the desk, its threads and who may do what.

The handlers of bot/telegram.py, bot/telegram_feeds.py and bot/telegram_posts.py find these
in the application's ``bot_data``; ``index_with_progress`` runs indexing in the desk's
indexing thread, with a progress message that ends with the report; ``queue_job`` queues
it for the workers instead (index/jobs.py), which edit that message themselves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from telegram import Update
from telegram.ext import ContextTypes

from index.ingest import IngestReport, ProgressFn

from .desk import Access, Desk
from .telegram_html import report_html
from .telegram_replies import ProgressMessage, reply, say, user_language

if TYPE_CHECKING:  # the postgres extra: imported only when jobs are queued
    from index.jobs import Job, JobChat, JobQueue

logger = logging.getLogger(__name__)
T = TypeVar("T")


class DeskThreads:
    """Where the desk's blocking calls run: answers in a small pool, indexing in one thread.

    CPU-bound work never blocks the event loop, and a long upload never stops questions
    being answered.
    """

    def __init__(self, answering: int) -> None:
        self._answering = ThreadPoolExecutor(answering, "answer")
        self._indexing = ThreadPoolExecutor(1, "index")

    def answering(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        return asyncio.wrap_future(self._answering.submit(fn, *args))

    def indexing(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        return asyncio.wrap_future(self._indexing.submit(fn, *args))

    def close(self) -> None:
        """Finish the work already given."""
        self._answering.shutdown(wait=True)
        self._indexing.shutdown(wait=True)


def desk_of(context: ContextTypes.DEFAULT_TYPE) -> Desk:
    return context.bot_data["desk"]


def threads_of(context: ContextTypes.DEFAULT_TYPE) -> DeskThreads:
    return context.bot_data["threads"]


def access_of(context: ContextTypes.DEFAULT_TYPE) -> Access:
    return context.bot_data["access"]


def jobs_of(context: ContextTypes.DEFAULT_TYPE) -> JobQueue | None:
    """The job queue uploads and /add URL go to (ARTICLEBOT_INGEST); None: index them here."""
    return context.bot_data.get("jobs")


async def index_with_progress(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    name: str,
    work: Callable[[ProgressFn], IngestReport],
) -> IngestReport:
    """Index in the indexing thread, with a progress message that ends with the report."""
    status = await ProgressMessage.send(update, context, say(update, "tg_indexing", name=name))
    job = threads_of(context).indexing(work, status.progress)
    await status.follow(
        job, lambda percent: say(update, "tg_indexing_progress", name=name, percent=percent)
    )
    count = desk_of(context).count()
    await status.show(report_html(job.result(), name, count, user_language(update)))
    return job.result()


async def queue_job(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    name: str,
    enqueue: Callable[[JobQueue, JobChat], Job],
) -> None:
    """Queue a job for the workers, with the message that says so: the one the worker that
    takes it edits with its progress and report (bot/job_chats.py)."""
    from index.jobs import JobChat

    queue = jobs_of(context)
    assert queue is not None, "no job queue"
    status = await reply(update, context, say(update, "tg_queued", name=name))
    chat = JobChat(update.effective_chat.id, status.message_id, user_language(update))
    job = await threads_of(context).answering(enqueue, queue, chat)
    logger.info("chat %s: queued job %s (%s)", chat.chat_id, job.id, name)

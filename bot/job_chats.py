"""Telling the chat that asked for an ingestion job how it goes, from the worker doing it.

The bot answers an upload or ``/add URL`` with a message ("Queued …") and puts its id in
the job (index/jobs.py). The worker that takes the job edits that message itself, through
the Bot API with the bot's token: "Indexing … 40%", then the report the bot would have
shown had it indexed the file itself. Why the worker and not the bot: the worker knows the
progress as it happens, and a bot replica (webhook mode, several of them) would otherwise
have to poll every job it queued and agree with the other replicas on who reports which;
the Bot API does not care which process edits a message.

Reports are best effort, and never fail a job: a 429 is waited out (a few times) for the
final report and skipped for progress; any other failure is logged.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import httpx

from index.ingest import IngestReport

from .settings import Settings
from .telegram_html import prompt_html, report_html, split_html
from .telegram_replies import PROGRESS_EVERY

if TYPE_CHECKING:
    from index.jobs import Job, JobChat

logger = logging.getLogger(__name__)

FINAL_TRIES = 5  # a final report waits out this many 429s


class JobChats:
    """Edits the progress message of each job's chat (jobs without a chat are skipped)."""

    def __init__(self, settings: Settings) -> None:
        assert settings.telegram_bot_token is not None, "reports need TELEGRAM_BOT_TOKEN"
        token = settings.telegram_bot_token.get_secret_value()
        self._api = f"{settings.telegram_api_base_url}{token}/"
        self._http = httpx.Client(timeout=settings.fetch_timeout)
        self._next_edit: dict[int, float] = {}  # job id -> monotonic time of its next edit

    def started(self, job: Job) -> None:
        """Say that the job's indexing has begun."""
        if job.chat:
            self._show(job.chat, prompt_html("tg_indexing", job.chat.lang, name=job.name), 1)
            self._next_edit[job.id] = time.monotonic() + PROGRESS_EVERY

    def progress(self, job: Job, done: int, total: int) -> None:
        """Show how far the job has got, at most every PROGRESS_EVERY seconds."""
        if not job.chat or not total or time.monotonic() < self._next_edit.get(job.id, 0.0):
            return
        percent = str(min(99, 100 * done // total))
        text = prompt_html("tg_indexing_progress", job.chat.lang, name=job.name, percent=percent)
        self._show(job.chat, text, 1)
        self._next_edit[job.id] = time.monotonic() + PROGRESS_EVERY

    def finished(self, job: Job, report: IngestReport, count: int) -> None:
        """Show what the job added or skipped, and why what failed failed."""
        if job.chat:
            self._show(job.chat, report_html(report, job.name, count, job.chat.lang), FINAL_TRIES)
        self._next_edit.pop(job.id, None)

    def failed(self, job: Job, error: str) -> None:
        """Say that the job failed, and why."""
        if job.chat:
            text = prompt_html("tg_add_failed", job.chat.lang, name=job.name, error=error)
            self._show(job.chat, text, FINAL_TRIES)
        self._next_edit.pop(job.id, None)

    def close(self) -> None:
        self._http.close()

    def _show(self, chat: JobChat, text: str, tries: int) -> None:
        """Edit the chat's progress message to ``text`` (what does not fit follows in new
        messages); send a new message if there is none to edit."""
        first, *rest = split_html(text)
        if chat.message_id is not None:
            params = {"chat_id": chat.chat_id, "message_id": chat.message_id}
            sent = self._call("editMessageText", {**params, "text": first}, tries)
        else:
            sent = self._call("sendMessage", {"chat_id": chat.chat_id, "text": first}, tries)
        if sent:
            for part in rest:
                self._call("sendMessage", {"chat_id": chat.chat_id, "text": part}, FINAL_TRIES)

    def _call(self, method: str, params: dict, tries: int) -> bool:
        """Call the Bot API; True if it did what was asked (or there was nothing to change)."""
        for attempt in range(1, tries + 1):
            try:
                response = self._http.post(
                    self._api + method, json={**params, "parse_mode": "HTML"}
                )
                body = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                logger.warning("chat %s: %s failed: %s", params["chat_id"], method, exc)
                return False
            if body.get("ok"):
                return True
            description = str(body.get("description", ""))
            if "message is not modified" in description:
                return True
            retry_after = (body.get("parameters") or {}).get("retry_after")
            if response.status_code != 429 or retry_after is None:
                logger.warning("chat %s: %s refused: %s", params["chat_id"], method, description)
                return False
            if attempt == tries:
                break
            time.sleep(float(retry_after))
        logger.info("chat %s: %s skipped: Telegram asks to wait", params["chat_id"], method)
        return False

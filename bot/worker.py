"""``articlebot worker``: index the queued ingestion jobs (index/jobs.py), one at a time.

Each worker process takes the oldest job no other worker holds, indexes it (load -> chunk
-> embed -> store, index/ingest.py) while renewing its lease, records what it did, and
tells the chat that asked (bot/job_chats.py). Embedding is the slow part and each worker
does its own, so N workers on N cores index about N times as fast; the store takes their
writes one at a time, each a short transaction. SIGTERM lets the job at hand finish first.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from index.ingest import Indexer, IngestReport, ProgressFn, add_content, ingest
from index.readers import Limits

from .settings import Settings

if TYPE_CHECKING:  # psycopg is the postgres extra: `articlebot --help` must not need it
    from index.jobs import Job, JobQueue

    from .job_chats import JobChats

logger = logging.getLogger(__name__)


@dataclass
class Worker:
    """Takes jobs from ``queue`` and indexes them with ``indexer`` until told to stop."""

    queue: JobQueue
    indexer: Indexer
    limits: Limits
    name: str
    lease: float
    poll: float
    chats: JobChats | None = None  # None: no bot token, nobody to tell
    stopping: threading.Event = field(default_factory=threading.Event)
    failed: int = 0  # jobs this worker saw fail

    def run(self, once: bool = False) -> None:
        """Index jobs until ``stop()``; with ``once``, until none is left to take."""
        while not self.stopping.is_set():
            for job in self.queue.give_up_on_dead():
                logger.warning("job %s (%s) failed: %s", job.id, job.name, job.error)
                self.failed += 1
                if self.chats:
                    self.chats.failed(job, job.error or "")
            job = self.queue.take(self.name, self.lease)
            if job is None:
                if once:
                    return
                self.stopping.wait(self.poll)
                continue
            self.work(job)

    def stop(self) -> None:
        """Stop after the job at hand (from a signal handler or another thread)."""
        self.stopping.set()

    def work(self, job: Job) -> None:
        """Index one job and record its outcome (unless another worker took it over)."""
        logger.info("job %s, attempt %s: indexing %s", job.id, job.attempts, job.name)
        if self.chats:
            self.chats.started(job)
        with self.queue.leased(job, self.lease) as noted:

            def progress(done: int, total: int) -> None:
                noted(done, total)
                if self.chats:
                    self.chats.progress(job, done, total)

            try:
                report = self.index(job, progress)
            except Exception as exc:  # noqa: BLE001  (one job's failure must not stop the worker)
                logger.exception("job %s (%s) failed", job.id, job.name)
                report = IngestReport(errors=[str(exc) or type(exc).__name__])
        from index.jobs import result_of

        count = len(self.indexer.store)
        # A job fails when nothing of it could be read; a JSONL file with some bad lines is
        # done, its bad lines in the result.
        error = "; ".join(report.errors) if not (report.added or report.skipped) else None
        if not self.queue.finish(job, result_of(report, count), error):
            logger.warning(
                "job %s was taken over by another worker (this one's lease ran out); "
                "its outcome stands",
                job.id,
            )
            return
        if error:
            self.failed += 1
        logger.info(
            "job %s %s: %d added, %d already indexed, %d failed",
            job.id,
            "failed" if error else "done",
            len(report.added),
            len(report.skipped),
            len(report.errors),
        )
        if self.chats:
            self.chats.finished(job, report, count)

    def index(self, job: Job, progress: ProgressFn) -> IngestReport:
        """What indexing the job's file content or URL added, skipped and failed to read."""
        if job.kind == "file":
            assert job.data is not None, f"job {job.id} has no content"
            return add_content(
                self.indexer, job.data, job.name, job.target, limits=self.limits, progress=progress
            )
        report = ingest(self.indexer, [job.target], self.limits, progress)
        # The job names its URL already: errors need not repeat it.
        report.errors = [e.removeprefix(f"{job.target}: ") for e in report.errors]
        return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--once",
        action="store_true",
        help="index the jobs there are, then exit (for cron and tests); exit 1 if one failed",
    )
    parser.add_argument(
        "--name", help="this worker's name in `articlebot jobs` (default: HOST:PID)"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """index queued uploads, /add URLs and `index add --queue` targets (PostgreSQL store)"""
    from .core import indexer, limits, open_jobs, open_store
    from .job_chats import JobChats

    if logging.getLogger().level > logging.INFO:
        logging.getLogger("bot").setLevel(logging.INFO)  # what each job did, without -v
    queue = open_jobs(settings)
    store = open_store(settings)
    worker = Worker(
        queue=queue,
        indexer=indexer(settings, store),
        limits=limits(settings),
        name=args.name or f"{socket.gethostname()}:{os.getpid()}",
        lease=settings.job_lease,
        poll=settings.worker_poll,
        chats=JobChats(settings) if settings.telegram_bot_token else None,
    )
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    logger.info("worker %s: taking jobs from %s", worker.name, queue.where)
    try:
        worker.run(once=args.once)
    finally:
        if worker.chats:
            worker.chats.close()
        queue.close()
        store.close()
    logger.info("worker %s: stopped", worker.name)
    if args.once and worker.failed:
        print(f"articlebot: {worker.failed} job(s) failed (see: articlebot jobs)", file=sys.stderr)
        return 1
    return 0


COMMAND = (add_arguments, run)

"""Ingestion jobs in a PostgreSQL table: what to index, taken by ``articlebot worker``s.

One table in the store's database (``ingest_jobs``)::

    id, kind ("url" | "file"), target (the URL, or the file's source), name (what messages
    call it), data (a file's bytes, kept until it is done), chat_id, message_id, lang (the
    chat that asked and its progress message), status (queued | running | done | failed),
    attempts, worker, leased_until, done/total (embedding progress), result (what the job
    added, as JSON), error, created_at, started_at, finished_at

A worker takes the oldest queued job with ``SELECT ... FOR UPDATE SKIP LOCKED`` (two workers
never take the same job, and neither waits for the other), marks it running with a lease,
and renews the lease while it works. A job whose worker dies stays "running" until its
lease runs out; then the next worker to look takes it again (attempt 2...). Nothing is
indexed twice: the store skips content it holds (an article's id is its text's hash),
and finishing is conditional on the attempt, so a worker that lost its lease (paused, cut
off) cannot overwrite the result of the one that took the job over. After ``max_attempts``
deaths a job fails, so a file that kills its worker does not go round for ever.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from .ingest import IngestReport
from .postgres_schema import connect, redacted
from .readers import Limits, ReadError, file_content, files_in, is_url

# The advisory lock taken while the table is created: concurrent CREATE TABLE IF NOT EXISTS
# can still collide on the table's type name.
CREATE_LOCK = 0x4A_4F_42_53  # "JOBS"
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS ingest_jobs (
        id BIGSERIAL PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('url', 'file')),
        target TEXT NOT NULL, name TEXT NOT NULL, data BYTEA,
        chat_id BIGINT, message_id BIGINT, lang TEXT NOT NULL DEFAULT 'en',
        status TEXT NOT NULL DEFAULT 'queued'
            CHECK (status IN ('queued', 'running', 'done', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0, worker TEXT, leased_until TIMESTAMPTZ,
        done INTEGER NOT NULL DEFAULT 0, total INTEGER NOT NULL DEFAULT 0,
        result JSONB, error TEXT,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ)""",
    # What workers look for: queued jobs, and running ones whose lease may have run out.
    "CREATE INDEX IF NOT EXISTS ingest_jobs_open ON ingest_jobs (status, id) "
    "WHERE status IN ('queued', 'running')",
)
COLUMNS = (
    "id, kind, target, name, chat_id, message_id, lang, status, attempts, worker, "
    "leased_until, done, total, result, error, created_at, started_at, finished_at"
)
STATUSES = ("queued", "running", "done", "failed")


@dataclass
class JobChat:
    """The Telegram chat that asked for a job, and the message that shows its progress."""

    chat_id: int
    message_id: int | None = None
    lang: str = "en"


@dataclass
class Job:
    """One thing to index (a URL or a file's content), and how far it has got."""

    id: int
    kind: str  # "url" | "file"
    target: str  # the URL, or the source the file's articles get (its path, "telegram:NAME")
    name: str  # what messages call it: the URL, or the file's name
    status: str  # queued | running | done | failed
    attempts: int  # how many times a worker took it
    worker: str | None = None
    chat: JobChat | None = None
    leased_until: datetime | None = None
    done: int = 0  # units of embedding work done, of ``total``
    total: int = 0
    result: dict | None = None  # added/skipped articles, errors, chunks (see ``finish``)
    error: str | None = None  # why it failed
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    data: bytes | None = field(default=None, repr=False)  # a file's content, when taken

    def to_dict(self) -> dict:
        """The job as JSON-ready data (for ``articlebot jobs --json``), without its bytes."""
        out = {k: v for k, v in self.__dict__.items() if k != "data"}
        out["chat"] = self.chat.__dict__ if self.chat else None
        for key in ("leased_until", "created_at", "started_at", "finished_at"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


def _job(row: dict, data: bytes | None = None) -> Job:
    chat = None
    if row["chat_id"] is not None:
        chat = JobChat(row["chat_id"], row["message_id"], row["lang"])
    fields = {k: v for k, v in row.items() if k not in ("chat_id", "message_id", "lang")}
    return Job(**fields, chat=chat, data=data)


class JobQueue:
    """The ingestion jobs of one PostgreSQL database (the store's).

    Safe to call from several threads (a worker renews its lease from one of its own): one
    statement at a time on one connection.
    """

    def __init__(self, url: str, *, max_attempts: int = 3) -> None:
        """Open the queue in the database at ``url``, creating its table if needed.

        Raises StoreError if the server cannot be reached."""
        self.where = redacted(url)
        self.max_attempts = max_attempts
        self._db = connect(url, row_factory=dict_row)
        self._lock = threading.Lock()
        with self._lock, self._db.transaction():
            self._db.execute("SELECT pg_advisory_xact_lock(%s)", (CREATE_LOCK,))
            for statement in SCHEMA:
                self._db.execute(statement)

    # ---- queueing --------------------------------------------------------------------

    def add_url(self, url: str, chat: JobChat | None = None) -> Job:
        """Queue the article at an http(s) URL."""
        return self._add("url", url, url, None, chat)

    def add_file(self, data: bytes, name: str, source: str, chat: JobChat | None = None) -> Job:
        """Queue a file's content: ``name`` (its suffix says how to read it) for messages,
        ``source`` for its articles."""
        return self._add("file", source, name, data, chat)

    def _add(
        self, kind: str, target: str, name: str, data: bytes | None, chat: JobChat | None
    ) -> Job:
        with self._lock:
            row = self._db.execute(
                "INSERT INTO ingest_jobs (kind, target, name, data, chat_id, message_id, lang) "
                f"VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {COLUMNS}",
                (
                    kind,
                    target,
                    name,
                    data,
                    chat.chat_id if chat else None,
                    chat.message_id if chat else None,
                    chat.lang if chat else "en",
                ),
            ).fetchone()
        return _job(row)

    # ---- working ---------------------------------------------------------------------

    def take(self, worker: str, lease: float) -> Job | None:
        """The oldest job no live worker holds, now leased to ``worker`` for ``lease``
        seconds (with its data); None if there is none."""
        with self._lock:
            row = self._db.execute(
                "UPDATE ingest_jobs SET status = 'running', worker = %(worker)s, "
                "attempts = attempts + 1, started_at = now(), done = 0, total = 0, "
                "leased_until = now() + make_interval(secs => %(lease)s) "
                "WHERE id = (SELECT id FROM ingest_jobs WHERE status = 'queued' "
                "OR (status = 'running' AND leased_until < now() AND attempts < %(max)s) "
                "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) "
                f"RETURNING {COLUMNS}, data",
                {"worker": worker, "lease": lease, "max": self.max_attempts},
            ).fetchone()
        if row is None:
            return None
        data = row.pop("data")
        return _job(row, bytes(data) if data is not None else None)

    def give_up_on_dead(self) -> list[Job]:
        """Fail the jobs whose worker died ``max_attempts`` times (their lease ran out each
        time), saying so; returns them, so that their chats can be told."""
        with self._lock:
            rows = self._db.execute(
                "UPDATE ingest_jobs SET status = 'failed', finished_at = now(), "
                "leased_until = NULL, error = format("
                "'its worker stopped before finishing, %%s times (killed, or out of memory?); "
                "not tried again', attempts) "
                "WHERE id IN (SELECT id FROM ingest_jobs WHERE status = 'running' "
                "AND leased_until < now() AND attempts >= %s FOR UPDATE SKIP LOCKED) "
                f"RETURNING {COLUMNS}",
                (self.max_attempts,),
            ).fetchall()
        return [_job(row) for row in rows]

    def renew(self, job: Job, lease: float, done: int, total: int) -> bool:
        """Extend the job's lease by ``lease`` seconds from now and note its progress; False
        if the worker no longer holds it (its lease ran out and another worker took it)."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE ingest_jobs SET leased_until = now() + make_interval(secs => %s), "
                "done = %s, total = %s WHERE id = %s AND attempts = %s AND status = 'running'",
                (lease, done, total, job.id, job.attempts),
            )
        return cur.rowcount == 1

    def finish(self, job: Job, result: dict, error: str | None) -> bool:
        """Record the job's outcome: failed with ``error``, else done (its bytes let go).

        Only the attempt that holds the job records it, once: False (and nothing changed) if
        it was finished already or another worker has taken it over.
        """
        status = "failed" if error else "done"
        with self._lock:
            cur = self._db.execute(
                "UPDATE ingest_jobs SET status = %s, result = %s, error = %s, "
                "finished_at = now(), leased_until = NULL, "
                "data = CASE WHEN %s THEN NULL ELSE data END "
                "WHERE id = %s AND attempts = %s AND status = 'running'",
                (status, Jsonb(result), error, error is None, job.id, job.attempts),
            )
        return cur.rowcount == 1

    @contextmanager
    def leased(self, job: Job, lease: float) -> Iterator[JobProgress]:
        """Renew the job's lease every third of ``lease`` while the block runs, with the
        progress the block notes in the JobProgress it gets."""
        progress = JobProgress()
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(lease / 3):
                try:
                    if not self.renew(job, lease, *progress.done_total):
                        progress.lost = True
                except psycopg.Error:  # the next renewal may get through
                    pass

        thread = threading.Thread(target=renew, name=f"lease-{job.id}", daemon=True)
        thread.start()
        try:
            yield progress
        finally:
            stop.set()
            thread.join()

    # ---- reading ---------------------------------------------------------------------

    def jobs(self, limit: int = 50, status: str | None = None) -> list[Job]:
        """The latest jobs (of one status, if given), newest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {COLUMNS} FROM ingest_jobs WHERE %(status)s::text IS NULL "
                "OR status = %(status)s ORDER BY id DESC LIMIT %(limit)s",
                {"status": status, "limit": limit},
            ).fetchall()
        return [_job(row) for row in rows]

    def job(self, job_id: int) -> Job | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {COLUMNS} FROM ingest_jobs WHERE id = %s", (job_id,)
            ).fetchone()
        return _job(row) if row else None

    def counts(self) -> dict[str, int]:
        """How many jobs are in each status."""
        with self._lock:
            rows = self._db.execute(
                "SELECT status, count(*) AS n FROM ingest_jobs GROUP BY status"
            ).fetchall()
        found = {row["status"]: row["n"] for row in rows}
        return {status: found.get(status, 0) for status in STATUSES}

    def close(self) -> None:
        with self._lock:
            self._db.close()


class JobProgress:
    """How far a leased job has got (set by the indexing thread, read by the lease's)."""

    def __init__(self) -> None:
        self.done_total = (0, 0)  # one tuple assignment: read whole
        self.lost = False  # the lease ran out and another worker took the job

    def __call__(self, done: int, total: int) -> None:
        self.done_total = (done, total)


def queue_targets(
    queue: JobQueue, targets: list[str], limits: Limits
) -> tuple[list[Job], list[str]]:
    """Queue a job for each URL and each file (a folder's files one by one, so that workers
    share them out); the jobs and, one line each, the targets that could not be queued.

    A file's bytes are read now and go into its job, so a worker on any machine can index
    it; its articles' source is its absolute path, as `index add` gives it.
    """
    jobs: list[Job] = []
    errors: list[str] = []
    for target in targets:
        if is_url(target):
            jobs.append(queue.add_url(target))
            continue
        path = Path(target).expanduser().absolute()
        files = files_in(path) if path.is_dir() else [path]
        if not files:
            errors.append(f"{path}: no files articlebot reads in this folder")
        for file in files:
            try:
                data, _, _ = file_content(file, limits)
            except ReadError as exc:
                errors.append(f"{file}: {exc}")
                continue
            jobs.append(queue.add_file(data, file.name, str(file)))
    return jobs, errors


def result_of(report: IngestReport, count: int) -> dict:
    """A job's result as stored (JSON): the articles an IngestReport added and skipped, its
    errors and chunks, and how many articles the store then held."""
    return {
        "added": [{"id": a.id, "title": a.title} for a in report.added],
        "skipped": [{"id": a.id, "title": a.title} for a in report.skipped],
        "errors": list(report.errors),
        "chunks": report.chunks,
        "count": count,
    }

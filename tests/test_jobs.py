"""Ingestion jobs in PostgreSQL and the `articlebot worker`s that take them (index/jobs.py,
bot/worker.py): real worker processes, the real model and a real PostgreSQL server
(tests/postgres.py), and the real bot against the fake Bot API for the chats that ask.

Leases are short here (ARTICLEBOT_JOB_LEASE=3 s), so a dead worker's job comes back quickly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from index.jobs import JobQueue

from .conftest import cli
from .postgres import postgres_server, postgres_url  # noqa: F401  (fixtures)
from .telegram_harness import FACTS, BotProcess, free_port, registered

LEASE = 3.0
ADMIN = 7
WAIT = "it is indexed as soon as a worker is free…"


@pytest.fixture
def pg_env(postgres_url) -> dict[str, str]:  # noqa: F811
    """Settings for every process of a test: one new PostgreSQL database as the store."""
    return {
        "ARTICLEBOT_STORE": "postgres",
        "ARTICLEBOT_POSTGRES_URL": postgres_url,
        "ARTICLEBOT_SEED_SAMPLE": "false",
        "ARTICLEBOT_JOB_LEASE": str(LEASE),
        "ARTICLEBOT_WORKER_POLL": "0.2",
        "ARTICLEBOT_ALLOW_PRIVATE_URLS": "true",
    }


def stories(folder: Path, count: int, facts_each: int = 2) -> list[Path]:
    """``count`` short news stories, each of its own facts (distinct content, distinct ids)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        facts = [FACTS[(n * facts_each + i) % len(FACTS)][0] for i in range(facts_each)]
        body = " ".join(facts) + f" This was report number {n} of the regional desk."
        path = folder / f"story-{n:02}.txt"
        path.write_text(f"Regional report {n}\n\n{body}\n", encoding="utf-8")
        paths.append(path)
    return paths


def worker(data_dir: Path, env: dict[str, str], name: str, *args: str) -> subprocess.Popen:
    """`articlebot worker --name NAME ARGS` started, its output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "worker", "--name", name, *args],
        env={**os.environ, "ARTICLEBOT_DATA_DIR": str(data_dir), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=data_dir.parent,
    )


def finished(process: subprocess.Popen, timeout: float = 240) -> tuple[int, str]:
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


def jobs(data_dir: Path, env: dict[str, str]) -> dict[str, dict]:
    """`articlebot jobs --json`, by job name."""
    result = cli("jobs", "--json", data_dir=data_dir, env=env)
    assert result.returncode == 0, result.stderr
    return {job["name"]: job for job in json.loads(result.stdout)}


def titles(data_dir: Path, env: dict[str, str]) -> list[str]:
    """The titles `articlebot index list --json` shows, one per stored article."""
    result = cli("index", "list", "--json", data_dir=data_dir, env=env)
    assert result.returncode == 0, result.stderr
    return sorted(article["title"] for article in json.loads(result.stdout))


def test_two_workers_drain_a_queue_between_them_and_store_each_article_once(tmp_path, pg_env):
    data_dir = tmp_path / "data"
    paths = stories(tmp_path / "news", 10)
    (tmp_path / "news" / "story-00-again.txt").write_bytes(paths[0].read_bytes())

    queued = cli("index", "add", "--queue", str(tmp_path / "news"), data_dir=data_dir, env=pg_env)
    assert queued.returncode == 0, queued.stderr
    assert "11 queued, 0 failed" in queued.stdout

    started = time.monotonic()
    first, second = (worker(data_dir, pg_env, name, "--once") for name in ("w1", "w2"))
    (code1, log1), (code2, log2) = finished(first), finished(second)
    assert (code1, code2) == (0, 0), log1 + log2
    elapsed = time.monotonic() - started

    by_name = jobs(data_dir, pg_env)
    assert {job["status"] for job in by_name.values()} == {"done"}
    assert {job["attempts"] for job in by_name.values()} == {1}
    # Both took jobs: SKIP LOCKED lets each take the next free one without waiting.
    assert {job["worker"] for job in by_name.values()} == {"w1", "w2"}, elapsed
    assert titles(data_dir, pg_env) == sorted(f"Regional report {n}" for n in range(10))
    # The same text under two names: the second job to store it found it there.
    copies = [by_name["story-00.txt"]["result"], by_name["story-00-again.txt"]["result"]]
    assert sorted(len(r["added"]) for r in copies) == [0, 1]
    assert sorted(len(r["skipped"]) for r in copies) == [0, 1]


def test_a_killed_workers_job_is_taken_again_after_its_lease_and_stored_once(tmp_path, pg_env):
    data_dir = tmp_path / "data"
    (path,) = stories(tmp_path / "news", 1, facts_each=20)  # long enough to be caught at it
    queued = cli("index", "add", "--queue", str(path), data_dir=data_dir, env=pg_env)
    assert queued.returncode == 0, queued.stderr
    queue = JobQueue(pg_env["ARTICLEBOT_POSTGRES_URL"])
    try:
        doomed = worker(data_dir, pg_env, "doomed")
        deadline = time.monotonic() + 120
        while (job := queue.jobs(1)[0]).status != "running":
            assert time.monotonic() < deadline and doomed.poll() is None, finished(doomed)[1]
            time.sleep(0.05)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()

        # Its job stays leased to it: no worker takes it before the lease runs out.
        assert (job.status, job.worker, job.attempts) == ("running", "doomed", 1)
        assert queue.take("early", LEASE) is None
        time.sleep(LEASE + 0.5)

        code, log = finished(worker(data_dir, pg_env, "heir", "--once"))
        assert code == 0, log
        job = queue.job(job.id)
    finally:
        queue.close()
    assert (job.status, job.worker, job.attempts, job.error) == ("done", "heir", 2, None)
    # The first attempt may have stored the article before it died: then the second found it.
    assert len(job.result["added"]) + len(job.result["skipped"]) == 1
    assert titles(data_dir, pg_env) == ["Regional report 0"]


def test_a_job_that_cannot_be_read_fails_with_its_reason_and_the_others_are_indexed(
    tmp_path, pg_env
):
    data_dir = tmp_path / "data"
    news = tmp_path / "news"
    stories(news, 2)
    (news / "scan.pdf").write_bytes(b"this is not a PDF at all")
    dead_url = f"http://127.0.0.1:{free_port()}/story.html"

    queued = cli(
        "index", "add", "--queue", str(news), dead_url, str(tmp_path / "missing.txt"),
        data_dir=data_dir, env=pg_env,
    )  # fmt: skip
    assert queued.returncode == 1
    assert f"failed: {tmp_path / 'missing.txt'}: no such file" in queued.stderr
    assert "4 queued, 1 failed" in queued.stdout

    code, log = finished(worker(data_dir, pg_env, "w", "--once"))
    assert code == 1, log
    assert "2 job(s) failed (see: articlebot jobs)" in log

    by_name = jobs(data_dir, pg_env)
    assert by_name["scan.pdf"]["status"] == "failed"
    assert by_name["scan.pdf"]["error"].startswith("not a readable PDF")
    assert by_name[dead_url]["status"] == "failed"
    assert "connect" in by_name[dead_url]["error"].lower()
    assert [by_name[f"story-0{n}.txt"]["status"] for n in (0, 1)] == ["done", "done"]
    assert titles(data_dir, pg_env) == ["Regional report 0", "Regional report 1"]

    listing = cli("jobs", data_dir=data_dir, env=pg_env)
    assert listing.stdout.startswith("0 queued, 0 running, 2 done, 2 failed")
    assert "error: not a readable PDF" in listing.stdout


def test_a_job_whose_worker_keeps_dying_fails_and_says_why(tmp_path, pg_env):
    env = {**pg_env, "ARTICLEBOT_JOB_ATTEMPTS": "1"}
    data_dir = tmp_path / "data"
    (path,) = stories(tmp_path / "news", 1, facts_each=20)
    assert cli("index", "add", "--queue", str(path), data_dir=data_dir, env=env).returncode == 0
    queue = JobQueue(env["ARTICLEBOT_POSTGRES_URL"])
    try:
        doomed = worker(data_dir, env, "doomed")
        deadline = time.monotonic() + 120
        while queue.jobs(1)[0].status != "running":
            assert time.monotonic() < deadline and doomed.poll() is None, finished(doomed)[1]
            time.sleep(0.05)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        time.sleep(LEASE + 0.5)

        code, log = finished(worker(data_dir, env, "next", "--once"))
        (job,) = queue.jobs(1)
    finally:
        queue.close()
    assert code == 1, log
    assert (job.status, job.attempts) == ("failed", 1)
    assert job.error == (
        "its worker stopped before finishing, 1 times (killed, or out of memory?); not tried again"
    )


# ---- the chat that asked ---------------------------------------------------------------


def test_an_upload_and_an_add_url_are_queued_and_the_worker_reports_back_to_the_chat(
    fake, tmp_path, pg_env
):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    bot = BotProcess.start(
        fake, data_dir, tmp_path / "bot.log", ADMIN_USER_IDS=str(ADMIN), **pg_env
    )
    try:
        fake.wait_for(lambda: registered(fake), 90, "the bot to register its commands")
        (path,) = stories(tmp_path / "news", 1, facts_each=4)
        fake.user_uploads(ADMIN, "harbour.txt", path.read_bytes())
        dead_url = f"http://127.0.0.1:{free_port()}/gone.html"
        fake.user_says(ADMIN, f"/add {dead_url}")
        queued = {m["text"]: m for m in fake.wait_for_messages(ADMIN, 2, timeout=60)}
        for name in ("harbour.txt", dead_url):
            assert f"Queued {name}: {WAIT}" in queued

        code, log = finished(
            worker(
                data_dir,
                {
                    **pg_env,
                    "TELEGRAM_BOT_TOKEN": fake.token,
                    "TELEGRAM_API_BASE_URL": fake.base_url,
                },
                "w",
                "--once",
            )
        )
        assert code == 1, log
        # The worker edited each "Queued" message into its report: no new message.
        assert len(fake.messages(ADMIN)) == 2
        upload, url = sorted(fake.messages(ADMIN), key=lambda m: "Could not" in m["text"])
        assert upload["message_id"] == queued[f"Queued harbour.txt: {WAIT}"]["message_id"]
        assert upload["text"].startswith("Added “Regional report 0” (id ")
        assert upload["text"].endswith("Articles indexed: 1.")
        assert url["text"].startswith(f"Could not add {dead_url}: ")
        assert fake.token not in log

        before = len(fake.messages(ADMIN))
        fake.user_says(ADMIN, "How many books does the Brenfield library hold?")
        (answer,) = fake.wait_for_messages(ADMIN, before + 1, timeout=60)[before:]
        assert "86400" in answer["text"].split("[1]", 1)[1]
    finally:
        assert bot.stop() == 0, bot.log_text()[-3000:]

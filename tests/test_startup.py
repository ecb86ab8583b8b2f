"""A command that cannot start says so in one line that says what to fix, and exits non-zero.

Each case runs the real `articlebot` process; the Telegram ones against the fake Bot API
(or nothing at all) with no retries, so that each fails within seconds.
"""

from __future__ import annotations

import re
import socket
import sqlite3
import subprocess
from pathlib import Path

import pytest

from .conftest import fake_bot_api
from .telegram_harness import TOKEN, free_port, run_until_it_stops

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (INFO|WARNING) ")
QUESTION = "How many doses of the Sputnik V vaccine did Russia sell to Pakistan?"


def the_one_line(result: subprocess.CompletedProcess) -> str:
    """The error line on stderr, checked to be alone (besides log lines saying what the
    bot does) and without a traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if not LOG_LINE.match(line)]
    assert len(lines) == 1 and lines[0].startswith("articlebot: "), result.stderr
    return lines[0]


def bot_env(base_url: str, data_dir: Path, token: str = TOKEN) -> dict[str, str]:
    return {
        "TELEGRAM_BOT_TOKEN": token,
        "TELEGRAM_API_BASE_URL": base_url,
        "ARTICLEBOT_DATA_DIR": str(data_dir),
    }


@pytest.fixture
def fake():
    """A fresh fake Bot API for each case: some check that the bot never called it."""
    with fake_bot_api() as server:
        yield server


def test_a_token_telegram_refuses_is_one_line_naming_the_setting(fake, data_dir):
    wrong = "123456:a-token-that-was-revoked"
    env = bot_env(fake.base_url, data_dir, token=wrong)
    result = run_until_it_stops("telegram", cwd=data_dir.parent, **env)
    assert result.returncode == 2
    assert the_one_line(result) == (
        f"articlebot: the Bot API at {fake.base_url} refused the bot token (Unauthorized): "
        "set TELEGRAM_BOT_TOKEN to the token @BotFather gave the bot"
    )
    assert "a-token-that-was-revoked" not in result.stderr + result.stdout


def test_an_unreachable_bot_api_is_one_line_naming_the_address_after_its_retries(data_dir):
    nowhere = f"http://127.0.0.1:{free_port()}/bot"
    env = bot_env(nowhere, data_dir) | {"TELEGRAM_MAX_RETRIES": "1"}
    result = run_until_it_stops("telegram", cwd=data_dir.parent, **env)
    assert result.returncode == 1  # trying again later may work
    retried = [x for x in result.stderr.splitlines() if "getMe failed (httpx." in x]
    assert len(retried) == 1 and retried[0].endswith("; retrying")  # two tries in all
    line = the_one_line(result)
    assert line.startswith(f"articlebot: cannot reach the Bot API at {nowhere} (httpx.")
    assert line.endswith("): check the network connection, or TELEGRAM_API_BASE_URL")


def test_a_webhook_port_in_use_is_one_line_naming_the_setting(fake, data_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = bot_env(fake.base_url, data_dir) | {
            "TELEGRAM_MODE": "webhook",
            "TELEGRAM_WEBHOOK_URL": f"https://bot.example.org:{port}/hook",
            "TELEGRAM_WEBHOOK_PORT": str(port),
            "TELEGRAM_WEBHOOK_SECRET": "webhook-secret",
        }
        result = run_until_it_stops("telegram", cwd=data_dir.parent, **env)
    assert result.returncode == 2
    assert the_one_line(result) == (
        f"articlebot: cannot listen for the webhook on 127.0.0.1:{port} (Address already in "
        "use): set TELEGRAM_WEBHOOK_PORT to a port free on this machine"
    )


@pytest.mark.parametrize(
    ("command", "stdin"),
    [(["telegram"], ""), (["ask", QUESTION], ""), (["repl"], QUESTION)],
    ids=["telegram", "ask", "repl"],
)
def test_a_data_dir_that_cannot_be_a_directory_is_one_line_naming_it(
    fake, tmp_path, command, stdin
):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("a file where a directory should be\n", encoding="utf-8")
    for data_dir, culprit in [(a_file / "data", str(a_file)), (a_file, "it")]:
        env = bot_env(fake.base_url, data_dir)
        result = run_until_it_stops(*command, cwd=tmp_path, stdin=stdin, **env)
        assert result.returncode == 2
        assert the_one_line(result) == (
            f"articlebot: cannot use the data directory {data_dir}: {culprit} is a file, not "
            "a directory; set ARTICLEBOT_DATA_DIR (or --data-dir) to a directory articlebot "
            "can create, read and write"
        )
        assert not fake.calls  # the bot stopped before it called Telegram
        assert not result.stdout


@pytest.mark.parametrize(
    ("command", "stdin"), [(["telegram"], ""), (["repl"], QUESTION)], ids=["telegram", "repl"]
)
def test_an_index_built_with_another_model_is_one_line_saying_how_to_fix_it(
    fake, data_dir, command, stdin
):
    # The index as another embedding model leaves it (building one for real would take the
    # sentence-transformers model as long as this whole file).
    with sqlite3.connect(data_dir / "store.sqlite") as db:
        db.executemany(
            "UPDATE meta SET value = ? WHERE key = ?",
            [("sentence-transformers", "embed_backend"), ("intfloat/e5-base", "embed_model")],
        )
    env = bot_env(fake.base_url, data_dir)
    result = run_until_it_stops(*command, cwd=data_dir.parent, stdin=stdin, **env)
    assert result.returncode == 2
    line = the_one_line(result)
    assert "was built with embeddings 'sentence-transformers:intfloat/e5-base'" in line
    assert line.endswith(
        "Either set ARTICLEBOT_EMBEDDINGS=sentence-transformers:intfloat/e5-base, or re-embed "
        "every article with the new model: articlebot index rebuild"
    )
    assert not fake.calls and not result.stdout

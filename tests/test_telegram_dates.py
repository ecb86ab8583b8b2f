"""Dates in the Telegram bot: answers and /articles show each article's day and link,
/since and /until keep a chat's questions to some days, and old articles are removed on a
schedule (ARTICLEBOT_RETENTION_DAYS). The real `articlebot telegram` process, index and
model, against the fake Bot API."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import cli
from .telegram_harness import BotProcess, ask, registered
from .test_dates import VACCINE_NEWS

USER = 401
OTHER = 402
TRUCKS = "How many trucks did the minister promise?"


@pytest.fixture(scope="module")
def data_dir(sample_dir, tmp_path_factory) -> Path:
    """The sample (undated, added today), a dated article with a link and one from 2019."""
    path = tmp_path_factory.mktemp("dates") / "data"
    shutil.copytree(sample_dir, path)
    news = path.parent / "news.jsonl"
    news.write_text("\n".join(json.dumps(a) for a in VACCINE_NEWS), encoding="utf-8")
    added = cli("index", "add", str(news), data_dir=path)
    assert added.returncode == 0, added.stderr
    return path


@pytest.fixture(scope="module")
def bot(fake, data_dir):
    process = BotProcess.start(
        fake, data_dir, data_dir.parent / "bot.log", ARTICLEBOT_RETENTION_DAYS="1000"
    )
    try:
        fake.wait_for(lambda: registered(fake), 90, "the bot to register its commands")
        yield process
    finally:
        assert process.stop() == 0, process.log_text()[-3000:]


def titles(data_dir: Path) -> list[str]:
    listed = cli("index", "list", "--json", data_dir=data_dir)
    assert listed.returncode == 0, listed.stderr
    return [a["title"] for a in json.loads(listed.stdout)]


def test_articles_older_than_the_retention_are_removed_soon_after_start(fake, bot, data_dir):
    fake.wait_for(
        lambda: "removed 1 articles older than 1000 days" in bot.log_text(), 60, "the pruning"
    )
    assert "Harbour cranes replaced" not in titles(data_dir)
    assert "Vaccines reach rural clinics" in titles(data_dir)
    # The menu offers the date commands.
    assert {"since", "until"} <= {c["command"] for c in fake.commands[None]}


def test_an_answer_shows_its_sources_day_and_link(fake, bot):
    (answer,) = ask(fake, USER, TRUCKS)
    assert "two hundred refrigerated trucks" in answer["text"].split("[1]", 1)[1]
    assert (
        '[1] <a href="https://news.example/health/rural-clinics">Vaccines reach rural clinics</a>'
        " · 2026-11-02 (id <code>"
    ) in answer["html"]
    (sources,) = ask(fake, USER, "/sources")
    assert sources["text"].startswith(
        "[1] Vaccines reach rural clinics — 2026-11-02, https://news.example/health/rural-clinics"
    )


def test_since_and_until_keep_a_chats_questions_to_those_days(fake, bot):
    (shown,) = ask(fake, USER, "/since")
    assert shown["text"].startswith("I search every article, whatever its date.")
    (bad,) = ask(fake, USER, "/since 2/11/2026")
    assert bad["text"] == (
        "Usage: /since YYYY-MM-DD, or /since off ('2/11/2026' is not a date: write it as "
        "YYYY-MM-DD, e.g. 2026-11-01)"
    )
    (until,) = ask(fake, USER, "/until 2026-11-01")
    assert until["text"].startswith(
        "From now on I search only the articles dated 2026-11-01 or earlier."
    )

    (answer,) = ask(fake, USER, TRUCKS)
    assert answer["text"].startswith("(I searched only the articles dated 2026-11-01 or earlier.)")
    assert "rural clinics" not in answer["text"]
    # Another chat's questions search every article.
    (elsewhere,) = ask(fake, OTHER, TRUCKS)
    assert "Vaccines reach rural clinics" in elsewhere["text"]

    ask(fake, USER, "/since 2026-11-02")  # now after the end: refused, the window kept
    (window,) = ask(fake, USER, "/since")
    assert window["text"].startswith("From now on I search only the articles dated 2026-11-01")
    (opened,) = ask(fake, USER, "/until off")
    assert opened["text"] == ("I search every article again, whatever its date.")
    (answer,) = ask(fake, USER, TRUCKS)
    assert "Vaccines reach rural clinics" in answer["text"]


def test_articles_lists_the_newest_first_with_days(fake, bot, data_dir):
    fake.wait_for(lambda: "Harbour cranes replaced" not in titles(data_dir), 60, "the pruning")
    (listing,) = ask(fake, USER, "/articles")
    lines = listing["text"].splitlines()
    assert lines[0] == "Indexed articles (2):"
    assert " · added 20" in lines[1]  # the sample: undated, added today
    assert lines[2].endswith("[en] Vaccines reach rural clinics · 2026-11-02")

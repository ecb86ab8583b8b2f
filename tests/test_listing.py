"""Listing many articles, a page at a time: /articles in the REPL and in Telegram, and
`articlebot index list --limit`. The real processes, index and model (Telegram: the real
`articlebot telegram` process against the fake Bot API)."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from .conftest import cli
from .telegram_harness import BotProcess, ask

REPORTS = 44  # with the sample, 45 articles: pages of 20, 20 and 5
SAMPLE_ID = "d9e8e8c0"


def report(n: int) -> dict:
    """The n-th harbour report, dated n days after 1 October 2026 (the sample, undated, is
    known by the day it was added: today, the newest)."""
    return {
        "id": f"harbour-{n}",
        "title": f"Harbour report {n}",
        "date": (date(2026, 10, 1) + timedelta(days=n)).isoformat(),
        "text": f"The port of Velmar handled {n * 100 + 7} containers on the {n}th day.",
    }


@pytest.fixture(scope="module")
def data_dir(sample_dir, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("listing") / "data"
    shutil.copytree(sample_dir, path)
    news = path.parent / "reports.jsonl"
    lines = [json.dumps(report(n)) for n in range(1, REPORTS + 1)]
    news.write_text("\n".join(lines), encoding="utf-8")
    added = cli("index", "add", str(news), data_dir=path)
    assert added.returncode == 0, added.stderr
    return path


def titles_in(text: str) -> list[str]:
    """The titles listed, in order (the sample as "sample")."""
    found = re.findall(r"Harbour report \d+|أفغانستان تتصدر", text)
    return ["sample" if t.startswith("أفغانستان") else t for t in found]


def reports(*numbers: int) -> list[str]:
    return [f"Harbour report {n}" for n in numbers]


PAGE_1 = ["sample", *reports(*range(44, 25, -1))]
PAGE_2 = reports(*range(25, 5, -1))
PAGE_3 = reports(5, 4, 3, 2, 1)


def test_the_repl_lists_twenty_articles_a_page_newest_first(data_dir):
    session = "/articles\n/articles 2\n/articles ٣\n/articles 4\n/articles next\n"
    result = cli("repl", data_dir=data_dir, stdin=session, env={"ARTICLEBOT_BIDI": "off"})
    assert result.returncode == 0, result.stderr
    first, second, third, past, usage = result.stdout.strip().split("\n\n")

    assert first.startswith("Indexed articles (45), newest first: page 1 of 3\n")
    assert first.split("\n")[1].startswith(SAMPLE_ID)
    assert titles_in(first) == PAGE_1 and first.endswith("\n/articles 2 shows the next page.")
    assert second.startswith("Indexed articles (45), newest first: page 2 of 3\n")
    assert titles_in(second) == PAGE_2 and second.endswith("/articles 3 shows the next page.")
    assert titles_in(third) == PAGE_3 and third.endswith("reports.jsonl#harbour-1)")
    assert past == (
        "There is no page 4: the 45 articles make 3 pages of 20. /articles 3 shows the last."
    )
    assert usage == "Usage: /articles, or /articles N for the N-th page of 20 articles."


def test_index_list_limit_gives_the_newest_lines_of_the_whole_listing(data_dir):
    whole = cli("index", "list", data_dir=data_dir, env={"ARTICLEBOT_BIDI": "off"})
    newest = cli("index", "list", "--limit", "3", data_dir=data_dir, env={"ARTICLEBOT_BIDI": "off"})
    assert whole.returncode == newest.returncode == 0, newest.stderr
    assert len(whole.stdout.splitlines()) == 45
    assert newest.stdout.splitlines() == whole.stdout.splitlines()[:3]
    as_json = json.loads(cli("index", "list", "--json", "--limit", "2", data_dir=data_dir).stdout)
    assert titles_in(" ".join(a["title"] for a in as_json)) == ["sample", "Harbour report 44"]
    wrong = cli("index", "list", "--limit", "0", data_dir=data_dir)
    assert wrong.returncode == 2 and "expected a whole number of 1 or more" in wrong.stderr


@pytest.fixture(scope="module")
def bot(fake, data_dir):
    process = BotProcess.start(fake, data_dir, data_dir.parent / "bot.log")
    try:
        yield process
    finally:
        assert process.stop() == 0, process.log_text()[-3000:]


def test_telegram_articles_sends_one_message_a_page_in_the_users_language(fake, bot, data_dir):
    (first,) = ask(fake, 501, "/articles")
    assert first["text"].startswith("Indexed articles (45), newest first: page 1 of 3\n")
    assert titles_in(first["text"]) == PAGE_1
    assert first["text"].endswith("/articles 2 shows the next page.")
    (last,) = ask(fake, 501, "/articles 3")
    assert titles_in(last["text"]) == PAGE_3 and "next page" not in last["text"]
    assert last["reply_markup"] is None  # no page after it, no button

    (past,) = ask(fake, 501, "/articles 9")
    assert past["text"].startswith("There is no page 9: the 45 articles make 3 pages of 20.")
    (usage,) = ask(fake, 501, "/articles all")
    assert usage["text"].startswith("Usage: /articles, or /articles N")
    (arabic,) = ask(fake, 502, "/articles 2", lang="ar")
    assert arabic["text"].startswith("المقالات المفهرسة (45)، الأحدث أولًا: الصفحة 2 من 3\n")
    assert titles_in(arabic["text"]) == PAGE_2
    assert arabic["text"].endswith("الصفحة التالية: /articles 3")

    # The button under a page shows the next, with a button for the one after; an article
    # that arrives meanwhile does not push the end of page 1 onto page 2.
    markup = first["reply_markup"]["inline_keyboard"][0][0]
    assert markup["text"] == "Older articles ›"
    assert re.fullmatch(r"articles:2:45:[0-9a-f]{16}", markup["callback_data"])
    news = data_dir.parent / "later.jsonl"
    news.write_text(json.dumps(report(REPORTS + 1) | {"date": "2030-01-01"}), encoding="utf-8")
    assert cli("index", "add", str(news), data_dir=data_dir).returncode == 0
    before = len(fake.messages(501))
    fake.user_presses(first, markup["callback_data"])
    (second,) = fake.wait_for_messages(501, before + 1)[before:]
    assert titles_in(second["text"]) == PAGE_2
    markup = second["reply_markup"]["inline_keyboard"][0][0]
    assert re.fullmatch(r"articles:3:46:[0-9a-f]{16}", markup["callback_data"])

    # Reports of September, older than every listed one, come in (a feed's back entries):
    # the next page goes on from the last report shown, then lists them.
    old = [report(n) | {"date": f"2026-09-0{n - 100}"} for n in (101, 102, 103)]
    news.write_text("\n".join(json.dumps(r) for r in old), encoding="utf-8")
    assert cli("index", "add", str(news), data_dir=data_dir).returncode == 0
    before = len(fake.messages(501))
    fake.user_presses(second, markup["callback_data"])
    (third,) = fake.wait_for_messages(501, before + 1)[before:]
    assert third["text"].startswith("Indexed articles (49), newest first: page 3 of 3\n")
    assert titles_in(third["text"]) == [*PAGE_3, *reports(103, 102, 101)]
    assert third["reply_markup"] is None

    # A button sent before it carried the page's last article still gives its page.
    before = len(fake.messages(501))
    fake.user_presses(first, "articles:2:49")
    (older,) = fake.wait_for_messages(501, before + 1)[before:]
    assert titles_in(older["text"]) == reports(*range(26, 6, -1))

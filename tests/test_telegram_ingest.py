"""Articles that come to the bot by themselves: followed feeds polled on a schedule, posts of
listed Telegram channels, and posts an admin forwards. The real `articlebot telegram`
process, index and model, against the fake Bot API and a news site on 127.0.0.1."""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer

import pytest

from bot import prompts

from .fake_telegram import FakeTelegram
from .telegram_harness import TOKEN, BotProcess
from .test_feeds import LIGHTHOUSE, MARKET, FeedSite, Handler, Route, page, rss

ADMIN = 1
USER = 301
FEED_MINUTES = 0.05  # a poll every 3 seconds: the schedule, not a command, must find news


@pytest.fixture(scope="module")
def site():
    feed_site = FeedSite()
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (Handler,), {"site": feed_site}))
    feed_site.base = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield feed_site
    server.shutdown()


@pytest.fixture(scope="module")
def fake():
    server = FakeTelegram(TOKEN).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bot(fake, sample_dir, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("ingest") / "data"
    shutil.copytree(sample_dir, data_dir)
    process = BotProcess.start(
        fake,
        data_dir,
        data_dir.parent / "bot.log",
        "-v",
        ADMIN_USER_IDS=str(ADMIN),
        ARTICLEBOT_ALLOW_PRIVATE_URLS="true",
        ARTICLEBOT_FEED_INTERVAL=str(FEED_MINUTES),
    )
    try:
        fake.wait_for(lambda: len(fake.commands) == 2, 90, "the bot to register its commands")
        yield process
    finally:
        assert process.stop() == 0, process.log_text()[-3000:]


def ask(fake: FakeTelegram, chat_id: int, text: str, count: int = 1, **kw) -> list[dict]:
    """Send a message and return the first ``count`` new messages the bot sends back."""
    before = len(fake.messages(chat_id))
    fake.user_says(chat_id, text, **kw)
    return fake.wait_for_messages(chat_id, before + count, timeout=90)[before:]


def said(fake: FakeTelegram, chat_id: int, words: str) -> list[str]:
    """The texts the bot sent or edited into a chat that contain ``words``."""
    return [m["text"] for m in fake.messages(chat_id) if words in m["text"]]


def harbour(site: FeedSite, stories: list[tuple[str, str, str]]) -> str:
    """The Harbour News feed with these (path, title, text) stories, newest first."""
    items = []
    for n, (path, title, text) in enumerate(stories):
        site.routes[path] = Route(page(title, text))
        date = datetime(2026, 5, 4 - n, 8, 0, tzinfo=UTC)
        items.append({"title": title, "link": site.url(path), "date": date})
    tag = f'"harbour-{len(items)}"'
    site.routes["/harbour.xml"] = Route(rss("Harbour News", items), "application/rss+xml", tag)
    return site.url("/harbour.xml")


# ---- feeds --------------------------------------------------------------------------


def test_a_followed_feeds_new_entry_answers_questions_without_any_command(fake, bot, site):
    url = harbour(site, [("/lighthouse.html", "Lighthouse restored", LIGHTHOUSE)])
    fake.user_says(ADMIN, f"/feed add {url}")
    following = fake.wait_for(lambda: said(fake, ADMIN, "Following “Harbour News”"), 90)
    assert "polled every 0.05 minutes" in following[0]
    assert said(fake, ADMIN, "Added “Lighthouse restored”")

    harbour(
        site,
        [
            ("/market.html", "Fish market for the north quay", MARKET),
            ("/lighthouse.html", "Lighthouse restored", LIGHTHOUSE),
        ],
    )
    fake.wait_for(
        lambda: "articles added: 1" in bot.log_text(), 60, "a scheduled poll to add the market"
    )
    (answer,) = ask(fake, USER, "Where will Port Elin build its new fish market?")
    assert "north quay" in answer["text"].split("[1]", 1)[1]
    assert "Fish market for the north quay" in answer["text"]

    (listing,) = ask(fake, ADMIN, "/feeds")
    assert listing["text"].startswith("Followed feeds (1):")
    assert url in listing["text"] and "Harbour News" in listing["text"]
    assert "2 entries taken" in listing["text"] and "last poll: 20" in listing["text"]


def test_a_broken_feed_is_told_to_the_admins_once_and_its_recovery_once(fake, bot, site):
    site.routes["/flaky.xml"] = Route(rss("Flaky Times", []), "application/rss+xml")
    fake.user_says(ADMIN, f"/feed add {site.url('/flaky.xml')}")
    fake.wait_for(lambda: said(fake, ADMIN, "Following “Flaky Times”"), 90)
    reads = len(site.asked("/flaky.xml"))

    site.routes["/flaky.xml"] = Route(b"this is not a feed <<<", "application/rss+xml")
    fake.wait_for(lambda: said(fake, ADMIN, "could not be read"), 60, "the failure notice")
    # Two more failing polls (the wait doubles after each failure), and still one notice.
    fake.wait_for(lambda: len(site.asked("/flaky.xml")) >= reads + 3, 60, "three failed polls")
    (notice,) = said(fake, ADMIN, "could not be read")
    assert notice.startswith("Feed “Flaky Times”") and "not an RSS or Atom feed" in notice
    (listing,) = ask(fake, ADMIN, "/feeds")
    assert "failed 3 time(s) in a row: not an RSS or Atom feed" in listing["text"]

    site.routes["/flaky.xml"] = Route(rss("Flaky Times", []), "application/rss+xml")
    fake.wait_for(lambda: said(fake, ADMIN, "can be read again"), 90, "the recovery notice")
    assert len(said(fake, ADMIN, "could not be read")) == 1
    assert bot.process.poll() is None

    (removed,) = ask(fake, ADMIN, "/feed remove " + listing["text"].split("\n\n")[2][:12])
    assert removed["text"].startswith("Stopped following “Flaky Times”")
    (listing,) = ask(fake, ADMIN, "/feeds")
    assert "Flaky Times" not in listing["text"]


def test_feed_commands_are_for_admins_only_and_explain_their_usage(fake, bot, site):
    admin_only = prompts.text("tg_admin_only", "en")
    assert ask(fake, USER, f"/feed add {site.url('/harbour.xml')}")[0]["text"] == admin_only
    assert ask(fake, USER, "/feeds")[0]["text"] == admin_only
    assert ask(fake, ADMIN, "/feed follow")[0]["text"] == prompts.text("tg_feed_usage", "en")
    (missing,) = ask(fake, ADMIN, "/feed remove 0000")
    assert missing["text"].startswith("Could not remove feed 0000:")
    ask(fake, ADMIN, f"/feed add {site.url('/nothing-here.xml')}")
    fake.wait_for(lambda: said(fake, ADMIN, "Could not add"), 60)

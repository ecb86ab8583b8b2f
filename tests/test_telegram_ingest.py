"""Articles that come to the bot by themselves: followed feeds polled on a schedule, posts of
listed Telegram channels, and posts an admin forwards. The real `articlebot telegram`
process, index and model, against the fake Bot API and a news site on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot import prompts
from bot.settings import Settings
from bot.telegram_html import source_html
from bot.telegram_posts import TITLE_CHARS, post_title

from .conftest import cli
from .fake_telegram import FakeTelegram
from .telegram_harness import BotProcess, ask, registered
from .test_feeds import LIGHTHOUSE, MARKET, FeedSite, Route, page, rss, serving

ADMIN = 1
USER = 301
# A poll every 0.9 seconds: the schedule, not a command, must find news; a failing feed's
# wait doubles with each failure, so its recovery is seen 0.9 + 1.8 + 3.6 s after it breaks
# (and the admin's /feeds has 3.6 s to show two failures before a third poll).
FEED_MINUTES = 0.015
PUBLIC = -1005001  # listed by its @username
PRIVATE = -1009001  # no username; listed by its id
UNLISTED = -1007001


@pytest.fixture(scope="module")
def site():
    with serving() as feed_site:
        yield feed_site


@pytest.fixture(scope="module")
def data_dir(sample_dir, tmp_path_factory) -> Path:
    """The bot's data directory (the sample article indexed)."""
    path = tmp_path_factory.mktemp("ingest") / "data"
    shutil.copytree(sample_dir, path)
    return path


@pytest.fixture(scope="module")
def bot(fake, data_dir):
    process = BotProcess.start(
        fake,
        data_dir,
        data_dir.parent / "bot.log",
        "-v",
        ADMIN_USER_IDS=str(ADMIN),
        ARTICLEBOT_ALLOW_PRIVATE_URLS="true",
        ARTICLEBOT_FEED_INTERVAL=str(FEED_MINUTES),
        TELEGRAM_INGEST_CHANNELS=f"@Harbour_Channel, {PRIVATE}",
    )
    try:
        fake.wait_for(lambda: registered(fake), 90, "the bot to register its commands")
        yield process
    finally:
        assert process.stop() == 0, process.log_text()[-3000:]


def stored(data_dir: Path, title: str) -> dict:
    """The indexed article with this title, as `articlebot index list --json` shows it."""
    listed = cli("index", "list", "--json", data_dir=data_dir)
    assert listed.returncode == 0, listed.stderr
    (article,) = [a for a in json.loads(listed.stdout) if a["title"] == title]
    return article


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
    assert f"polled every {FEED_MINUTES:g} minutes" in following[0]
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
    assert "entries taken: 2" in listing["text"] and "last poll: 20" in listing["text"]


def test_a_broken_feed_is_told_to_the_admins_once_and_its_recovery_once(fake, bot, site):
    site.routes["/flaky.xml"] = Route(rss("Flaky Times", []), "application/rss+xml")
    fake.user_says(ADMIN, f"/feed add {site.url('/flaky.xml')}")
    fake.wait_for(lambda: said(fake, ADMIN, "Following “Flaky Times”"), 90)
    reads = len(site.asked("/flaky.xml"))

    site.routes["/flaky.xml"] = Route(b"this is not a feed <<<", "application/rss+xml")
    fake.wait_for(lambda: said(fake, ADMIN, "could not be read"), 60, "the failure notice")
    # Another failing poll (the wait doubles after each failure), and still one notice.
    fake.wait_for(lambda: len(site.asked("/flaky.xml")) >= reads + 2, 60, "two failed polls")
    (notice,) = said(fake, ADMIN, "could not be read")
    assert notice.startswith("Feed “Flaky Times”") and "not an RSS or Atom feed" in notice
    (listing,) = ask(fake, ADMIN, "/feeds")
    assert "failures in a row: 2; the last: not an RSS or Atom feed" in listing["text"]

    site.routes["/flaky.xml"] = Route(rss("Flaky Times", []), "application/rss+xml")
    fake.wait_for(lambda: said(fake, ADMIN, "can be read again"), 90, "the recovery notice")
    assert len(said(fake, ADMIN, "could not be read")) == 1
    assert bot.process.poll() is None

    flaky = next(part for part in listing["text"].split("\n\n") if "Flaky Times" in part)
    (removed,) = ask(fake, ADMIN, "/feed remove " + flaky[:12])
    assert removed["text"].startswith("Stopped following “Flaky Times”")
    (listing,) = ask(fake, ADMIN, "/feeds")
    assert "Flaky Times" not in listing["text"]


def test_feed_commands_are_for_admins_only_and_explain_their_usage(fake, bot, site):
    admin_only = prompts.text("tg_admin_only", "en")
    assert admin_only == "Only the bot's admins can add or remove articles and feeds."
    assert ask(fake, USER, f"/feed add {site.url('/harbour.xml')}")[0]["text"] == admin_only
    assert ask(fake, USER, "/feeds")[0]["text"] == admin_only
    assert ask(fake, ADMIN, "/feed follow")[0]["text"] == prompts.text("tg_feed_usage", "en")
    (missing,) = ask(fake, ADMIN, "/feed remove 0000")
    assert missing["text"].startswith("Could not remove feed 0000:")
    assert "/feeds shows them" in missing["text"] and "articlebot" not in missing["text"]
    ask(fake, ADMIN, f"/feed add {site.url('/nothing-here.xml')}")
    fake.wait_for(lambda: said(fake, ADMIN, "Could not add"), 60)


# ---- channels -----------------------------------------------------------------------


def logged(bot: BotProcess, fake: FakeTelegram, line: str) -> None:
    fake.wait_for(lambda: line in bot.log_text(), 90, line)


def articles(fake: FakeTelegram) -> str:
    return ask(fake, ADMIN, "/articles")[0]["text"]


def test_a_listed_channels_posts_are_articles_and_an_edit_replaces_its_post(fake, bot, data_dir):
    post = fake.channel_posts(
        PUBLIC,
        "Skarvik ferry gets a new captain\n\nThe Skarvik island ferry will be captained by "
        "Ingrid Holm from June, the harbour office of the island announced on Monday.",
        title="Harbour channel",
        username="harbour_channel",
    )
    logged(bot, fake, f"channel {PUBLIC} post {post['message_id']}: added")
    (answer,) = ask(fake, USER, "Who will captain the Skarvik island ferry?")
    assert "Ingrid Holm" in answer["text"].split("[1]", 1)[1]
    link = f"https://t.me/harbour_channel/{post['message_id']}"
    assert f'<a href="{link}">Skarvik ferry gets a new captain</a>' in answer["html"]

    fake.channel_posts(
        PUBLIC,
        "Skarvik ferry gets a new captain\n\nThe Skarvik island ferry will be captained by "
        "Marit Dahl from June, the harbour office of the island announced on Monday.",
        title="Harbour channel",
        username="harbour_channel",
        edit_of=post,
    )
    logged(bot, fake, f"channel {PUBLIC} post {post['message_id']} (edited): added")
    (answer,) = ask(fake, USER, "Who will captain the Skarvik island ferry?")
    assert "Marit Dahl" in answer["text"] and "Ingrid Holm" not in answer["text"]
    assert articles(fake).count("Skarvik ferry gets a new captain") == 1
    article = stored(data_dir, "Skarvik ferry gets a new captain")
    assert article["date"] == datetime.fromtimestamp(post["date"], UTC).isoformat()
    assert (article["source"], article["key"]) == (link, f"telegram:{PUBLIC}/{post['message_id']}")


def test_a_story_two_channels_post_is_one_article_quoted_once_with_both_sources(fake, bot):
    story = (
        "Orvik harbour gets a new crane\n\nThe harbour of Orvik will install a new container "
        "crane in August. The crane can lift 60 tonnes and cost 4 million euros, the port "
        "authority said on Tuesday. Dock workers will be trained on it in July."
    )
    first = fake.channel_posts(PUBLIC, story, title="Harbour channel", username="harbour_channel")
    logged(bot, fake, f"channel {PUBLIC} post {first['message_id']}: added")
    second = fake.channel_posts(PRIVATE, story + "\n\nSubscribe to Village Post!", title="VP")
    logged(bot, fake, f"channel {PRIVATE} post {second['message_id']}: kept as a copy of")

    listing = articles(fake)
    assert listing.count("Orvik harbour gets a new crane") == 1
    (line,) = [line for line in listing.splitlines() if "Orvik harbour" in line]
    assert f"also in: telegram channel VP #{second['message_id']}" in line
    (answer,) = ask(fake, USER, "How much did the new crane in Orvik cost?")
    assert "4 million euros" in answer["text"]
    quotes = [line for line in answer["text"].splitlines() if line.startswith("[")]
    assert len(quotes) == len(set(q.split("]", 1)[1] for q in quotes))  # none twice


def test_a_private_channel_by_id_an_album_caption_and_no_unlisted_channel(fake, bot):
    private = fake.channel_posts(
        PRIVATE,
        "Tellmark bakery wins the rye prize\n\nThe Tellmark village bakery won the national "
        "rye bread prize for a sourdough loaf baked in a two hundred year old oven.",
        title="Village Post",
    )
    album = [
        fake.channel_posts(
            PUBLIC,
            caption="Volunteers count 640 puffins on Rostholm\n\nVolunteers counted 640 "
            "puffins nesting on the cliffs of Rostholm island this spring.",
            username="harbour_channel",
            media_group_id="album1",
        ),
        fake.channel_posts(PUBLIC, username="harbour_channel", media_group_id="album1"),
    ]
    fake.channel_posts(
        UNLISTED,
        "Zorvath salt mine closes\n\nThe Zorvath salt mine closed after 140 years.",
        username="other_news",
    )
    logged(bot, fake, f"ignored a post of channel {UNLISTED} (@other_news): not listed")
    logged(bot, fake, f"post {album[1]['message_id']} of channel {PUBLIC} has no text")
    logged(bot, fake, f"channel {PRIVATE} post {private['message_id']}: added")
    logged(bot, fake, f"channel {PUBLIC} post {album[0]['message_id']}: added")

    (answer,) = ask(fake, USER, "Which prize did the Tellmark bakery win?")
    assert "rye bread prize" in answer["text"].split("[1]", 1)[1]
    channel = f"telegram channel Village Post #{private['message_id']}"
    assert f"Tellmark bakery wins the rye prize — {channel}" in answer["text"]
    listing = articles(fake)
    assert "Volunteers count 640 puffins on Rostholm" in listing
    assert "Zorvath" not in listing
    assert not fake.messages(PUBLIC) and not fake.messages(UNLISTED)  # never a word there


# ---- forwards -----------------------------------------------------------------------


def test_an_admins_forward_is_an_article_with_its_origin(fake, bot, data_dir):
    date = int(datetime(2026, 5, 1, 7, 30, tzinfo=UTC).timestamp())
    channel = {"id": -1002002, "type": "channel", "title": "City Desk", "username": "city_desk"}
    fake.user_forwards(
        ADMIN,
        "Orrin tram line opens\n\nThe new Orrin tram line opened on Friday with fourteen "
        "stops between the railway station and the university campus.",
        {"type": "channel", "chat": channel, "message_id": 77, "date": date},
    )
    fake.wait_for(lambda: said(fake, ADMIN, "Added “Orrin tram line opens”"), 90)
    (answer,) = ask(fake, ADMIN, "How many stops does the Orrin tram line have?")
    assert "fourteen" in answer["text"].split("[1]", 1)[1]
    assert '<a href="https://t.me/city_desk/77">Orrin tram line opens</a>' in answer["html"]

    person = {"id": 4242, "is_bot": False, "first_name": "Ann", "last_name": "Lee"}
    fake.user_forwards(
        ADMIN,
        "Note from the town hall\n\nThe clock tower of the Brask town hall will be repainted "
        "dark green in August, the town hall said.",
        {"type": "user", "sender_user": person, "date": date},
    )
    fake.wait_for(lambda: said(fake, ADMIN, "Added “Note from the town hall”"), 90)
    (answer,) = ask(fake, ADMIN, "What colour will the Brask clock tower be repainted?")
    assert "dark green" in answer["text"].split("[1]", 1)[1]
    assert "Note from the town hall — telegram forward from Ann Lee" in answer["text"]
    tram = stored(data_dir, "Orrin tram line opens")
    assert tram["date"] == "2026-05-01T07:30:00+00:00"
    assert (tram["source"], tram["key"]) == ("https://t.me/city_desk/77", "telegram:-1002002/77")


def test_a_non_admins_forward_is_refused_and_not_indexed(fake, bot):
    person = {"type": "hidden_user", "sender_user_name": "Someone", "date": 1777000000}
    text = "Lindholm pier to be demolished\n\nThe Lindholm pier will be demolished in May."
    before = len(fake.messages(USER))
    fake.user_forwards(USER, text, person)
    (refusal,) = fake.wait_for_messages(USER, before + 1)[before:]
    assert refusal["text"] == prompts.text("tg_forward_admin_only", "en")
    assert "Lindholm" not in articles(fake)


def test_the_channels_setting_takes_ids_and_usernames_and_says_what_else_is_wrong():
    settings = Settings(telegram_ingest_channels="@Harbour_News, -1001234  @city_desk")
    assert settings.telegram_ingest_channels == ["@harbour_news", "-1001234", "@city_desk"]
    with pytest.raises(ValidationError, match="'harbour' is neither a chat id"):
        Settings(telegram_ingest_channels="harbour")


def test_a_long_first_line_is_cut_at_a_word_and_a_channels_name_is_shown_whole():
    line = "The harbour council met on Monday " * 6
    title = post_title(f"\n\n  {line}\n\nThe rest of the post.")
    cut = title.removesuffix("…")
    assert title.endswith("…") and len(cut) <= TITLE_CHARS
    assert line.startswith(cut) and line[len(cut)] == " "  # whole words only
    assert post_title("Short first line\nsecond line") == "Short first line"
    shown = source_html("Market day", "telegram channel News/Daily #12")
    assert shown == "Market day — telegram channel News/Daily #12"
    assert source_html("Report", "/home/ann/news/report.txt") == "Report — report.txt"

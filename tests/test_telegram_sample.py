"""The bundled sample in the Telegram bot: indexed at the first start of an empty data
directory, marked as the sample in /articles, and removed, with a notice, when an admin adds
the first article of their own. The real `articlebot telegram` process against the fake Bot
API."""

from __future__ import annotations

from datetime import date

import pytest

from bot import prompts

from .telegram_harness import BotProcess, ask, registered

ADMIN = 1
USER = 501
OWN_ARTICLE = (
    "Valby library opens on Sundays\n\nThe public library of Valby will open on Sundays from "
    "March, from ten to four, the town council decided on Monday after a petition signed by "
    "2,300 residents."
)


@pytest.fixture
def bot(fake, tmp_path):
    data_dir = tmp_path / "data"  # empty: the bot indexes the sample as it starts
    process = BotProcess.start(fake, data_dir, tmp_path / "bot.log", ADMIN_USER_IDS=str(ADMIN))
    try:
        fake.wait_for(lambda: registered(fake), 120, "the bot to start")
        yield process
    finally:
        assert process.stop() == 0, process.log_text()[-3000:]


def test_the_sample_is_marked_and_makes_way_for_the_first_own_article(fake, bot):
    (listing,) = ask(fake, ADMIN, "/articles")
    assert "(id d9e8e8c0" in listing["text"] or "d9e8e8c0" in listing["text"]
    assert prompts.text("sample_mark", "en") in listing["text"]
    (answer,) = ask(fake, USER, "What did Russia promise on vaccines?")
    assert "Sputnik" in answer["text"]
    assert f"added {date.today().isoformat()}" in answer["html"]

    fake.user_uploads(ADMIN, "valby.md", OWN_ARTICLE.encode(), user_id=ADMIN)
    fake.wait_for(
        lambda: any(
            prompts.text("sample_retired", "en") in m["text"] for m in fake.messages(ADMIN)
        ),
        90,
        "the notice that the sample made way",
    )
    (listing,) = ask(fake, ADMIN, "/articles")
    assert "Valby library opens on Sundays" in listing["text"]
    assert "d9e8e8c0" not in listing["text"]
    assert prompts.text("sample_mark", "en") not in listing["text"]
    (answer,) = ask(fake, USER, "When will the Valby library open on Sundays?")
    assert "from ten to four" in answer["text"]

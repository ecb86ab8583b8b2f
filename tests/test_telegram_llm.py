"""The Telegram bot with LLM answers, end to end: the real `articlebot telegram` process with
LLM_BACKEND=openai, a scripted OpenAI-compatible server streaming its reply slowly, and the
fake Bot API server. Assertions are on what users see, and when."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot import prompts

from .conftest import skip_unless_installed
from .fake_telegram import FakeTelegram
from .scripted_llm import ScriptedServer
from .telegram_harness import TOKEN, BotProcess, free_port

skip_unless_installed("langchain_openai")

VACCINE_QUESTION = "How many doses of the Sputnik V vaccine did Russia sell to Pakistan?"
CITED = (
    "Russia has already sold 50000 doses of the Sputnik V vaccine to Pakistan [1], and "
    "Lavrov said that it would supply another 150000 doses soon."
)
UNCITED = "Russia sold many doses of its vaccine to Pakistan, and more will follow soon."
PIECE_DELAY = 0.25  # seconds between words: CITED takes about 5 s to stream
EDIT_INTERVAL = 1.5  # the default TELEGRAM_STREAM_EDIT_INTERVAL


@pytest.fixture(scope="module")
def llm():
    server = ScriptedServer(piece_delay=PIECE_DELAY).start()
    yield server
    server.stop()


def start_bot(fake: FakeTelegram, sample_dir: Path, root: Path, llm_url: str) -> BotProcess:
    data_dir = root / "data"
    shutil.copytree(sample_dir, data_dir)
    bot = BotProcess.start(
        fake,
        data_dir,
        root / "bot.log",
        "-v",
        LLM_BACKEND="openai",
        LLM_BASE_URL=llm_url,
        LLM_MODEL="scripted",
        LLM_MAX_RETRIES="0",
    )
    fake.wait_for(lambda: fake.commands, 90, "the bot to start")
    return bot


@pytest.fixture(scope="module")
def bot(fake, llm, sample_dir, tmp_path_factory):
    bot = start_bot(fake, sample_dir, tmp_path_factory.mktemp("bot"), llm.url)
    yield bot
    assert bot.stop() == 0, bot.log_text()[-3000:]


def finished(fake: FakeTelegram, chat_id: int, timeout: float = 60) -> dict:
    """The chat's one message once it carries the Sources button (the final answer)."""
    (message,) = fake.wait_for(
        lambda: (m := fake.messages(chat_id)) and m[-1]["reply_markup"] and m,
        timeout,
        f"the answer in chat {chat_id}",
    )
    return message


def drafts(fake: FakeTelegram, chat_id: int) -> list[str]:
    """Every text the bot sent or edited into the chat, in order, as the HTML it sent."""
    return [
        p["text"]
        for m, p in fake.calls
        if m in ("sendMessage", "editMessageText") and int(p["chat_id"]) == chat_id
    ]


def test_llm_answer_is_shown_as_it_is_written_then_with_its_citation(fake, llm, bot):
    llm.replies.append(CITED)
    fake.user_says(501, VACCINE_QUESTION)
    answer = finished(fake, 501)

    # One message: sent with the first words, edited as more arrived, then the final answer.
    edits = [e for e in fake.edits if e["chat_id"] == 501]
    first, *partial = drafts(fake, 501)[:-1]
    assert len(fake.messages(501)) == 1 and partial
    # Each draft is the model's text so far: the first a part of it; a later one may be all
    # of it when the answer's check takes a while after the model's last word (a busy machine).
    assert len(first) < len(CITED)
    for shown in [first, *partial]:
        assert CITED.startswith(shown)
    assert [len(s) for s in partial] == sorted(len(s) for s in partial)
    times = [answer["at"], *[e["at"] for e in edits]]
    assert all(b - a >= EDIT_INTERVAL - 0.01 for a, b in zip(times, times[1:], strict=False))
    assert times[-1] - times[0] >= 3  # the user watched it being written

    # The final edit: the checked text with its [1], the cited article, the Sources button.
    assert answer["text"].startswith(CITED)
    assert "Sources:" in answer["text"] and "[1] " in answer["text"].split("Sources:")[1]
    assert "أفغانستان" in answer["text"]  # the Arabic article's title
    button = answer["reply_markup"]["inline_keyboard"][0][0]
    assert button["text"] == "Sources" and button["callback_data"].startswith("sources:")
    fake.user_presses(answer, button["callback_data"])
    (_, passages) = fake.wait_for_messages(501, 2)
    assert passages["text"].startswith("[1] ") and "Sputnik V" in passages["text"]
    assert not [r for r in fake.rejected if r[1] == 400]
    # A slow answer shows "typing…" while it is being worked on.
    typing = [p for m, p in fake.calls if m == "sendChatAction" and int(p["chat_id"]) == 501]
    assert typing and typing[0]["action"] == "typing"


def test_a_draft_refused_with_429_is_skipped_not_sent_late(fake, llm, bot):
    llm.replies.append(CITED)
    fake.fail_next("editMessageText", 429, "Too Many Requests: retry after 2", retry_after=2)
    fake.user_says(502, VACCINE_QUESTION)
    answer = finished(fake, 502)
    assert ("editMessageText", 429, "Too Many Requests: retry after 2") in fake.rejected
    shown = drafts(fake, 502)
    # The refused text was not retried: each request showed newer text than the one before.
    assert all(len(a) < len(b) for a, b in zip(shown[:-1], shown[1:-1], strict=False))
    assert answer["text"].startswith(CITED) and len(fake.messages(502)) == 1


def test_streamed_reply_without_citations_is_replaced_by_the_quotes_and_a_note(fake, llm, bot):
    llm.replies.append(UNCITED)
    fake.user_says(503, VACCINE_QUESTION)
    answer = finished(fake, 503)
    first = drafts(fake, 503)[0]
    assert UNCITED.startswith(first)  # the model's words were shown while it wrote...
    note = prompts.text("llm_fallback", "en", reason=prompts.text("llm_reason_no_citation", "en"))
    assert answer["text"].startswith(note)  # ...then replaced by the quotes
    assert "50000" in answer["text"].split("[1]", 1)[1] and "Sources:" in answer["text"]


def test_arabic_quotes_shown_instead_of_the_reply_carry_their_translations(fake, llm, bot):
    doses = "Lavrov said that Russia has already sold 50,000 doses of Sputnik V to Pakistan."
    # About as long as the passages (a reply under 0.4 of its quote's length is dropped).
    other = (
        "An English rendering of a passage about the talks between Lavrov and Qureshi, in "
        "which the two ministers discussed the agreements and projects of their countries."
    )

    def translate(body: dict) -> str:
        return doses if "50000" in body["messages"][1]["content"] else other

    llm.replies.extend([UNCITED, translate, translate, translate])
    llm.piece_delay = 0.0  # what is asserted is the final answer, not how it was streamed
    try:
        fake.user_says(504, VACCINE_QUESTION)
        answer = finished(fake, 504)
    finally:
        llm.piece_delay = PIECE_DELAY
    lines = answer["text"].split("\n")
    quote = next(i for i, line in enumerate(lines) if line.startswith("[") and "50000" in line)
    # Under the Arabic quote, its translation, marked as one; the quote itself unchanged.
    assert lines[quote + 1] == "    " + prompts.text("translation", "en", text=doses)
    assert "ألف" not in lines[quote] and "50000 جرعة من لقاح Sputnik V" in lines[quote]
    assert answer["text"].count("translation: ") == 3


def test_unreachable_llm_server_still_gets_the_user_the_quoted_answer(sample_dir, tmp_path):
    fake = FakeTelegram(TOKEN).start()
    bot = start_bot(fake, sample_dir, tmp_path, f"http://127.0.0.1:{free_port()}/v1")
    try:
        fake.user_says(601, VACCINE_QUESTION)
        answer = finished(fake, 601)
        note = prompts.text("llm_fallback", "en", reason=prompts.text("llm_reason_error", "en"))
        assert answer["text"].startswith(note)
        assert "50000" in answer["text"].split("[1]", 1)[1] and "Sources:" in answer["text"]
        assert not [e for e in fake.edits if e["chat_id"] == 601]  # nothing to stream
    finally:
        assert bot.stop() == 0, bot.log_text()[-3000:]
        fake.stop()

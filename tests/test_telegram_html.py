"""Telegram HTML rendering and message splitting, as pure functions.

Every message is checked the way Telegram checks it: the fake Bot API's parser
(tests/fake_telegram.py) must accept it, and its visible text must fit the limit in UTF-16
code units.
"""

from __future__ import annotations

import html

import pytest

from bot import prompts
from bot.listing import Listing
from bot.telegram_html import (
    DRAFT_LIMIT,
    answer_html,
    articles_html,
    draft_html,
    report_html,
    source_html,
    sources_html,
    split_html,
    utf16_len,
)
from bot.types import Answer, Citation
from index.ingest import IngestReport
from index.store import ArticleInfo
from index.types import Article

from .fake_telegram import visible_text


def shown(part: str) -> str:
    """What Telegram shows of a message (raises if Telegram would refuse to parse it)."""
    return visible_text(part, "HTML")


def assert_fits(parts: list[str], limit: int) -> None:
    for part in parts:
        assert 0 < utf16_len(shown(part)) <= limit, part


def citation(number: int, title: str, source: str, article_id: str = "a" * 64) -> Citation:
    return Citation(number, article_id, title, source, "quote", 0.9, number, 0, 5)


# ---- splitting ----------------------------------------------------------------------


def test_short_text_is_one_message_unchanged():
    assert split_html("Hello <b>world</b> &amp; all") == ["Hello <b>world</b> &amp; all"]


def test_a_long_text_is_cut_at_a_paragraph_break_in_the_second_half():
    first, second, third = "A" * 30 + " ends here.", "B" * 30 + " next.", "C" * 30
    parts = split_html(f"{first}\n\n{second}\n\n{third}", limit=100)
    assert parts == [f"{first}\n\n{second}", third]


def test_a_paragraph_break_early_in_a_message_is_passed_over_for_a_later_line_break():
    text = "Intro.\n\n" + "x" * 60 + "\n" + "y" * 60
    parts = split_html(text, limit=100)
    assert parts == ["Intro.\n\n" + "x" * 60, "y" * 60]


def test_without_line_breaks_the_cut_falls_at_a_sentence_end():
    text = "First sentence is here. " * 3 + "Second part goes on and on without any end"
    parts = split_html(text, limit=80)
    assert parts[0].endswith("is here.") and len(parts) == 2
    assert " ".join(parts) == text.replace("  ", " ")


def test_arabic_question_marks_end_sentences_too():
    text = "هل هذا سؤال طويل جدا؟ " * 3 + "نعم"
    parts = split_html(text, limit=50)
    assert all(p.endswith("؟") for p in parts[:-1])
    assert_fits(parts, 50)


def test_chinese_full_stops_end_sentences_without_a_space_after_them():
    text = "里弗顿市议会周一批准了一条新的电车线路。" * 4 + "反对者说这座城市负担不起"
    parts = split_html(text, limit=50)
    assert all(p.endswith("。") for p in parts[:-1]) and "".join(parts) == text
    assert_fits(parts, 50)


def test_without_sentence_ends_the_cut_falls_between_words():
    words = [f"word{n}" for n in range(40)]
    parts = split_html(" ".join(words), limit=50)
    assert len(parts) > 1
    assert " ".join(parts).split() == words  # no word was cut in two
    assert_fits(parts, 50)


def test_one_word_longer_than_a_message_is_cut_where_it_must_be():
    parts = split_html("z" * 250, limit=100)
    assert parts == ["z" * 100, "z" * 100, "z" * 50]


def test_tags_open_at_a_cut_are_closed_and_reopened_in_the_next_message():
    text = '<b>bold <a href="https://example.org/x">' + "linked words " * 20 + "</a> end</b>"
    parts = split_html(text, limit=100)
    assert len(parts) >= 3
    for part in parts:
        shown(part)  # each message parses on its own
    assert parts[0].startswith('<b>bold <a href="https://example.org/x">')
    assert parts[1].startswith('<b><a href="https://example.org/x">')
    assert all(p.endswith("</a></b>") for p in parts[:-1])
    assert "".join(shown(p) + " " for p in parts).split() == shown(text).split()


def test_entities_count_as_the_character_they_show_and_are_never_cut():
    text = "&lt;tag&gt; &amp; " * 30
    parts = split_html(text, limit=40)
    assert_fits(parts, 40)
    assert all(html.unescape(p) == shown(p) for p in parts)  # no entity split in two


def test_the_limit_counts_utf16_units_an_emoji_is_two():
    assert utf16_len("😀") == 2 and utf16_len("سلام") == 4
    parts = split_html("😀" * 60, limit=100)
    assert [utf16_len(shown(p)) for p in parts] == [100, 20]
    parts = split_html(("مرحبا بالعالم 😀 " * 300).strip())
    assert len(parts) == 2
    assert_fits(parts, 4096)


# ---- rendering ----------------------------------------------------------------------


def test_answer_html_escapes_the_answer_and_titles_and_links_web_sources():
    answer = Answer(
        question="q",
        lang="en",
        text="[1] “a <b>fake</b> tag & more”",
        citations=[
            citation(1, "Title <i>x</i> & y", "https://example.org/a?b=1&c=<2>"),
            citation(2, "Local & file", "/home/me/news/local.txt", article_id="b" * 64),
            citation(3, "Upload", "telegram:notes.md", article_id="c" * 64),
        ],
        hits=[],
        refused=False,
    )
    rendered = answer_html(answer)
    assert shown(rendered).startswith("[1] “a <b>fake</b> tag & more”")
    assert '<a href="https://example.org/a?b=1&amp;c=&lt;2&gt;">Title &lt;i&gt;x&lt;/i&gt;' in (
        rendered
    )
    assert "Local &amp; file — local.txt" in rendered and "/home/me" not in rendered
    assert "Upload — notes.md" in rendered and "telegram:" not in rendered
    assert rendered.count("<a ") == 1 and rendered.count("<b>") == 1  # the Sources heading
    assert "(id <code>aaaaaaaa</code>)" in rendered


def test_citations_of_one_article_share_a_line():
    answer = Answer("q", "ar", "[1] [2]", [citation(1, "T", "s"), citation(2, "T", "s")], [], False)
    lines = answer_html(answer).split("\n")
    assert lines[2] == f"<b>{prompts.text('sources', 'ar')}:</b>"
    assert lines[3].startswith("[1][2] T — s") and len(lines) == 4


@pytest.mark.parametrize("source", ["javascript:alert(1)", "ftp://example.org/x", "file:///etc"])
def test_only_http_sources_become_links(source):
    assert "<a " not in source_html("Title", source)
    assert source_html("Title", "http://example.org/x").startswith('<a href="http://example.org')


def test_articles_html_escapes_titles_and_says_when_there_are_none():
    info = ArticleInfo("d9e8e8c0ff", "A & <B>", "https://x.org/a", "ar", None, "", 3, 100)
    listing = articles_html(Listing([info], page=1, pages=1, total=1), "en")
    assert listing.split("\n")[0] == prompts.text("tg_articles", "en", count="1")
    assert '• <code>d9e8e8c0</code> [ar] <a href="https://x.org/a">A &amp; &lt;B&gt;</a>' in listing
    assert "/articles" not in listing  # one page: no next one to offer
    none = articles_html(Listing([], page=1, pages=0, total=0), "ar")
    assert none == html.escape(prompts.text("tg_no_articles", "ar"))


def test_sources_html_without_an_answer_says_to_ask_first():
    assert shown(sources_html(None, "en")) == prompts.text("no_sources", "en")


def test_report_html_lists_added_skipped_and_failed_with_titles_escaped():
    added = Article(text="text one", title="New <one>", source="s")
    skipped = Article(text="text two", title="Old & known", source="s")
    report = IngestReport(added=[added], skipped=[skipped], errors=["x.pdf: <broken>"], chunks=2)
    lines = shown(report_html(report, "x.pdf", 7, "en")).split("\n")
    assert lines[0] == prompts.text(
        "tg_added", "en", title="New <one>", id=added.id[:8], chunks="2", count="7"
    )
    assert lines[1] == prompts.text("tg_already", "en", title="Old & known", id=skipped.id[:8])
    assert lines[2] == prompts.text("tg_add_failed", "en", name="x.pdf", error="<broken>")
    nothing = shown(report_html(IngestReport(), "empty.txt", 7, "en"))
    assert nothing == prompts.text(
        "tg_add_failed", "en", name="empty.txt", error="nothing to index"
    )


def test_a_draft_is_escaped_and_cut_to_one_message_without_halving_an_emoji():
    assert draft_html("  a < b  ") == "a &lt; b"
    long = "x" + "😀" * DRAFT_LIMIT
    cut = draft_html(long)
    assert cut.endswith(" …") and utf16_len(cut) <= DRAFT_LIMIT + 2
    assert "\ufffd" not in cut and cut[:-2].rstrip("😀") == "x"

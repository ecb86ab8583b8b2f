"""Rendering for Telegram: answers, sources and lists as Telegram HTML, cut into messages.

Pure functions of their inputs: every piece of article or user text is escaped, links are
made only for http(s) sources, and ``split_html`` cuts a long text into messages that each
parse on their own and fit Telegram's limit (counted in UTF-16 code units, as Telegram does).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from index.chunking import SPACED_SENTENCE_MARKS, UNSPACED_SENTENCE_MARKS
from index.ingest import IngestReport
from index.readers import is_url

from . import prompts
from .core import is_sample
from .listing import Listing
from .render import also_in, article_notes, by_article, report_lines, sources_text, when
from .types import Answer

MESSAGE_LIMIT = 4096  # Telegram's limit on a message's text, after entity parsing
DRAFT_LIMIT = 4000  # characters of an answer shown while it is written; the final one is split
REPORT_LINES = 20  # lines of each kind (added, already there, failed) in an indexing report

_TOKEN = re.compile(r"<(/?)([a-zA-Z][\w-]*)[^>]*>|&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);|.", re.DOTALL)
# Where sentences end, as articles are cut into them (index/chunking.py): most marks before a
# space, Chinese and Japanese ones (and the Indic danda...) with none after them; and "…",
# which ends no sentence of an article but is a fair place to cut a message.
_SENTENCE_END = set(SPACED_SENTENCE_MARKS + "…")
_SENTENCE_END_UNSPACED = set(UNSPACED_SENTENCE_MARKS)
# Where a message may be cut, best first.
_PARAGRAPH, _LINE, _SENTENCE, _WORD = range(4)


def utf16_len(text: str) -> int:
    """The length Telegram counts: UTF-16 code units (an emoji outside the BMP is two)."""
    return len(text.encode("utf-16-le")) // 2


def prompt_html(key: str, lang: str, **values: str) -> str:
    """A fixed text of prompts.py in a language, its values filled in, escaped for HTML."""
    return html.escape(prompts.text(key, lang, **values))


def split_html(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Cut Telegram HTML into messages of at most ``limit`` visible characters.

    Cuts at a paragraph break if one falls in the second half of a message, else at a
    line break, a sentence end or a space; tags open at a cut are closed at the end of
    one message and reopened at the start of the next, so every message parses.
    """
    tokens: list[tuple[str, int, tuple[str, str] | None]] = []  # raw, visible, tag
    for m in _TOKEN.finditer(text):
        if m.group(2):
            tokens.append((m.group(0), 0, ("/" if m.group(1) else "", m.group(2).lower())))
        else:
            tokens.append((m.group(0), utf16_len(html.unescape(m.group(0))), None))

    parts: list[str] = []
    stack: list[tuple[str, str]] = []  # (name, opening tag) open where the part starts
    start = 0
    while start < len(tokens):
        opened, open_stack = list(stack), list(stack)
        visible, end = 0, start
        cuts: dict[int, tuple[int, int, list[tuple[str, str]]]] = {}  # kind -> (end, vis, stack)
        while end < len(tokens) and visible + tokens[end][1] <= limit:
            raw, width, tag = tokens[end]
            visible += width
            if tag and tag[0] == "/":
                for k in range(len(open_stack) - 1, -1, -1):
                    if open_stack[k][0] == tag[1]:
                        del open_stack[k]
                        break
            elif tag:
                open_stack.append((tag[1], raw))
            end += 1
            following = tokens[end][0] if end < len(tokens) else ""
            kind = None
            if raw == "\n" and end >= 2 and tokens[end - 2][0] == "\n":
                kind = _PARAGRAPH
            elif raw == "\n":
                kind = _LINE
            elif (raw in _SENTENCE_END and following.isspace()) or raw in _SENTENCE_END_UNSPACED:
                kind = _SENTENCE
            elif raw.isspace():
                kind = _WORD
            if kind is not None:
                cuts[kind] = (end, visible, list(open_stack))
        if end == len(tokens):
            cut = (end, visible, open_stack)
        else:
            usable = [cuts[k] for k in sorted(cuts) if cuts[k][1] >= limit // 2]
            fallback = [cuts[k] for k in sorted(cuts, reverse=True)]
            cut = (usable or fallback or [(max(end, start + 1), visible, open_stack)])[0]
        end, _, closing = cut
        body = "".join(raw for raw, _, _ in tokens[start:end])
        part = "".join(t for _, t in opened) + body + "".join(f"</{n}>" for n, _ in closing[::-1])
        if html.unescape(re.sub(r"<[^>]*>", "", part)).strip():
            parts.append(part.strip())
        stack, start = closing, end
    return parts


def source_html(title: str, source: str) -> str:
    """An article's title, linked to its source if that is an http(s) URL.

    A local path says nothing to a chat user and need not be shown to one: only its file
    name follows the title.
    """
    if is_url(source):
        return f'<a href="{html.escape(source, quote=True)}">{html.escape(title)}</a>'
    # Telegram's own sources (an upload's file name, a channel post, a forward) are shown
    # whole: a channel's title may hold a "/".
    name = source.removeprefix("telegram:") if source.startswith("telegram") else Path(source).name
    return f"{html.escape(title)} — {html.escape(name)}"


def answer_html(answer: Answer) -> str:
    """An Answer as Telegram HTML: the quoted answer, then its numbered sources."""
    lines = [html.escape(answer.text)]
    if answer.citations:
        lines += ["", f"<b>{prompt_html('sources', answer.lang)}:</b>"]
        for group in by_article(answer.citations):
            c = group[0]
            numbers = "".join(f"[{g.number}]" for g in group)
            day = _day(c.date, c.added_at, answer.lang)
            lines.append(
                f"{numbers} {source_html(c.title, c.source)}{day} "
                f"(id <code>{c.article_id[:8]}</code>)"
                + html.escape(also_in(c.also_in, answer.lang))
            )
    return "\n".join(lines)


def sources_html(answer: Answer | None, lang: str) -> str:
    """The full passages behind an answer, escaped; a hint if there is no answer yet."""
    if answer is None:
        return prompt_html("no_sources", lang)
    return html.escape(sources_text(answer))


def articles_html(listing: Listing, lang: str) -> str:
    """A page of the indexed articles, one a line as given: id, language, linked title and
    day; above them how many there are, below them how to see the next page."""
    lines = [html.escape(prompts.listing_head(listing, lang))]
    for a in listing.articles:
        day = _day(a.date, a.added_at, lang)
        notes = html.escape(article_notes(a, is_sample(a.source), lang))
        title = source_html(a.title, a.source)
        lines.append(f"• <code>{a.id[:8]}</code> [{html.escape(a.lang)}] {title}{day}{notes}")
    foot = prompts.listing_foot(listing, lang)
    return "\n".join([*lines, html.escape(foot)] if foot else lines)


def _day(date: str | None, added_at: str | None, lang: str) -> str:
    """ " · 2026-11-30" (or " · added 2026-11-30") after a title; empty with no day."""
    day = when(date, added_at, lang)
    return f" · {html.escape(day)}" if day else ""


def report_html(report: IngestReport, name: str, count: int, lang: str) -> str:
    """What indexing ``name`` did: articles added or already there, and errors.

    At most REPORT_LINES lines of each kind, then how many more: a JSONL file may hold
    thousands of articles, or of bad lines.
    """
    chunks, total = str(report.chunks), str(count)
    added = [
        prompt_html("tg_added", lang, title=a.title, id=a.id[:8], chunks=chunks, count=total)
        for a in report.added
    ]
    skipped = [prompt_html("tg_already", lang, title=a.title, id=a.id[:8]) for a in report.skipped]
    # An error names its source first, as the command line prints it: not twice here.
    failed = [
        prompt_html("tg_add_failed", lang, name=name, error=e.removeprefix(f"{name}: "))
        for e in report.errors
    ]
    notes = [html.escape(line) for line in report_lines(report, lang)]
    lines = [line for kind in (added, skipped, notes, failed) for line in _at_most(kind, lang)]
    return "\n".join(lines) or prompt_html(
        "tg_add_failed", lang, name=name, error="nothing to index"
    )


def _at_most(lines: list[str], lang: str) -> list[str]:
    if len(lines) <= REPORT_LINES:
        return lines
    more = prompt_html("tg_and_more", lang, count=str(len(lines) - REPORT_LINES))
    return [*lines[:REPORT_LINES], more]


def draft_html(text: str) -> str:
    """A model's text so far as Telegram HTML, cut to fit one message."""
    text = text.strip()
    if utf16_len(text) > DRAFT_LIMIT:
        cut = text.encode("utf-16-le")[: 2 * DRAFT_LIMIT].decode("utf-16-le", errors="ignore")
        text = cut.rstrip() + " …"
    return html.escape(text)

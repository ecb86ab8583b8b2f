"""RSS and Atom feeds: what a feed's entries are, and each entry's article.

feedparser only parses here: it is handed bytes that ``index.fetch`` fetched (the same
private-address rules as every other fetch) and never a URL or a path, which it would open
itself. An entry's article is its page's main text, read as ``index add URL`` reads a URL;
when the page cannot be read or holds no article text, the text the feed itself gives for the
entry (its content, else its summary). Either way the article takes the entry's title and
date and has the entry's link as its source. Polling the followed feeds is index/polling.py.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from .cleaning import clean_line
from .feed_registry import FeedError
from .readers import Limits, Loaded, ReadError, is_url, read_bytes, read_url
from .types import Article

log = logging.getLogger(__name__)

# Elements after which the text of an entry's HTML summary goes on a new line.
_BLOCKS = {
    "address", "article", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption", "h1",
    "h2", "h3", "h4", "h5", "h6", "header", "footer", "hr", "li", "ol", "p", "pre", "section",
    "table", "td", "th", "tr", "ul",
}  # fmt: skip


@dataclass
class Entry:
    """One entry of a feed, its fields cleaned (index/cleaning.py)."""

    key: str  # the link that marks it as taken and is its article's source
    link: str | None  # its page (http or https), if it has one
    title: str
    date: str | None  # published, else updated: ISO 8601 in UTC
    text: str  # its content or summary as the feed gives it (HTML, or plain text)
    html: bool  # whether ``text`` is HTML


@dataclass
class ParsedFeed:
    """A feed's title and entries, newest first where they are dated."""

    title: str
    entries: list[Entry]


def parse_feed(data: bytes, url: str, content_type: str = "") -> ParsedFeed:
    """The entries of an RSS or Atom document fetched from ``url``; FeedError if it is none.

    Relative links resolve against ``url``. A feed with small mistakes in its XML still gives
    the entries it holds.
    """
    import feedparser

    if not data.strip():
        raise FeedError("the feed is empty")
    parsed = feedparser.parse(
        io.BytesIO(data),  # a stream: a str or bytes could be taken for a URL or a file name
        response_headers={
            "content-location": url,
            "content-type": content_type or "application/xml",
        },
    )
    broken = hasattr(parsed.get("bozo_exception"), "getMessage")  # the XML is cut or wrong
    if not parsed.entries and (broken or not parsed.get("version")):
        # (A feed whose XML breaks after some entries still gives those.)
        raise FeedError(f"not an RSS or Atom feed ({_why_not(parsed, content_type)})")
    entries = [_entry(raw, url) for raw in parsed.entries]
    # Newest first where the feed dates them (its own order otherwise: the sort is stable),
    # so that a poll's cap takes the latest news first.
    entries.sort(key=lambda entry: entry.date or "", reverse=True)
    return ParsedFeed(clean_line(parsed.feed.get("title", "")), entries)


def read_entry(entry: Entry, limits: Limits) -> tuple[Loaded, str | None]:
    """The entry's article, and why its page was not used (None when it was).

    The page's main text when it can be read; else the feed's own text for the entry; else
    a Loaded with the error, for a person.
    """
    why = "the entry has no link"
    if entry.link:
        try:
            articles = read_url(entry.link, limits)
            return Loaded(entry.key, [_with_entry(a, entry) for a in articles]), None
        except ReadError as exc:
            why = str(exc)
    text = fragment_text(entry.text) if entry.html else entry.text
    if not text.strip():
        return Loaded(entry.key, [], f"{entry.key}: {why}, and the feed gives no text for it"), why
    try:
        (article,) = read_bytes(text.encode("utf-8"), ".txt", entry.key, entry.title, limits)
    except ReadError as exc:
        return Loaded(entry.key, [], f"{entry.key}: {why}; the feed's text: {exc}"), why
    return Loaded(entry.key, [_with_entry(article, entry)]), why


def fragment_text(html: str) -> str:
    """The text of an HTML fragment (an entry's summary), a line for each block."""
    from lxml import etree
    from lxml import html as lxml_html

    if not html.strip():
        return ""
    try:
        root = lxml_html.fragment_fromstring(html, create_parent="div")
    except (etree.ParserError, ValueError):
        return ""
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.lower() in _BLOCKS:
            element.tail = "\n" + (element.tail or "")
            element.text = "\n" + (element.text or "")
    lines = (" ".join(line.split()) for line in root.text_content().split("\n"))
    return "\n".join(line for line in lines if line)


def _entry(raw, feed_url: str) -> Entry:
    link = raw.get("link") or (raw.get("id") if raw.get("guidislink") else None)
    link = clean_line(link) if link and is_url(link) else None
    contents = [c for c in raw.get("content", []) if c.get("value", "").strip()]
    detail = contents[0] if contents else raw.get("summary_detail") or {}
    text = detail.get("value", "") or raw.get("summary", "")
    # An entry without a link is known by its id in the feed, else by what it says.
    key = link or f"{feed_url}#{raw.get('id') or _digest(raw.get('title', '') + text)}"
    return Entry(
        key=clean_line(key),
        link=link,
        title=clean_line(_plain(raw.get("title", ""), raw.get("title_detail") or {})),
        date=_entry_date(raw, key),
        text=text,
        html=_is_html(detail),
    )


def _entry_date(raw, key: str) -> str | None:
    """The entry's published date, else its updated one; a stated date that is none
    feedparser can read ("30/11/2026", "yesterday") is left out, with a warning."""
    parsed = raw.get("published_parsed") or raw.get("updated_parsed")
    if parsed:
        return _iso(parsed)
    stated = raw.get("published") or raw.get("updated")
    if stated:
        log.warning("%s: %r is not a date (RFC 2822 or ISO 8601): it is left out", key, stated)
    return None


def _is_html(detail: dict) -> bool:
    return detail.get("type", "text/html") in ("text/html", "application/xhtml+xml")


def _plain(text: str, detail: dict) -> str:
    """A title as text: an Atom title may be HTML (type="html")."""
    return fragment_text(text).replace("\n", " ") if text and _is_html(detail) else text


def _with_entry(article: Article, entry: Entry) -> Article:
    """The article as the entry names it: its title, date and link."""
    article.title = entry.title or article.title
    article.date = entry.date or article.date
    article.source = entry.key
    return article


def _iso(parsed) -> str | None:
    """ISO 8601 for a date feedparser parsed (a struct_time in UTC)."""
    try:
        return datetime(*parsed[:6], tzinfo=UTC).isoformat() if parsed else None
    except (TypeError, ValueError):
        return None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _why_not(parsed, content_type: str) -> str:
    if content_type in ("text/html", "application/xhtml+xml"):
        return "the server sent a web page"
    exc = parsed.get("bozo_exception")
    if exc is None:
        return "no feed elements in it"
    if hasattr(exc, "getMessage"):
        # The XML parser's, without its "<unknown>:2:0": feedparser may have put a line of
        # its own before the document, so the line number would mislead.
        return f"XML: {exc.getMessage()}"
    return str(exc)

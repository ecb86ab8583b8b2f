"""Articles' dates: read from what an input says, written one way, compared by day.

An article's date is when it was published, as its input states it: a page's metadata
(``html_date``), a feed entry's, a post's, a JSONL line's "date". ``normalize_date`` writes
each in ISO 8601 (``2026-11-30``, or ``2026-11-30T09:30:00+03:00`` with the offset the input
gave); a value it cannot read as a date is dropped, never guessed at. An article with no
date is known by the time it was added instead (the store's ``added_at``, in UTC), and shown
as such ("added 2026-11-30").

Windows (``DateWindow``), listings and retention go by the day of that date as written:
the day the publisher printed on the article, which is what a reader looks for.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime

# The open ends of a window, as days: every ISO day sorts between them.
_FIRST_DAY, _LAST_DAY = "0000-01-01", "9999-12-31"
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def normalize_date(value: object) -> str | None:
    """``value`` in ISO 8601, or None if it is not a date this reads without guessing.

    Read: ISO 8601 (a day, or a day and time with or without an offset; ``Z`` is UTC) and
    RFC 2822 ("Mon, 30 Nov 2026 09:30:00 GMT", as feeds and e-mail write). A time keeps the
    offset it was given, to the second; a time without one stays without one.
    """
    if not isinstance(value, str | date):
        return None
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    text = value.strip()
    if not text:
        return None
    if _ISO_DAY.fullmatch(text):
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            return None
    moment: datetime | None = None
    if _ISO_DAY.match(text):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    return moment.isoformat(timespec="seconds") if moment else None


def day_of(value: str) -> str:
    """The day (YYYY-MM-DD) of a normalized date or an ``added_at`` time."""
    return value[:10]


def moment_of(value: str | None) -> datetime:
    """A normalized date as an instant, to order articles by (a day is its midnight, a time
    without an offset is taken as UTC; what cannot be read sorts first)."""
    try:
        moment = datetime.fromisoformat(value or "")
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_day(text: str) -> date:
    """A day a person typed (YYYY-MM-DD); ValueError with a message that shows the form."""
    text = text.strip()
    try:
        if not _ISO_DAY.fullmatch(text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date: write it as YYYY-MM-DD, e.g. 2026-11-01"
        ) from None


@dataclass(frozen=True)
class DateWindow:
    """The days whose articles a search may return, both ends included; None: open."""

    since: date | None = None
    until: date | None = None

    def __post_init__(self) -> None:
        if self.since and self.until and self.since > self.until:
            raise ValueError(
                f"the window ends ({self.until}) before it starts ({self.since}): "
                "the first date must not come after the last"
            )

    def __bool__(self) -> bool:
        return bool(self.since or self.until)

    def bounds(self) -> tuple[str, str]:
        """The first and last day, as ISO days (an open end is the first or last day there is)."""
        return (
            self.since.isoformat() if self.since else _FIRST_DAY,
            self.until.isoformat() if self.until else _LAST_DAY,
        )

    def holds(self, day: str) -> bool:
        """Whether a day (YYYY-MM-DD) lies in the window."""
        first, last = self.bounds()
        return first <= day <= last


def day_sql(articles: str = "") -> str:
    """The SQL expression of an article's day (YYYY-MM-DD): its date, else the time it was
    added (``day_of``); ``articles`` is the table's alias, if any. SQLite's index on the
    article's day (index/faiss_schema.py) is on this very expression."""
    prefix = f"{articles}." if articles else ""
    return f"substr(coalesce({prefix}date, {prefix}added_at), 1, 10)"


FIRST_DAY_NUMBER = 10000101  # 1 January 1000: the smallest YYYYMMDD of eight digits


def day_number_sql(articles: str = "") -> str:
    """The SQL expression of an article's day as the number YYYYMMDD (``day_numbers``); a
    value that is not a day gives another number (of fewer digits, or 0: in no window)."""
    return f"CAST(replace({day_sql(articles)}, '-', '') AS INTEGER)"


def day_numbers(window: DateWindow) -> tuple[int, int]:
    """The first and last day of a window as numbers YYYYMMDD, to compare with an array of
    days (FaissStore keeps each chunk segment's); a number under FIRST_DAY_NUMBER (not a
    day) lies in no window."""
    first, last = window.bounds()
    return max(int(first.replace("-", "")), FIRST_DAY_NUMBER), int(last.replace("-", ""))


def window_sql(articles: str, first: str, last: str) -> str:
    """The SQL condition that an article (``articles`` is the table's alias) is dated in a
    window, by its date or else the time it was added; ``first`` and ``last`` are the
    parameters that take the window's ``bounds()`` (? in SQLite, %(name)s in PostgreSQL)."""
    return f"{day_sql(articles)} BETWEEN {first} AND {last}"


def expired(day: str, days: int, today: date) -> bool:
    """Whether an article of ``day`` is older than ``days`` days on ``today`` (the article
    of ``today - days`` is kept)."""
    return day < (today - timedelta(days=days)).isoformat()


# ---- dates in web pages ---------------------------------------------------------------

# <meta> names and properties that state when a page's article was published, best first.
_META = (
    "article:published_time",
    "og:published_time",
    "og:article:published_time",
    "datepublished",
    "pubdate",
    "publishdate",
    "publish-date",
    "publish_date",
    "parsely-pub-date",
    "sailthru.date",
    "dc.date.issued",
    "dcterms.issued",
    "dc.date",
    "dcterms.date",
    "date",
)


def html_date(html: str) -> str | None:
    """When a web page says its article was published, normalized: a date it states that
    can be read, else the first it states (to be reported, and dropped), else None.

    Looked for in this order: ``<meta>`` tags (article:published_time, og and Dublin Core
    dates, itemprop datePublished...), JSON-LD ``datePublished``, then ``<time datetime>``
    (one marked as the publication's first, else the first in the article or the page).
    A modification date is not a publication date and is not used.
    """
    from lxml import etree
    from lxml import html as lxml_html

    try:
        root = lxml_html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return None
    first = None
    for value in _stated(root):  # read no further than the first that can be read
        if value and value.strip():
            if normalized := normalize_date(value):
                return normalized
            first = first or value
    return first


def _stated(root):
    """Every publication date a page states, in the order they are trusted."""
    found: dict[str, str] = {}
    for meta in root.iter("meta"):
        content = meta.get("content")
        for attribute in ("property", "name", "itemprop"):
            key = (meta.get(attribute) or "").strip().lower()
            if key in _META and content and key not in found:
                found[key] = content
    yield from (found[key] for key in _META if key in found)
    for script in root.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        try:
            data = json.loads(script.text or "")
        except ValueError:
            continue
        yield from _published(data)
    times = [t for t in root.iter("time") if t.get("datetime")]
    marked = [
        t for t in times if t.get("pubdate") is not None or t.get("itemprop") == "datePublished"
    ]
    in_article = [t for t in times if any(a.tag == "article" for a in t.iterancestors())]
    for candidates in (marked, in_article, times):
        yield from (element.get("datetime") for element in candidates[:1])


def _published(data: object):
    """Every datePublished in a JSON-LD document, outer objects first (a @graph too)."""
    if isinstance(data, list):
        for item in data:
            yield from _published(item)
    elif isinstance(data, dict):
        if isinstance(data.get("datePublished"), str):
            yield data["datePublished"]
        for value in data.values():
            if isinstance(value, list | dict):
                yield from _published(value)


def today() -> date:
    """Today in UTC, the clock ``added_at`` is written in."""
    return datetime.now(UTC).date()

"""Feeds: following RSS and Atom feeds and polling them into the index, against real feed
servers on 127.0.0.1 (with ETag, Last-Modified and 304s), the real store and model. A few
tests drive the `articlebot feeds` command as a user would; the rest poll in-process."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.core import indexer, open_store
from bot.settings import Settings
from index.feed_polling import PollLimits, follow, poll_due
from index.feed_registry import FeedError, FeedRegistry, feed_id
from index.feeds import parse_feed
from index.fetch import ALLOW_HINT, USER_AGENT
from index.readers import Limits

from .conftest import ask_json, cli

ALLOW = {"ARTICLEBOT_ALLOW_PRIVATE_URLS": "true", "ARTICLEBOT_SEED_SAMPLE": "false"}
T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
INTERVAL = timedelta(minutes=15)
LIMITS = PollLimits(read=Limits(allow_private_urls=True, fetch_timeout=5), interval=INTERVAL)
LAST_MODIFIED = "Mon, 04 May 2026 07:00:00 GMT"

LIGHTHOUSE = (
    "The lighthouse at Port Elin was restored by forty volunteers over three years. Its lamp, "
    "first lit in 1871, shines again every night. The work cost 40,000 euros, paid by the "
    "town and the fishing cooperative."
)
FERRY = (
    "<p>The ferry to Skarvik island will run twice a day from June, the harbour office said on "
    "Monday.</p><p>A ticket costs <b>12 euros</b> for adults.</p>"
)
GLACIER = (
    "Measurements on the Veldbreen glacier show that it has lost 38 metres of ice since 2001. "
    "Researchers from Tromso drilled twelve holes across the glacier in April."
)
ORCHARD = (
    "Apple growers in the Hardanger valley expect a record harvest of 9,000 tonnes this "
    "autumn, after a warm spring without a single night of frost."
)
MARKET = (
    "The town council of Port Elin voted to build a new fish market on the north quay. "
    "The market should open in the spring of 2027 and will have twenty stalls."
)


def page(title: str, text: str) -> bytes:
    """An article page with navigation and a footer around the article."""
    return (
        f"<!doctype html><html><head><title>{title} - Harbour News</title></head><body>"
        f'<nav><a href="/">Home</a> | <a href="/news">News</a></nav>'
        f"<article><h1>{title}</h1><p>{text}</p></article>"
        f"<footer>Copyright 2026 Harbour News</footer></body></html>"
    ).encode()


def rss(title: str, items: list[dict]) -> bytes:
    """An RSS 2.0 feed; each item may have a title, link, guid, date and summary."""
    xml = []
    for item in items:
        parts = [f"<title>{escape(item['title'])}</title>"]
        if "link" in item:
            parts.append(f"<link>{item['link']}</link>")
        if "guid" in item:
            parts.append(f'<guid isPermaLink="false">{item["guid"]}</guid>')
        if "date" in item:
            parts.append(f"<pubDate>{format_datetime(item['date'], usegmt=True)}</pubDate>")
        if "summary" in item:
            parts.append(f"<description>{escape(item['summary'])}</description>")
        xml.append(f"<item>{''.join(parts)}</item>")
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>http://example.org/</link>"
        f"<description>News</description>{''.join(xml)}</channel></rss>"
    ).encode()


def atom(title: str, entries: list[dict]) -> bytes:
    """An Atom feed; each entry has a title (text, or HTML if "html" is set), link, date and
    summary."""
    xml = []
    for e in entries:
        kind = "html" if e.get("html") else "text"
        xml.append(
            f'<entry><title type="{kind}">{escape(e["title"])}</title>'
            f'<link href="{e["link"]}"/><id>{e["link"]}</id>'
            f"<updated>{e['date'].isoformat()}</updated>"
            f"<summary>{escape(e['summary'])}</summary></entry>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{escape(title)}</title><id>urn:uuid:mountain-post</id>"
        f"<updated>2026-05-04T07:00:00Z</updated>{''.join(xml)}</feed>"
    ).encode()


@dataclass
class Route:
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0  # seconds before answering


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    status: int
    arrived: float  # time.monotonic()


@dataclass
class FeedSite:
    """A news site on 127.0.0.1: feeds and pages, conditional GETs, a log of every request
    and the most requests it was answering at once."""

    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    base: str = ""

    def url(self, path: str) -> str:
        return self.base + path

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def asked(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    site: FeedSite

    def do_GET(self):  # noqa: N802 (http.server's naming)
        site, route = self.site, self.site.routes.get(self.path)
        status, headers, body = self.answer(route)
        site.requests.append(Request(self.path, dict(self.headers), status, time.monotonic()))
        with site.lock:
            site.in_flight += 1
            site.max_in_flight = max(site.max_in_flight, site.in_flight)
        time.sleep(route.delay if route else 0)
        # Counted out before answering: the client's fetch ends after this, never before.
        with site.lock:
            site.in_flight -= 1
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def answer(self, route: Route | None) -> tuple[int, dict[str, str], bytes]:
        """The route's page, or a 304 for a request whose validator matches."""
        if route is None:
            return 404, {}, b"not found"
        headers = {"Content-Type": route.content_type}
        if route.etag:
            headers["ETag"] = route.etag
        if route.last_modified:
            headers["Last-Modified"] = route.last_modified
        unchanged = (route.etag and self.headers["If-None-Match"] == route.etag) or (
            route.last_modified and self.headers["If-Modified-Since"] == route.last_modified
        )
        return (304, headers, b"") if unchanged else (200, headers, route.body)

    def handle(self):
        # A client that gave up waiting (the slow feed) is no error of the site's.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            super().handle()

    def log_message(self, *args):
        pass


@contextmanager
def serving() -> Iterator[FeedSite]:
    """A feed site on 127.0.0.1, serving until the block ends."""
    feed_site = FeedSite()
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (Handler,), {"site": feed_site}))
    feed_site.base = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield feed_site
    finally:
        server.shutdown()


@pytest.fixture
def site():
    with serving() as feed_site:
        yield feed_site


def harbour_news(site: FeedSite, extra: list[dict] = ()) -> str:
    """An RSS feed with an ETag: the lighthouse story (a page) and the ferry story (whose
    page is missing, so only its summary can be read)."""
    items = [
        *extra,
        {
            "title": "Lighthouse restored",
            "link": site.url("/lighthouse.html"),
            "date": datetime(2026, 5, 1, 9, 30, tzinfo=UTC),
            "summary": "Volunteers restored the lighthouse.",
        },
        {
            "title": "Ferry to Skarvik twice a day",
            "link": site.url("/ferry.html"),
            "date": datetime(2026, 4, 28, 12, 0, tzinfo=UTC),
            "summary": FERRY,
        },
    ]
    site.routes["/lighthouse.html"] = Route(page("Port Elin lighthouse", LIGHTHOUSE))
    tag = f'"harbour-{len(items)}"'
    site.routes["/harbour.xml"] = Route(rss("Harbour News", items), "application/rss+xml", tag)
    return site.url("/harbour.xml")


def mountain_post(site: FeedSite) -> str:
    """An Atom feed with Last-Modified only, whose entries link to pages on the same site."""
    entries = [
        {
            "title": "Glacier lost 38 metres",
            "link": site.url("/glacier.html"),
            "date": datetime(2026, 5, 3, 6, 0, tzinfo=UTC),
            "summary": "The glacier is shrinking.",
        },
        {
            "title": "Record <em>apple</em> harvest expected",
            "html": True,
            "link": site.url("/orchard.html"),
            "date": datetime(2026, 5, 2, 6, 0, tzinfo=UTC),
            "summary": "Apples.",
        },
    ]
    site.routes["/glacier.html"] = Route(page("Veldbreen glacier", GLACIER))
    site.routes["/orchard.html"] = Route(page("Hardanger apples", ORCHARD))
    body = atom("Mountain Post", entries)
    site.routes["/mountain.atom"] = Route(body, "application/atom+xml", None, LAST_MODIFIED)
    return site.url("/mountain.atom")


def open_index(data_dir: Path):
    """What a poll adds articles with (the store is its ``.store``), and the feed registry."""
    settings = Settings(data_dir=data_dir, seed_sample=False)
    return indexer(settings, open_store(settings)), FeedRegistry(data_dir)


def titles(articles) -> list[str]:
    return [article.title for article in articles]


# ---- the command ---------------------------------------------------------------------


def test_following_an_rss_and_an_atom_feed_from_the_command_line(site, tmp_path):
    harbour, mountain = harbour_news(site), mountain_post(site)
    data = tmp_path / "data"
    for url, title in ((harbour, "Harbour News"), (mountain, "Mountain Post")):
        added = cli("feeds", "add", url, data_dir=data, env=ALLOW)
        assert added.returncode == 0, added.stderr
        assert f"following {feed_id(url)}  {title}  ({url}): 2 entries now" in added.stdout

    polled = cli("feeds", "poll", data_dir=data, env=ALLOW)
    assert polled.returncode == 0, polled.stderr
    assert "Harbour News: 2 added, 0 already indexed" in polled.stdout
    assert "Mountain Post: 2 added, 0 already indexed" in polled.stdout
    assert (
        "from the feed's own text (the page could not be read): "
        f"{site.url('/ferry.html')}: the server answered HTTP 404"
    ) in polled.stdout
    assert "2 feeds polled: 4 articles added, 0 feeds failed; 0 not due yet" in polled.stdout

    answer = ask_json("How many volunteers restored the lighthouse at Port Elin?", data)
    assert "forty volunteers" in answer["citations"][0]["quote"]
    assert answer["citations"][0]["source"] == site.url("/lighthouse.html")

    again = cli("feeds", "poll", data_dir=data, env=ALLOW)
    assert (again.returncode, again.stdout) == (0, "no feed is due\n")

    unknown = cli("feeds", "remove", "0000", data_dir=data, env=ALLOW)
    assert unknown.returncode == 2
    assert "no feed '0000'; `articlebot feeds list` shows them" in unknown.stderr
    removed = cli("feeds", "remove", feed_id(harbour)[:6], data_dir=data, env=ALLOW)
    assert removed.returncode == 0, removed.stderr
    assert "stopped following" in removed.stdout and "Harbour News" in removed.stdout
    registry = FeedRegistry(data)
    assert [(f.url, f.entries) for f in registry.feeds()] == [(mountain, 2)]
    store = open_store(Settings(data_dir=data, seed_sample=False))
    assert len(store) == 4  # a feed's articles stay when it is removed


def test_feeds_on_this_machine_are_refused_unless_private_urls_are_allowed(site, tmp_path):
    harbour = harbour_news(site)
    data = tmp_path / "data"
    refused = cli("feeds", "add", harbour, data_dir=data, env={"ARTICLEBOT_SEED_SAMPLE": "0"})
    assert refused.returncode == 1
    assert f"refused: 127.0.0.1 is a loopback address; {ALLOW_HINT}" in refused.stderr
    assert FeedRegistry(data).feeds() == [] and site.requests == []

    # Followed (while allowed, say), then polled: refused too, and the poll exits 1.
    FeedRegistry(data).add(harbour, "Harbour News")
    polled = cli("feeds", "poll", data_dir=data, env={"ARTICLEBOT_SEED_SAMPLE": "0"})
    assert polled.returncode == 1
    assert "Harbour News: failed: refused: 127.0.0.1 is a loopback address" in polled.stdout
    assert "1 feed polled: 0 articles added, 1 feed failed" in polled.stdout
    assert site.requests == []
    (feed,) = FeedRegistry(data).feeds()
    assert feed.failures == 1 and "loopback" in feed.last_error


# ---- polls ---------------------------------------------------------------------------


def test_entry_articles_take_the_entrys_title_date_and_link(site, tmp_path):
    adder, registry = open_index(tmp_path / "data")
    registry.add(harbour_news(site), "Harbour News")
    (poll,) = poll_due(adder, registry, LIMITS, now=T0).polled
    lighthouse, ferry = poll.added
    assert (lighthouse.title, lighthouse.source, lighthouse.date) == (
        "Lighthouse restored",  # the entry's, not the page's "Port Elin lighthouse - ..."
        site.url("/lighthouse.html"),
        "2026-05-01T09:30:00+00:00",
    )
    assert lighthouse.text == "Port Elin lighthouse\n" + LIGHTHOUSE  # the page's h1 and article
    assert "Copyright" not in lighthouse.text and "Home" not in lighthouse.text
    # The ferry's page is missing: the feed's summary, its HTML read as text, stands in.
    assert (ferry.title, ferry.source, ferry.date) == (
        "Ferry to Skarvik twice a day",
        site.url("/ferry.html"),
        "2026-04-28T12:00:00+00:00",
    )
    assert ferry.text == (
        "The ferry to Skarvik island will run twice a day from June, the harbour office said "
        "on Monday.\nA ticket costs 12 euros for adults."
    )
    assert poll.from_feed == [f"{site.url('/ferry.html')}: the server answered HTTP 404"]
    assert poll.feed.title == "Harbour News" and poll.feed.etag == '"harbour-2"'
    # Every request came through articlebot's own fetch, none from feedparser.
    assert {r.headers["User-Agent"] for r in site.requests} == {USER_AGENT}


def test_a_second_poll_sends_the_validators_and_a_304_adds_nothing(site, tmp_path):
    adder, registry = open_index(tmp_path / "data")
    registry.add(harbour_news(site), "Harbour News")
    registry.add(mountain_post(site), "Mountain Post")
    first = poll_due(adder, registry, LIMITS, now=T0)
    assert sorted(titles(first.added)) == [
        "Ferry to Skarvik twice a day",
        "Glacier lost 38 metres",
        "Lighthouse restored",
        "Record apple harvest expected",  # an HTML title, read as text
    ]
    assert all("If-None-Match" not in r.headers for r in site.requests)

    site.requests.clear()
    early = poll_due(adder, registry, LIMITS, now=T0 + INTERVAL / 2)
    assert early.polled == [] and len(early.waiting) == 2 and site.requests == []

    second = poll_due(adder, registry, LIMITS, now=T0 + INTERVAL)
    assert [(p.not_modified, p.added, p.error) for p in second.polled] == [(True, [], None)] * 2
    harbour, mountain = sorted(site.requests, key=lambda r: r.path)  # no article page
    assert (harbour.path, harbour.status) == ("/harbour.xml", 304)
    assert harbour.headers["If-None-Match"] == '"harbour-2"'
    assert (mountain.path, mountain.status) == ("/mountain.atom", 304)
    assert mountain.headers["If-Modified-Since"] == LAST_MODIFIED
    assert len(adder.store) == 4


def test_a_new_entry_is_added_at_the_next_poll_and_answers_questions(site, tmp_path):
    data = tmp_path / "data"
    adder, registry = open_index(data)
    registry.add(harbour_news(site), "Harbour News")
    assert len(poll_due(adder, registry, LIMITS, now=T0).added) == 2

    # A new entry, and the lighthouse page rewritten: its link was taken, so it is not read
    # again (the new text would otherwise be a new article).
    market = {
        "title": "Fish market for the north quay",
        "link": site.url("/market.html"),
        "date": datetime(2026, 5, 4, 8, 5, tzinfo=UTC),
    }
    harbour_news(site, extra=[market])
    site.routes["/market.html"] = Route(page("A new fish market", MARKET))
    site.routes["/lighthouse.html"] = Route(page("Lighthouse", LIGHTHOUSE + " Updated."))
    (poll,) = poll_due(adder, registry, LIMITS, now=T0 + INTERVAL).polled
    assert titles(poll.added) == ["Fish market for the north quay"] and poll.skipped == []
    assert site.paths().count("/lighthouse.html") == 1
    assert site.paths().count("/market.html") == 1
    adder.store.close()

    answer = ask_json("Where will Port Elin build its new fish market?", data)
    assert "north quay" in answer["citations"][0]["quote"]
    assert answer["citations"][0]["title"] == "Fish market for the north quay"


def test_entries_older_than_the_retention_are_not_taken(site, tmp_path):
    # With ARTICLEBOT_RETENTION_DAYS=5 on 4 May, the ferry story of 28 April would be
    # removed at the next prune: it is neither read nor added.
    adder, registry = open_index(tmp_path / "data")
    registry.add(harbour_news(site), "Harbour News")
    poll = poll_due(adder, registry, replace(LIMITS, retention_days=5), now=T0)
    assert titles(poll.added) == ["Lighthouse restored"]
    assert "/ferry.html" not in site.paths()
    adder.store.close()


def test_at_most_max_entries_are_read_per_poll_newest_first(site, tmp_path):
    news = [
        ("Bridge closed for repairs", "The old bridge over the Elva river closes in June."),
        ("New bus line", "A new bus line will connect the harbour and the station."),
        ("School gets solar roof", "The primary school installed 120 solar panels."),
        ("Library extends hours", "The town library will stay open until nine on Thursdays."),
        ("Swimming pool reopens", "The indoor swimming pool reopens after a new roof."),
    ]
    items = [
        {
            "title": title,
            "guid": f"item-{n}",  # no link: known by its id in the feed
            "date": T0 - timedelta(days=n),
            "summary": text,
        }
        for n, (title, text) in enumerate(news)
    ]
    site.routes["/town.xml"] = Route(rss("Town News", items[::-1]), "application/rss+xml", '"t"')
    adder, registry = open_index(tmp_path / "data")
    registry.add(site.url("/town.xml"), "Town News")
    limits = PollLimits(read=LIMITS.read, interval=INTERVAL, max_entries=2)

    polls = [poll_due(adder, registry, limits, now=T0 + n * INTERVAL).polled[0] for n in range(4)]
    assert [titles(p.added) for p in polls] == [
        ["Bridge closed for repairs", "New bus line"],
        ["School gets solar roof", "Library extends hours"],
        ["Swimming pool reopens"],
        [],
    ]
    assert [p.deferred for p in polls] == [3, 1, 0, 0]
    assert polls[0].added[0].source == site.url("/town.xml") + "#item-0"
    # While entries wait, the feed is read whole; once none wait, its ETag is sent.
    assert [r.headers.get("If-None-Match") for r in site.requests] == [None, None, None, '"t"']
    assert [r.status for r in site.requests] == [200, 200, 200, 304]


def test_a_broken_feed_is_reported_once_and_backed_off_while_others_are_read(site, tmp_path):
    site.routes["/broken.xml"] = Route(b"this is not a feed <<<", "application/rss+xml")
    with pytest.raises(FeedError, match=r"not an RSS or Atom feed \(XML: syntax error\)"):
        follow(FeedRegistry(tmp_path / "data"), site.url("/broken.xml"), LIMITS)
    # Cut off before its first entry: an RSS element, but nothing to read (it was followed).
    cut = b'<?xml version="1.0"?><rss><channel><title>Cut<item>'
    site.routes["/cut.xml"] = Route(cut, "application/rss+xml")
    with pytest.raises(FeedError, match=r"not an RSS or Atom feed \(XML: no element found\)"):
        follow(FeedRegistry(tmp_path / "data"), site.url("/cut.xml"), LIMITS)
    adder, registry = open_index(tmp_path / "data")
    assert registry.feeds() == []

    broken = registry.add(site.url("/broken.xml"), "Broken")
    registry.add(harbour_news(site), "Harbour News")
    first = poll_due(adder, registry, LIMITS, now=T0)
    failed, harbour = first.polled
    assert failed.error == "not an RSS or Atom feed (XML: syntax error)"
    assert (failed.newly_failed, first.newly_failed) == (True, [failed])
    assert len(harbour.added) == 2 and harbour.error is None

    # Not again at once, nor after one interval: the wait doubles with each failure.
    assert poll_due(adder, registry, LIMITS, now=T0).polled == []
    assert poll_due(adder, registry, LIMITS, now=T0 + INTERVAL).newly_failed == []
    assert site.paths().count("/broken.xml") == 2  # follow's and the first poll's
    second = poll_due(adder, registry, LIMITS, now=T0 + 2 * INTERVAL)
    assert [p.feed.id for p in second.failed] == [broken.id]
    assert second.newly_failed == []  # told once
    (feed,) = [f for f in registry.feeds() if f.id == broken.id]
    assert feed.failures == 2 and feed.next_poll(INTERVAL) == T0 + 2 * INTERVAL + 4 * INTERVAL
    feed.failures = 30
    assert feed.next_poll(INTERVAL) == feed.last_polled + timedelta(days=1)

    site.routes["/broken.xml"] = Route(rss("Fixed", []), "application/rss+xml")
    fixed = poll_due(adder, registry, LIMITS, now=T0 + 6 * INTERVAL)
    assert [(p.feed.title, p.recovered, p.feed.failures) for p in fixed.recovered] == [
        ("Fixed", True, 0)
    ]


def test_a_slow_feed_times_out_without_holding_up_the_others(site, tmp_path):
    site.routes["/slow.xml"] = Route(rss("Slow", []), "application/rss+xml", delay=6)
    adder, registry = open_index(tmp_path / "data")
    registry.add(site.url("/slow.xml"), "Slow")
    registry.add(harbour_news(site), "Harbour News")
    registry.add(mountain_post(site), "Mountain Post")
    limits = PollLimits(read=Limits(allow_private_urls=True, fetch_timeout=1), interval=INTERVAL)
    slow, harbour, mountain = poll_due(adder, registry, limits, now=T0).polled
    assert slow.error == "could not fetch it (ReadTimeout: timed out)" and slow.newly_failed
    assert (len(harbour.added), len(mountain.added)) == (2, 2)
    # The others were read alongside the slow feed: they started before it timed out, and
    # none waited for its answer.
    (waited,) = site.asked("/slow.xml")
    others = [r.arrived for r in site.requests if r.path != "/slow.xml"]
    assert min(others) < waited.arrived + 1 and max(others) < waited.arrived + 6


def test_no_more_than_two_fetches_at_once_go_to_one_host(site, tmp_path):
    adder, registry = open_index(tmp_path / "data")
    for n in range(4):
        item = {"title": f"Notice {n}", "guid": "x", "summary": f"Harbour notice number {n}."}
        site.routes[f"/n{n}.xml"] = Route(rss(f"N{n}", [item]), "application/rss+xml", delay=0.3)
        registry.add(site.url(f"/n{n}.xml"), f"N{n}")
    report = poll_due(adder, registry, LIMITS, now=T0)  # four feeds read at once, one host
    assert len(report.added) == 4
    assert site.max_in_flight == 2


def test_the_feed_parser_fetches_nothing_a_feed_points_to(site):
    secret = site.url("/secret")
    feed = (
        f'<?xml version="1.0"?><?xml-stylesheet href="{site.url("/style.xsl")}"?>'
        f'<!DOCTYPE rss [<!ENTITY leak SYSTEM "{secret}">]>'
        '<rss version="2.0"><channel><title>Leaky &leak;</title>'
        "<item><title>One</title><link>/one.html</link><description>Text.</description></item>"
        "</channel></rss>"
    ).encode()
    parsed = parse_feed(feed, site.url("/feeds/leaky.xml"), "application/rss+xml")
    assert [entry.link for entry in parsed.entries] == [site.url("/one.html")]
    assert site.requests == []


def test_an_entry_date_that_is_no_date_is_left_out_with_a_warning(caplog):
    xml = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Town</title>'
        b"<item><title>Market opens</title><link>http://example.org/m</link>"
        b"<description>The market opened on Monday.</description>"
        b"<pubDate>30/11/2026</pubDate></item>"
        b"<item><title>Bridge shut</title><link>http://example.org/b</link>"
        b"<pubDate>Mon, 30 Nov 2026 08:00:00 GMT</pubDate></item></channel></rss>"
    )
    with caplog.at_level("WARNING"):
        parsed = parse_feed(xml, "http://example.org/feed.xml")
    dates = {e.title: e.date for e in parsed.entries}
    assert dates["Market opens"] is None and dates["Bridge shut"].startswith("2026-11-30")
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warned == [
        "http://example.org/m: '30/11/2026' is not a date (RFC 2822 or ISO 8601): it is left out"
    ]

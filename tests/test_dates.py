"""Articles' dates and links: read from web pages on 127.0.0.1 and from JSONL, shown in every
answer and listing, used by `ask --since/--until` and removed by `index prune`. The real
`articlebot` command, model and index."""

from __future__ import annotations

import json
import logging

import pytest

from index.dates import normalize_date, parse_day
from index.readers import Limits, load

from .conftest import ask_json, cli
from .test_ingest import SOLAR_TEXT
from .test_readers import page, serve

ALLOW = Limits(allow_private_urls=True)


def html(head: str, body: str = "") -> bytes:
    """A news page: ``head`` in its <head>, the solar story (and ``body``) in its article."""
    return (
        f"<html><head><title>Solar plant opens</title>{head}</head><body><article>"
        f"<h1>Solar plant opens</h1>{body}<p>{SOLAR_TEXT}</p></article></body></html>"
    ).encode()


PAGES = {
    "/meta.html": html(
        '<meta property="article:modified_time" content="2026-11-20T10:00:00Z">'
        '<meta property="article:published_time" content="2026-11-02T08:15:00+03:00">'
    ),
    "/json-ld.html": html(
        '<script type="application/ld+json">{"@context": "https://schema.org", "@graph": '
        '[{"@type": "WebPage"}, {"@type": "NewsArticle", "datePublished": '
        '"Mon, 05 Oct 2026 06:00:00 GMT", "dateModified": "2026-10-09"}]}</script>'
    ),
    "/time.html": html("", '<p>Updated <time datetime="2026-09-09">9 Sept</time></p>'),
    "/itemprop.html": html('<meta itemprop="datePublished" content="2026-08-30">'),
    "/undated.html": html("", "<p>Published last Tuesday, at dawn.</p>"),
    "/garbled.html": html('<meta property="article:published_time" content="next week">'),
}


@pytest.fixture(scope="module")
def site():
    server = serve({path: page(body) for path, body in PAGES.items()})
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize(
    ("path", "published"),
    [
        ("/meta.html", "2026-11-02T08:15:00+03:00"),  # the publication's, not the modification's
        ("/json-ld.html", "2026-10-05T06:00:00+00:00"),
        ("/time.html", "2026-09-09"),
        ("/itemprop.html", "2026-08-30"),
        ("/undated.html", None),  # words are not guessed at
        ("/garbled.html", None),
    ],
)
def test_a_web_pages_published_date_is_read_from_its_metadata(site, path, published):
    (loaded,) = list(load([site + path], ALLOW))
    (article,) = loaded.articles
    assert (article.title, article.source, article.date) == (
        "Solar plant opens",
        site + path,
        published,
    )


def test_a_web_pages_date_that_cannot_be_read_is_dropped_with_a_warning(site, caplog):
    with caplog.at_level(logging.WARNING, logger="index.readers"):
        (loaded,) = list(load([site + "/garbled.html"], ALLOW))
    assert loaded.articles[0].date is None
    assert "'next week' is not a date (YYYY-MM-DD or ISO 8601): it is left out" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="index.readers"):
        list(load([site + "/undated.html"], ALLOW))  # states no date: nothing to report
    assert "is not a date" not in caplog.text


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("2026-11-30", "2026-11-30"),
        ("2026-11-30T09:30:00Z", "2026-11-30T09:30:00+00:00"),
        ("2026-11-30T09:30:00.250+03:00", "2026-11-30T09:30:00+03:00"),
        ("2026-11-30 09:30", "2026-11-30T09:30:00"),
        ("Mon, 30 Nov 2026 09:30:00 +0100", "2026-11-30T09:30:00+01:00"),
        ("30/11/2026", None),  # day first or month first? Not guessed.
        ("2026-02-30", None),
        ("2026", None),
        ("yesterday", None),
    ],
)
def test_dates_are_written_in_iso_8601_or_dropped(given, normalized):
    assert normalize_date(given) == normalized


def test_a_day_typed_wrong_is_refused_showing_the_form():
    assert str(parse_day(" 2026-11-01 ")) == "2026-11-01"
    with pytest.raises(ValueError, match=r"'1/11/2026' is not a date: write it as YYYY-MM-DD"):
        parse_day("1/11/2026")


def test_a_jsonl_date_that_is_no_date_is_dropped_and_the_article_kept(tmp_path, caplog):
    lines = [
        {"id": "a", "title": "Dated", "text": SOLAR_TEXT, "date": "2026-10-01T12:00:00Z"},
        {"id": "b", "title": "Misdated", "text": SOLAR_TEXT + " Again.", "date": "01.10.26"},
    ]
    path = tmp_path / "news.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")

    with caplog.at_level(logging.WARNING, logger="index.readers"):
        (loaded,) = list(load([str(path)]))

    assert [(a.title, a.date) for a in loaded.articles] == [
        ("Dated", "2026-10-01T12:00:00+00:00"),
        ("Misdated", None),
    ]
    assert "'01.10.26' is not a date (YYYY-MM-DD or ISO 8601): it is left out" in caplog.text


# ---- the command line -----------------------------------------------------------------

VACCINE_NEWS = [
    {
        "id": "rural",
        "title": "Vaccines reach rural clinics",
        "source": "https://news.example/health/rural-clinics",
        "date": "2026-11-02T09:00:00+03:00",
        "text": "The health ministry said the new vaccine would reach rural clinics within "
        "three weeks. The minister promised two hundred refrigerated trucks by the end of "
        "the month, because the doses must be kept cold.",
    },
    {
        "id": "harbour",
        "title": "Harbour cranes replaced",
        "date": "2019-03-01",
        "text": "The port authority replaced the four old cranes of the north harbour with "
        "electric ones. The new cranes lift forty containers an hour.",
    },
]


@pytest.fixture
def dated_dir(data_dir, tmp_path):
    """The sample data dir (the sample undated, added today) with two dated articles."""
    path = tmp_path / "news.jsonl"
    path.write_text("\n".join(json.dumps(a) for a in VACCINE_NEWS), encoding="utf-8")
    added = cli("index", "add", str(path), data_dir=data_dir)
    assert added.returncode == 0, added.stderr
    return data_dir


def listed(data_dir) -> list[dict]:
    result = cli("index", "list", "--json", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_answers_show_each_sources_date_and_link_and_json_carries_them(dated_dir):
    result = cli("ask", "How many trucks did the minister promise?", data_dir=dated_dir)
    assert result.returncode == 0, result.stderr
    sources = result.stdout.split("Sources:\n")[1]
    assert sources.startswith(
        "[1] Vaccines reach rural clinics — 2026-11-02, https://news.example/health/rural-clinics"
    )

    answer = ask_json("How many trucks did the minister promise?", dated_dir)
    first = answer["citations"][0]
    assert (first["date"], first["link"]) == (
        "2026-11-02T09:00:00+03:00",
        "https://news.example/health/rural-clinics",
    )
    assert answer["retrieved"][0]["date"] == "2026-11-02T09:00:00+03:00"

    # The sample's text (a file of the user's own here) has neither date nor link: its day is
    # the day it was added, said so.
    islamabad = "Who did the Russian foreign minister meet in Islamabad?"
    sample = ask_json(islamabad, dated_dir)["citations"][0]
    assert (sample["date"], sample["link"]) == (None, None)
    text = cli("ask", islamabad, data_dir=dated_dir).stdout
    assert f"— added {sample['added_at'][:10]}, {sample['source']} (id" in text


def test_ask_since_and_until_search_only_the_articles_of_those_days(dated_dir):
    question = "How many trucks did the minister promise?"
    before = cli("ask", question, "--until", "2026-11-01", data_dir=dated_dir)
    assert before.returncode == 0, before.stderr
    assert before.stdout.startswith(
        "(I searched only the articles dated 2026-11-01 or earlier.)\n\n"
    )
    assert "two hundred" not in before.stdout and "rural clinics" not in before.stdout

    day = cli(
        "ask",
        question,
        "--json",
        "--since",
        "2026-11-02",
        "--until",
        "2026-11-02",
        data_dir=dated_dir,
    )
    answer = json.loads(day.stdout)
    assert {c["title"] for c in answer["citations"]} == {"Vaccines reach rural clinics"}
    assert {h["title"] for h in answer["retrieved"]} == {"Vaccines reach rural clinics"}
    assert "searched the articles dated 2026-11-02 to 2026-11-02" in answer["notes"]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--since", "2026-11-31"], "argument --since: '2026-11-31' is not a date"),
        (["--until", "Nov 1"], "argument --until: 'Nov 1' is not a date: write it as YYYY-MM-DD"),
        (
            ["--since", "2026-11-02", "--until", "2026-11-01"],
            "the window ends (2026-11-01) before it starts (2026-11-02)",
        ),
    ],
)
def test_a_bad_date_window_is_refused_saying_why(dated_dir, args, error):
    result = cli("ask", "What was agreed?", *args, data_dir=dated_dir)
    assert result.returncode == 2
    assert error in result.stderr and "Traceback" not in result.stderr


def test_index_list_shows_the_newest_first_with_days_and_links(dated_dir):
    articles = listed(dated_dir)
    assert [a["title"] for a in articles][1:] == [
        "Vaccines reach rural clinics",  # 2026-11-02
        "Harbour cranes replaced",  # 2019-03-01
    ]
    sample = articles[0]  # undated, added today: newer than both
    assert sample["date"] is None and sample["link"] is None
    assert articles[1]["link"] == "https://news.example/health/rural-clinics"

    lines = cli("index", "list", data_dir=dated_dir).stdout.splitlines()
    assert f"  added {sample['added_at'][:10]} " in lines[0]
    assert "  2026-11-02       [en]" in lines[1] and lines[1].endswith(
        "(https://news.example/health/rural-clinics)"
    )
    assert "  2019-03-01       [en]" in lines[2]


def test_index_prune_removes_the_articles_older_than_the_retention(dated_dir):
    refused = cli("index", "prune", data_dir=dated_dir)
    assert refused.returncode == 2
    assert "retention is off: set ARTICLEBOT_RETENTION_DAYS" in refused.stderr
    zero = cli("index", "prune", "--days", "0", "--dry-run", data_dir=dated_dir)
    assert zero.returncode == 2 and "retention is off" not in zero.stderr
    assert "--days: expected a whole number of 1 or more, not '0'" in zero.stderr

    dry = cli("index", "prune", "--days", "365", "--dry-run", data_dir=dated_dir)
    assert dry.returncode == 0, dry.stderr
    assert "Harbour cranes replaced" in dry.stdout
    assert "would remove 1 article older than 365 days; 3 articles in the index" in dry.stdout

    pruned = cli("index", "prune", data_dir=dated_dir, env={"ARTICLEBOT_RETENTION_DAYS": "365"})
    assert pruned.returncode == 0, pruned.stderr
    assert "removed 1 article older than 365 days; 2 articles in the index" in pruned.stdout
    assert "Harbour cranes replaced" not in [a["title"] for a in listed(dated_dir)]
    check = cli("index", "check", data_dir=dated_dir)
    assert check.returncode == 0, check.stderr

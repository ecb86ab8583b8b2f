"""What an article store does, whatever keeps it: the interface and the types it shares.

A store persists prepared articles (index/ingest.py chunks and embeds them) and searches
their vectors; it holds no embedding model. It records the identity of the embedder whose
vectors it holds and refuses to be used with another. index/faiss_store.py keeps one in a
data directory (FAISS files and SQLite); a PostgreSQL+pgvector store would implement the
same methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Protocol, runtime_checkable

import numpy as np

from .dates import DateWindow, day_of, moment_of
from .near_duplicates import BAND_SCHEME, BANDS, band_rows
from .types import (
    Article,
    Chunk,
    Copy,
    EmbedderIdentity,
    Hit,
    PreparedArticle,
    Sentence,
    Terms,
    link_of,
)

ChunkSentences = tuple[list[Sentence], np.ndarray]  # a chunk's sentences, their vectors


class StoreError(RuntimeError):
    """The store cannot do what was asked; the message says why and what to do."""


class StoreMismatchError(StoreError):
    """The store was built with another embedding model than the settings name."""


@dataclass
class Source:
    """Another place an indexed article was found: a copy of it (index/types.py Copy)."""

    id: str  # the copy's own content id
    title: str
    source: str
    date: str | None
    added_at: str


@dataclass
class ArticleInfo:
    """An indexed article, without its text, and the other sources of its story."""

    id: str
    title: str
    source: str
    lang: str
    date: str | None
    added_at: str
    chunks: int
    chars: int
    key: str | None = None
    link: str | None = None  # its web address (the source, if that is one)
    also_in: list[Source] = field(default_factory=list)  # its copies, oldest first

    def __post_init__(self) -> None:
        self.link = self.link or link_of(self.source)


@dataclass
class AddResult:
    """What adding articles did: each article given is in ``added`` or in ``skipped``."""

    added: list[Article]
    skipped: list[Article]  # already indexed (same content)
    chunks: int  # chunks of the added articles
    copies: list[Copy] = field(default_factory=list)  # near-duplicates, kept as sources
    # Removed to make way for the user's own articles: the bundled sample (Indexer.placeholder).
    retired: list[Article] = field(default_factory=list)


@runtime_checkable
class ArticleStore(Protocol):
    """The collection of indexed articles, searchable by vector.

    Every change is atomic: after a crash or an error the store is as it was before the
    change or as it is after it, never in between. Reads in one process see changes that
    other processes commit, without reopening.
    """

    identity: EmbedderIdentity  # the embedder whose vectors the store holds

    def __len__(self) -> int:
        """How many articles are indexed."""
        ...

    def languages(self) -> set[str]:
        """The languages of the indexed articles (their ``lang``)."""
        ...

    def articles(self, window: DateWindow | None = None) -> list[ArticleInfo]:
        """Every indexed article (dated in ``window``, if one is given: index/dates.py),
        oldest first, with the sources of its copies."""
        ...

    def newest(self, limit: int, offset: int = 0) -> list[ArticleInfo]:
        """A page of the listing (``newest_first``'s order): at most ``limit`` articles from
        the ``offset``-th, read with the articles of their days only (``page_window``)."""
        ...

    def position(self, article_id: str) -> int | None:
        """Where an article is in the listing (``newest_first``'s order, 0 for the newest),
        None if there is no article of that id: the articles of days certainly newer are
        counted through the day index, those of the days around its own read
        (``position_among``)."""
        ...

    def copies(self, article_ids: Iterable[str] | None = None) -> list[Copy]:
        """The copies recorded of these articles (of every article if None), oldest first."""
        ...

    def signatures(self, like: Sequence[np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """The near-duplicate signature of every article that has one, by article id; with
        ``like``, of those that share a band with one of these signatures: every article
        that may be a near-duplicate of one of them (index/near_duplicates.py BANDED_FROM),
        read without reading the others."""
        ...

    def article(self, article_id: str) -> Article | None:
        """The article with this id (or with this id as a unique prefix); None if none."""
        ...

    def every_article(self) -> list[tuple[Article, str]]:
        """Every article with the time it was added (ISO 8601), oldest first: what a rebuild
        prepares anew. Works on a store whose vectors are missing or damaged."""
        ...

    def ids_from_source(self, prefix: str) -> list[str]:
        """The ids of the articles whose source begins with ``prefix``, oldest first: the
        bundled sample's (Indexer.placeholder), looked up on every add, so by an index."""
        ...

    def ids_with_key(self, key: str) -> list[str]:
        """The ids of the articles stored under ``key`` (a post's earlier versions, which an
        edit replaces: bot/desk.py), oldest first; by an index, as ``ids_from_source``."""
        ...

    def known_ids(self, ids: Iterable[str]) -> set[str]:
        """Which of these article ids are indexed or recorded as copies (to skip them before
        embedding)."""
        ...

    def search(self, vector: np.ndarray, k: int, window: DateWindow | None = None) -> list[Hit]:
        """The k chunks nearest to a query vector, best first; each Hit has its similarity.

        With a ``window``, only chunks of articles dated in it (by their date, else the time
        they were added: index/dates.py): the k nearest of those, found as a search without
        a window finds the nearest of all (exactly, or through an approximate index at its
        recall), not the nearest of all filtered afterwards.
        """
        ...

    def article_chunks(self, article_id: str) -> tuple[list[Chunk], np.ndarray]:
        """An article's chunks in order and their vectors as stored (one a row): what copying
        a store into another needs besides the article and its sentences."""
        ...

    def sentences_of(self, chunks: Sequence[Chunk]) -> list[ChunkSentences]:
        """For each chunk, in order: the sentences that lie within it, in order, and their
        vectors (one a row). One read for all of them (a question's candidates are read at
        once: one round trip to a database server, not one a chunk)."""
        ...

    def chunk_terms(self, ids: list[int]) -> dict[int, Terms]:
        """The latent terms (indices, unit-length weights) of these chunks, where stored."""
        ...

    def sentence_terms(self, ids: list[int]) -> dict[int, Terms]:
        """The latent terms (indices, unit-length weights) of these sentences, where stored."""
        ...

    def stats(self) -> dict[str, object]:
        """Counts, languages, the embedder and the size on disk, for `index stats`."""
        ...

    def check(self) -> list[str]:
        """What is wrong with the store, one line a problem; empty when it is healthy."""
        ...

    def writing(self) -> AbstractContextManager[None]:
        """Hold the store's write lock for a block: no other process or thread changes the
        store until it ends (a rebuild reads, embeds and replaces under it). ``add``,
        ``remove`` and ``replace_all`` take it themselves; inside the block they reuse it."""
        ...

    def add(
        self, articles: Sequence[PreparedArticle], copies: Sequence[Copy] = ()
    ) -> list[Article]:
        """Store prepared articles and record copies, all or none.

        Articles already stored are skipped; an article recorded as a copy until now stops
        being one. A copy is recorded anew if it was already (with the article it copies
        now), and skipped if its id is a stored article or the article it copies is not
        stored. Returns the articles added and the copies' articles recorded. Raises
        StoreMismatchError if the vectors are not of the store's embedder.
        """
        ...

    def remove(self, article_id: str) -> Article:
        """Remove an article and the copies recorded of it, or a copy alone (by id or unique
        id prefix); raises StoreError if there is none. Indexer.remove first puts a copy in
        the article's place."""
        ...

    def remove_articles(self, article_ids: Sequence[str]) -> list[Article]:
        """Remove these articles (exact ids; those not stored are skipped) and the copies
        recorded of them, all or none, in one change however many they are (retention's
        hundreds: a FAISS segment holding several of them is written anew once, not once
        an article). Returns the removed articles, in the order given."""
        ...

    def replace_all(self, articles: Sequence[PreparedArticle]) -> None:
        """Replace every article, chunk, sentence and vector with these, prepared by the
        store's embedder, which the store records as its own from now on: a rebuild. Works
        on a store whose vectors are missing or damaged, or of an older schema."""
        ...

    def close(self) -> None:
        """Release the store's connections and files."""
        ...


class TermsTables:
    """``chunk_terms`` and ``sentence_terms`` for a backend that keeps each in a table of that
    name, read by its ``_terms(table, ids)``."""

    def _terms(self, table: str, ids: list[int]) -> dict[int, Terms]:
        raise NotImplementedError

    def chunk_terms(self, ids: list[int]) -> dict[int, Terms]:
        """The latent terms (indices, unit-length weights) of these chunks, where stored."""
        return self._terms("chunk_terms", ids)

    def sentence_terms(self, ids: list[int]) -> dict[int, Terms]:
        """The latent terms (indices, unit-length weights) of these sentences, where stored."""
        return self._terms("sentence_terms", ids)


# The tables of a store's articles, which a rebuild drops and makes anew (both backends; the
# copies are kept: they are not made again from the articles).
ARTICLE_TABLES = (
    "chunk_terms",
    "sentence_terms",
    "chunks",
    "sentences",
    "signature_bands",
    "signatures",
    "articles",
)


# PostgreSQL's search in a date window first looks among this many times the chunks asked
# for, of all dates, through its HNSW index: if k of them are in the window, they are its k
# nearest (a nearer chunk of the window would be among them), found without the exact scan
# of every chunk of the window (at 100,000 chunks, 486 ms for a year's). It does so for a
# window holding at least WINDOW_SPARE / WINDOW_FIRST of the articles (counted through the
# index on their day), whose chunks would be twice k of them if spread like the others; a
# narrower window is scanned at once (at 100,000 chunks a day's articles took 3.6 ms, 9.4
# with a first look that seldom finds them). A deeper first look for narrower windows found
# too few of their nearest: an HNSW search is less exact far down its list (a month of a
# year, 244 deep: recall@10 0.74; docs/performance.md, session 12). FAISS keeps the day of
# each chunk of a segment instead, and searches only the window's rows (faiss_store.py).
WINDOW_FIRST = 4
WINDOW_SPARE = 2


def first_look(k: int, share: float) -> int | None:
    """How many of the nearest chunks of all dates a search for the k nearest of a window
    holding ``share`` of the articles first looks among; None: none, the window is narrow
    enough to be scanned at once (WINDOW_FIRST above)."""
    return WINDOW_FIRST * k if share * WINDOW_FIRST >= WINDOW_SPARE else None


def in_window(hits: Iterable[Hit], window: DateWindow) -> list[Hit]:
    """The hits whose article is dated in the window (by its date, else the day added)."""
    return [h for h in hits if window.holds(day_of(h.chunk.date or h.chunk.added_at))]


def unpack_signature(minhash: bytes) -> np.ndarray:
    """A signature as stored (uint64 values, little-endian) back as an array."""
    return np.frombuffer(minhash, "<u8").astype(np.uint64)


def in_given_order(articles: Iterable[Article], ids: Sequence[str]) -> list[Article]:
    """``articles`` in the order of their first place in ``ids``."""
    order = {article_id: n for n, article_id in enumerate(dict.fromkeys(ids))}
    return sorted(articles, key=lambda a: order[a.id])


def drop_bands(db, article_id: str, mark: str) -> None:
    """Delete the band keys of an article's signature, in the caller's write (``db``: a
    SQLite or a psycopg connection; ``mark``: its parameter mark, "?" or "%s")."""
    query = f"SELECT minhash FROM signatures WHERE article_id = {mark}"
    cursor = db.cursor()
    for (minhash,) in db.execute(query, (article_id,)).fetchall():
        cursor.executemany(
            f"DELETE FROM signature_bands WHERE band = {mark} AND article_id = {mark}",
            band_rows(article_id, unpack_signature(minhash)),
        )
    cursor.close()


def key_every_band(db, mark: str) -> None:
    """Key the bands of every stored signature anew, in the caller's write (a store made
    before the bands were kept, or by another banding); ``db`` and ``mark`` as above."""
    db.execute("DELETE FROM signature_bands")
    signatures = db.execute("SELECT article_id, minhash FROM signatures").fetchall()
    # In key order: each row lands at the end of the table's B-tree, not at a random page.
    rows = sorted(
        row for a, minhash in signatures for row in band_rows(a, unpack_signature(minhash))
    )
    cursor = db.cursor()
    cursor.executemany(
        f"INSERT INTO signature_bands (band, article_id) VALUES ({mark}, {mark})", rows
    )
    cursor.close()


def band_problems(db, meta: dict[str, str]) -> list[str]:
    """What is wrong with the keys of the signatures' bands (index/near_duplicates.py), in
    either backend (``db``: a SQLite or a psycopg connection); none while a store made
    before them waits for its next change to key them."""
    if meta.get("signature_bands") != BAND_SCHEME:
        return []
    signatures = db.execute("SELECT count(*) FROM signatures").fetchone()[0]
    keys = db.execute("SELECT count(*) FROM signature_bands").fetchone()[0]
    if keys == BANDS * signatures:
        return []
    return [
        f"{keys} band keys for {signatures} near-duplicate signatures ({BANDS} each): "
        "run `articlebot index rebuild`"
    ]


def languages_of(db) -> set[str]:
    """The languages of the stored articles (``db``: a SQLite or a psycopg connection)."""
    return {row[0] for row in db.execute("SELECT DISTINCT lang FROM articles")}


def row_counts(db) -> dict[str, object]:
    """The stored articles, chunks and sentences, and the articles by language: what both
    backends' ``stats`` begin with (``db``: a SQLite or a psycopg connection)."""
    counts: dict[str, object] = {
        table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in ("articles", "chunks", "sentences")
    }
    counts["languages"] = dict(db.execute("SELECT lang, count(*) FROM articles GROUP BY lang"))
    return counts


def sentences_by_chunk(
    chunks: Sequence[Chunk], rows: Sequence[Sequence], vectors: np.ndarray, dim: int
) -> list[ChunkSentences]:
    """``sentences_of``'s answer from the rows a backend read: (position of the chunk in
    ``chunks``, sentence id, start, end, text), by position then start; ``vectors`` one a
    row."""
    found: list[list[int]] = [[] for _ in chunks]
    for row_number, row in enumerate(rows):
        found[row[0]].append(row_number)
    return [
        (
            [Sentence(rows[r][1], chunk.article_id, *rows[r][2:5]) for r in at],
            vectors[at] if at else np.zeros((0, dim), dtype=np.float32),
        )
        for chunk, at in zip(chunks, found, strict=True)
    ]


def newest_first(articles: list[ArticleInfo]) -> list[ArticleInfo]:
    """Articles in the order listings show them: the newest first, by the date each was
    published, else the time it was added (index/dates.py); the last added first on a tie."""
    by_added = sorted(articles, key=lambda a: (a.added_at, a.id), reverse=True)
    return sorted(by_added, key=lambda a: moment_of(a.date or a.added_at), reverse=True)


# A page of the listing reads the articles of its days and of PAGE_SLACK_DAYS days before: an
# article's day is that of its date as written, but the listing orders by the instant, and a
# time with an offset (up to 14 hours) may fall on the day before or after in UTC. The n
# newest articles by day (day d the n-th's) are all at d - 1 at 10:00 UTC or later; an
# article dated d - 3 or earlier is before d - 2 at 12:00 UTC: it cannot be among them.
PAGE_SLACK_DAYS = 2


def page_window(last_day: str | None) -> DateWindow | None:
    """The days a page must read when the last article it shows is of ``last_day`` at the
    latest (the day of the ``offset + limit``-th by day, newest first); None: every day
    (fewer articles than that, or a day that cannot be read)."""
    try:
        since = date.fromisoformat(last_day or "") - timedelta(days=PAGE_SLACK_DAYS)
    except (ValueError, OverflowError):
        return None
    return DateWindow(since=since)


def around_day(day: str | None) -> DateWindow | None:
    """The days whose articles may come before or after an article of ``day`` in the
    listing (PAGE_SLACK_DAYS on either side); None if ``day`` is not a day."""
    try:
        middle = date.fromisoformat(day or "")
        return DateWindow(middle - timedelta(PAGE_SLACK_DAYS), middle + timedelta(PAGE_SLACK_DAYS))
    except (ValueError, OverflowError):
        return None


def position_among(article_id: str, newer: int, around: list[ArticleInfo]) -> int | None:
    """An article's place in the listing, from how many articles are of days after
    ``around_day``'s (all newer) and the articles of those days (``around``)."""
    ids = [a.id for a in newest_first(around)]
    return newer + ids.index(article_id) if article_id in ids else None


def page(articles: list[ArticleInfo], limit: int, offset: int) -> list[ArticleInfo]:
    """The listing's page of ``articles``: those a ``page_window`` holds, or all."""
    if limit < 1 or offset < 0:
        raise ValueError(
            f"a page needs a limit of 1 or more and an offset of 0 or more, not {limit}, {offset}"
        )
    return newest_first(articles)[offset : offset + limit]


def unstored(articles: Sequence[PreparedArticle], stored: set[str]) -> list[PreparedArticle]:
    """The articles whose ids are not in ``stored`` (the store's articles, read inside its
    write, so articles another process added meanwhile are skipped too), each once."""
    seen = set(stored)
    new = []
    for prepared in articles:
        if prepared.article.id not in seen:
            seen.add(prepared.article.id)
            new.append(prepared)
    return new


def with_sources(infos: list[ArticleInfo], copies: list[Copy]) -> list[ArticleInfo]:
    """``infos`` with the sources of their ``copies`` in ``also_in``, for ``articles()``."""
    by_id = {info.id: info for info in infos}
    for copy in copies:
        info = by_id.get(copy.of)
        if info is not None:
            a = copy.article
            info.also_in.append(Source(a.id, a.title, a.source, a.date, copy.added_at or ""))
    return infos


# The columns of a copies row as both backends read and write them (copy_row, copy_from_row).
COPY_COLUMNS = "id, copy_of, key, title, source, date, lang, text, similarity, added_at"


def copy_row(copy: Copy, now: str) -> tuple:
    """The values of COPY_COLUMNS for ``copy`` (recorded ``now`` unless it says when)."""
    a = copy.article
    return (
        a.id,
        copy.of,
        a.key,
        a.title,
        a.source,
        a.date,
        a.lang,
        a.text,
        copy.similarity,
        copy.added_at or now,
    )


def copy_from_row(row: Sequence) -> Copy:
    """The Copy a row of COPY_COLUMNS holds."""
    id_, of, key, title, source, date, lang, text, similarity, added_at = row
    article = Article(text=text, title=title, source=source, lang=lang, date=date, key=key, id=id_)
    return Copy(article, of, float(similarity), added_at)


def remove_copy(db, copy_id: str, mark: str) -> Article:
    """Delete the copy whose id is ``copy_id`` or begins with it (one copy only), in the
    caller's write, and return its article; StoreError if none matches, or several articles
    and copies do (saying so).
    ``db``: a SQLite or a psycopg connection; ``mark``: its parameter mark ("?" or "%s")."""
    rows = db.execute(
        f"SELECT {COPY_COLUMNS} FROM copies WHERE substr(id, 1, {mark}) = {mark} LIMIT 2",
        (len(copy_id), copy_id),
    ).fetchall()
    if len(rows) != 1 or not copy_id:
        articles = db.execute(
            f"SELECT count(*) FROM (SELECT id FROM articles WHERE substr(id, 1, {mark}) = {mark} "
            "LIMIT 2) AS matching",
            (len(copy_id), copy_id),
        ).fetchone()[0]
        if copy_id and len(rows) + articles > 1:  # (an article the prefix named alone is
            # removed before a copy is looked for)
            raise StoreError(
                f"{copy_id!r} begins the ids of several articles: give more of the id "
                "(see: articlebot index list)"
            )
        raise StoreError(f"no article with id {copy_id!r} (see: articlebot index list)")
    db.execute(f"DELETE FROM copies WHERE id = {mark}", (rows[0][0],))
    return copy_from_row(rows[0]).article

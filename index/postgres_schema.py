"""The PostgreSQL store's tables, and how to reach its database (index/postgres_store.py).

Tables (in the connection's schema)::

    meta            key/value: schema version, the embedder (index/store_identity.py)
    articles        id (content hash), key, title, source, date, lang, text, added_at
    chunks          id, article_id, ordinal, start, "end", vector vector(dim)
                    + an HNSW index (vector_cosine_ops) on vector
    sentences       id, article_id, start, "end", vector halfvec(dim)
    chunk_terms     id (a chunk's), idx int4[], val real[]
    sentence_terms  id (a sentence's), idx int4[], val real[]
    piece_ids       the sequence chunk and sentence ids are taken from
    signatures      article_id, minhash bytea: its near-duplicate signature
    signature_bands band (int8), article_id: the keys of each signature's bands
    copies          near-duplicates kept as other sources of an article (copy_of), with
                    their text, not indexed (index/types.py Copy); a rebuild keeps them
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .dates import day_sql
from .store import ARTICLE_TABLES, StoreError

SCHEMA_VERSION = "pg1"
# The advisory lock writers take: one number for "the articlebot store in this database".
WRITE_LOCK = 0x41_52_54_42  # "ARTB"
# With a second key of 0, the lock held while the vector extension is created (two keys:
# apart from WRITE_LOCK's space).
EXTENSION_LOCK = 0x41_52_54_45  # "ARTE"
TABLES = ARTICLE_TABLES
# The keys of each signature's bands (index/near_duplicates.py bands): the articles a new text
# may copy, found without reading every signature. A store made before them gets them at its
# next write (PostgresStore._make_bands; meta "signature_bands" names the banding). No foreign
# key: a cascade would scan the table for each article removed; remove() deletes by key.
SIGNATURE_BANDS = """CREATE TABLE IF NOT EXISTS signature_bands (
    band BIGINT NOT NULL, article_id TEXT NOT NULL, PRIMARY KEY (band, article_id))"""
# Added without a new schema version: a store opened without them gets them (_create).
NEAR_DUPLICATES = (
    """CREATE TABLE IF NOT EXISTS signatures (
        article_id TEXT PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
        minhash BYTEA NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS copies (
        id TEXT PRIMARY KEY, copy_of TEXT NOT NULL, key TEXT, title TEXT NOT NULL,
        source TEXT NOT NULL, date TEXT, lang TEXT NOT NULL, text TEXT NOT NULL,
        similarity DOUBLE PRECISION NOT NULL, added_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS copies_of ON copies(copy_of)",
    SIGNATURE_BANDS,
)


# The articles by source (for LIKE 'prefix%') and by key (PostgresStore.ids_from_source,
# ids_with_key: looked up on every add), and by day (the expression of date windows, and
# the listing's pages: PostgresStore.newest); a store made before them gets them at its next
# write.
ARTICLE_INDEXES = (
    "CREATE INDEX IF NOT EXISTS articles_source ON articles (source text_pattern_ops)",
    "CREATE INDEX IF NOT EXISTS articles_key ON articles (key)",
    f"CREATE INDEX IF NOT EXISTS articles_day ON articles (({day_sql()}), id)",
)


def schema(dim: int) -> tuple[str, ...]:
    """The statements that create the tables for vectors of ``dim`` dimensions."""
    return (
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE IF NOT EXISTS articles (
            id TEXT PRIMARY KEY, key TEXT, title TEXT NOT NULL, source TEXT NOT NULL,
            date TEXT, lang TEXT NOT NULL, text TEXT NOT NULL, added_at TEXT NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS chunks (
            id BIGINT PRIMARY KEY,
            article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            ordinal INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
            vector vector({dim}) NOT NULL)""",
        *ARTICLE_INDEXES,
        "CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id)",
        "CREATE INDEX IF NOT EXISTS chunks_vector ON chunks USING hnsw (vector vector_cosine_ops)",
        f"""CREATE TABLE IF NOT EXISTS sentences (
            id BIGINT PRIMARY KEY,
            article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            start INTEGER NOT NULL, "end" INTEGER NOT NULL, vector halfvec({dim}) NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS sentences_article ON sentences(article_id, start)",
        """CREATE TABLE IF NOT EXISTS chunk_terms (
            id BIGINT PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
            idx INT4[] NOT NULL, val REAL[] NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS sentence_terms (
            id BIGINT PRIMARY KEY REFERENCES sentences(id) ON DELETE CASCADE,
            idx INT4[] NOT NULL, val REAL[] NOT NULL)""",
        "CREATE SEQUENCE IF NOT EXISTS piece_ids",
        *NEAR_DUPLICATES,
    )


def redacted(url: str) -> str:
    """The connection URL without its password, to name the database in messages."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "(an unreadable ARTICLEBOT_POSTGRES_URL)"
    params.pop("password", None)
    return make_conninfo(**params)


def connect(url: str, **options: Any) -> psycopg.Connection:
    """A connection (in autocommit mode; ``options`` such as ``row_factory`` go to psycopg)
    to the database at ``url``; StoreError if there is none, in one line that names the
    setting and the database (without its password)."""
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10, **options)
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(
            f"cannot connect to ARTICLEBOT_POSTGRES_URL ({redacted(url)}): {first}"
        ) from None


def store_exists(url: str) -> bool:
    """Whether the database at ``url`` holds an articlebot store (False if unreachable)."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as db:
            return db.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()[0]
    except psycopg.Error:
        return False

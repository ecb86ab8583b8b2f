"""The SQLite tables of a FaissStore (index/faiss_store.py describes the data directory)."""

SCHEMA_VERSION = "2"  # 2: vectors in segments (1: one file a kind, rewritten on each change)
DB_NAME = "store.sqlite"

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
    "CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id)",
    "CREATE INDEX IF NOT EXISTS chunks_segment ON chunks(segment)",
    """CREATE TABLE IF NOT EXISTS sentences (
        id INTEGER PRIMARY KEY, article_id TEXT NOT NULL REFERENCES articles(id),
        start INTEGER NOT NULL, "end" INTEGER NOT NULL, segment INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS sentences_article ON sentences(article_id, start)",
    "CREATE INDEX IF NOT EXISTS sentences_segment ON sentences(segment)",
    """CREATE TABLE IF NOT EXISTS segments (
        kind TEXT NOT NULL, number INTEGER NOT NULL, vectors INTEGER NOT NULL,
        sha256 TEXT NOT NULL, PRIMARY KEY (kind, number))""",
    """CREATE TABLE IF NOT EXISTS chunk_terms (
        id INTEGER PRIMARY KEY REFERENCES chunks(id), idx BLOB NOT NULL, val BLOB NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS sentence_terms (
        id INTEGER PRIMARY KEY REFERENCES sentences(id), idx BLOB NOT NULL, val BLOB NOT NULL)""",
    *NEAR_DUPLICATES,
)
TABLES = (
    "chunk_terms",
    "sentence_terms",
    "chunks",
    "sentences",
    "signatures",
    "articles",
    "segments",
)

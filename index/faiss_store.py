"""The article store in a data directory: FAISS files for vectors, SQLite for the rest.

Layout of a data directory::

    store.sqlite             articles, chunks, sentences, their latent terms, and meta
                             (schema, embedder, generation, next id, files' checksums)
    chunks-<gen>.faiss       one vector per chunk, FAISS id = chunk id
    sentences-<gen>.faiss    one vector per sentence, FAISS id = sentence id
    write.lock               flocked by the one process that writes (index/writelock.py)

A writer holds the write lock, writes the next generation's FAISS files next to the
current ones (a .tmp name, fsynced, then renamed), commits the SQLite rows, the new
generation number and the files' SHA-256 in one transaction, then deletes every other
generation's files. A crash at any point leaves a committed generation whose files and
rows agree; the next writer deletes what the crashed one left. No pickle.

Readers never delete anything. A reader reads the generation number and loads that
generation's files inside one SQLite read transaction, and the database stays in
rollback-journal mode (not WAL) for this: an open read transaction holds SQLite's shared
lock, so no writer can commit the next generation, and so delete the files the reader is
loading, until the reader has them in memory. Every read (a search, a chunk's sentences)
is one read transaction: it sees one generation's vectors and rows, whatever writers do.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import faiss
import numpy as np

from .sqlite import transaction
from .store import ArticleInfo, StoreError, StoreMismatchError
from .types import Article, Chunk, EmbedderIdentity, Hit, PreparedArticle, Sentence, Terms
from .vector_files import KINDS, REBUILD, VectorFiles
from .writelock import WriteLock

SCHEMA_VERSION = "1"
DB_NAME = "store.sqlite"

# One statement each: executescript would commit the transaction a rebuild runs them in.
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS articles (
        id TEXT PRIMARY KEY, key TEXT, title TEXT NOT NULL, source TEXT NOT NULL,
        date TEXT, lang TEXT NOT NULL, text TEXT NOT NULL, added_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS chunks (
        id INTEGER PRIMARY KEY, article_id TEXT NOT NULL REFERENCES articles(id),
        ordinal INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id)",
    """CREATE TABLE IF NOT EXISTS sentences (
        id INTEGER PRIMARY KEY, article_id TEXT NOT NULL REFERENCES articles(id),
        start INTEGER NOT NULL, "end" INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS sentences_article ON sentences(article_id, start)",
    """CREATE TABLE IF NOT EXISTS chunk_terms (
        id INTEGER PRIMARY KEY REFERENCES chunks(id), idx BLOB NOT NULL, val BLOB NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS sentence_terms (
        id INTEGER PRIMARY KEY REFERENCES sentences(id), idx BLOB NOT NULL, val BLOB NOT NULL)""",
)
TABLES = ("chunk_terms", "sentence_terms", "chunks", "sentences", "articles")

# A change: given copies of the chunk and sentence indexes and the next free id, change the
# database and the copies; return the next free id, or None if there was nothing to change.
Change = Callable[[faiss.Index, faiss.Index, int], int | None]


class FaissStore:
    """An ArticleStore (index/store.py) in a data directory: FAISS for vectors, SQLite."""

    def __init__(
        self,
        path: str | os.PathLike,
        identity: EmbedderIdentity,
        *,
        verify: bool = True,
        write_lock_timeout: float = 300.0,
    ) -> None:
        """Open the store in ``path`` for vectors of the embedder ``identity``, creating it
        if needed.

        Raises StoreMismatchError if it was built with another embedder, and StoreError if
        it has another schema or its vector files are missing or damaged. ``verify=False``
        opens it regardless, for ``check`` and for a rebuild (``replace_all``).
        """
        self.path = Path(path)
        self.identity = identity
        self.path.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            self.path / DB_NAME, timeout=60, check_same_thread=False, isolation_level=None
        )
        self._db.row_factory = sqlite3.Row
        # Readers' consistency depends on the shared lock of rollback-journal mode (above).
        self._db.execute("PRAGMA journal_mode=DELETE")
        self._lock = threading.RLock()  # guards the connection and the in-memory indexes
        self._write_lock = WriteLock(self.path, write_lock_timeout)
        self._files = VectorFiles(self.path, identity.dim)
        self._chunk_index: faiss.Index | None = None
        self._sentence_index: faiss.Index | None = None
        self._generation = -1  # of the indexes in memory; -1: none loaded
        with self._lock:
            self._create()
            if verify:
                with self._reading(vectors=True):
                    pass

    # ---- opening -------------------------------------------------------------------

    def _create(self) -> None:
        """Create the tables and the meta rows of a new store; leave an existing one be."""
        exists = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        if self._db.execute(exists).fetchone() and self._meta():
            return  # without a write transaction, which would wait for a writer at work
        with transaction(self._db):
            self._db.execute(SCHEMA[0])
            if self._meta():
                return
            for statement in SCHEMA[1:]:
                self._db.execute(statement)
            self._db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("schema", SCHEMA_VERSION), ("generation", "0"), ("next_id", "1")]
                + list(self._identity_meta().items()),
            )

    def _meta(self) -> dict[str, str]:
        return {row["key"]: row["value"] for row in self._db.execute("SELECT key, value FROM meta")}

    def _identity_meta(self) -> dict[str, str]:
        i = self.identity
        return {
            "embed_backend": i.backend,
            "embed_model": i.model,
            "embed_dim": str(i.dim),
            "sentence_role": i.sentence_role,
        }

    def _check_meta(self, meta: dict[str, str]) -> None:
        """Refuse a store of another schema or of another embedder, saying how to fix it."""
        if meta.get("schema") != SCHEMA_VERSION:
            raise StoreError(
                f"The index in {self.path} has the layout of another version of articlebot "
                f"(schema {meta.get('schema', '?')}; this version reads schema "
                f"{SCHEMA_VERSION}): convert it with {REBUILD}"
            )
        ours = self._identity_meta()
        # Indexes made before sentence roles existed embedded sentences as passages.
        theirs = {k: meta.get(k, "passage" if k == "sentence_role" else "?") for k in ours}
        if ours == theirs:
            return
        if ours | {"sentence_role": ""} == theirs | {"sentence_role": ""}:
            raise StoreMismatchError(
                f"The index in {self.path} was built by an earlier version of articlebot "
                f"(sentences embedded in the {theirs['sentence_role']} role; this version "
                f"embeds them in the {ours['sentence_role']} role, which answers better). "
                f"Re-embed every article once: {REBUILD}"
            )
        built = _spec(theirs["embed_backend"], theirs["embed_model"])
        raise StoreMismatchError(
            f"The index in {self.path} was built with embeddings {built!r} "
            f"({theirs['embed_dim']} dimensions), but the settings ask for "
            f"{self.identity.spec!r} ({self.identity.dim} dimensions). Vectors of "
            "different models cannot be mixed. Either set ARTICLEBOT_EMBEDDINGS="
            f"{built}, or re-embed every article with the new model: {REBUILD}"
        )

    # ---- reading -------------------------------------------------------------------

    @contextmanager
    def _reading(self, vectors: bool = False) -> Iterator[None]:
        """A consistent view for the block: one read transaction, and with ``vectors`` the
        indexes of the generation it sees (loaded if another process changed them)."""
        with self._lock:
            if self._db.in_transaction:  # inside a write, or a read already open
                if vectors:
                    self._sync()
                yield
                return
            with transaction(self._db, "DEFERRED"):
                if vectors:
                    self._sync()
                yield

    def _sync(self) -> None:
        meta = self._meta()
        if int(meta["generation"]) != self._generation:
            self._check_meta(meta)
            generation = int(meta["generation"])
            chunks, sentences = (
                self._files.read(kind, generation, meta.get(f"{kind}_sha256")) for kind in KINDS
            )
            self._chunk_index, self._sentence_index = chunks, sentences
            self._generation = generation

    def __len__(self) -> int:
        with self._reading():
            return self._db.execute("SELECT count(*) FROM articles").fetchone()[0]

    def articles(self) -> list[ArticleInfo]:
        with self._reading():
            rows = self._db.execute(
                "SELECT a.id, a.key, a.title, a.source, a.lang, a.date, a.added_at, "
                "length(a.text) AS chars, count(c.id) AS chunks FROM articles a "
                "LEFT JOIN chunks c ON c.article_id = a.id GROUP BY a.id ORDER BY a.added_at, a.id"
            ).fetchall()
        return [ArticleInfo(**dict(row)) for row in rows]

    def article(self, article_id: str) -> Article | None:
        with self._reading():
            rows = self._db.execute(
                "SELECT * FROM articles WHERE substr(id, 1, ?) = ? LIMIT 2",
                (len(article_id), article_id),
            ).fetchall()
        if len(rows) != 1 or not article_id:
            return None
        return _article(rows[0])

    def every_article(self) -> list[tuple[Article, str]]:
        with self._reading():
            rows = self._db.execute("SELECT * FROM articles ORDER BY added_at, id").fetchall()
        return [(_article(row), row["added_at"]) for row in rows]

    def known_ids(self, ids: Iterable[str]) -> set[str]:
        ids = list(ids)
        found: set[str] = set()
        with self._reading():
            for i in range(0, len(ids), 500):  # SQLite limits the parameters of a statement
                part = ids[i : i + 500]
                marks = ",".join("?" * len(part))
                query = f"SELECT id FROM articles WHERE id IN ({marks})"
                found.update(r[0] for r in self._db.execute(query, part))
        return found

    def stats(self) -> dict[str, object]:
        with self._reading():
            counts = {
                table: self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("articles", "chunks", "sentences")
            }
            langs = dict(
                self._db.execute("SELECT lang, count(*) FROM articles GROUP BY lang").fetchall()
            )
            generation = int(self._meta()["generation"])
        size = sum(f.stat().st_size for f in self.path.iterdir() if f.is_file())
        return {
            "data_dir": str(self.path),
            **counts,
            "languages": langs,
            "embeddings": self.identity.spec,
            "dimensions": self.identity.dim,
            "generation": generation,
            "bytes_on_disk": size,
        }

    def search(self, vector: np.ndarray, k: int) -> list[Hit]:
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        with self._reading(vectors=True):
            index = self._chunk_index
            if index.ntotal == 0:
                return []
            scores, ids = index.search(query, min(k, index.ntotal))
            found = [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
            chunks = self._chunks([i for i, _ in found])
        return [Hit(chunks[i], score) for i, score in found if i in chunks]

    def chunk_sentences(self, chunk: Chunk) -> tuple[list[Sentence], np.ndarray]:
        with self._reading(vectors=True):
            rows = self._db.execute(
                'SELECT s.id, s.start, s."end", substr(a.text, s.start + 1, s."end" - s.start) '
                "AS text FROM sentences s JOIN articles a ON a.id = s.article_id "
                'WHERE s.article_id = ? AND s."end" > ? AND s.start < ? ORDER BY s.start',
                (chunk.article_id, chunk.start, chunk.end),
            ).fetchall()
            sentences = [
                Sentence(r["id"], chunk.article_id, r["start"], r["end"], r["text"]) for r in rows
            ]
            if not sentences:
                return [], np.zeros((0, self.identity.dim), dtype=np.float32)
            vectors = np.vstack([self._sentence_index.reconstruct(s.id) for s in sentences])
        return sentences, vectors

    def chunk_terms(self, ids: list[int]) -> dict[int, Terms]:
        return self._terms("chunk_terms", ids)

    def sentence_terms(self, ids: list[int]) -> dict[int, Terms]:
        return self._terms("sentence_terms", ids)

    def _terms(self, table: str, ids: list[int]) -> dict[int, Terms]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._reading():
            rows = self._db.execute(
                f"SELECT id, idx, val FROM {table} WHERE id IN ({marks})", ids
            ).fetchall()
        return {
            r["id"]: (np.frombuffer(r["idx"], "<i4"), np.frombuffer(r["val"], "<f4")) for r in rows
        }

    def _chunks(self, ids: list[int]) -> dict[int, Chunk]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._db.execute(
            'SELECT c.id, c.article_id, c.ordinal, c.start, c."end", a.title, a.source, a.lang, '
            'substr(a.text, c.start + 1, c."end" - c.start) AS text '
            f"FROM chunks c JOIN articles a ON a.id = c.article_id WHERE c.id IN ({marks})",
            ids,
        ).fetchall()
        return {r["id"]: Chunk(**dict(r)) for r in rows}

    def check(self) -> list[str]:
        with self._lock, transaction(self._db, "DEFERRED"):
            meta = self._meta()
            if meta.get("schema") != SCHEMA_VERSION:
                return [
                    f"the index has schema {meta.get('schema', '?')}; this version of "
                    f"articlebot reads schema {SCHEMA_VERSION} ({REBUILD} converts it)"
                ]
            found = []
            try:
                self._check_meta(meta)
            except StoreError as exc:
                found.append(str(exc))
            generation = int(meta["generation"])
            for kind in KINDS:
                rows = {r[0] for r in self._db.execute(f"SELECT id FROM {kind}")}
                found += self._files.problems(
                    kind, generation, meta.get(f"{kind}_sha256"), meta.get("embed_dim"), rows
                )
            for kind, terms in zip(KINDS, ("chunk_terms", "sentence_terms"), strict=True):
                orphans = self._count(
                    f"SELECT count(*) FROM {kind} WHERE article_id NOT IN (SELECT id FROM articles)"
                )
                if orphans:
                    found.append(f"{orphans} {kind} belong to no article")
                orphans = self._count(
                    f"SELECT count(*) FROM {terms} WHERE id NOT IN (SELECT id FROM {kind})"
                )
                if orphans:
                    found.append(f"{orphans} latent terms of {kind} belong to none")
            last = self._count(
                "SELECT max(coalesce((SELECT max(id) FROM chunks), 0), "
                "coalesce((SELECT max(id) FROM sentences), 0))"
            )
            if last >= int(meta.get("next_id", 1)):
                found.append(f"the next id ({meta.get('next_id')}) is one in use ({last})")
            return found

    def _count(self, query: str) -> int:
        return self._db.execute(query).fetchone()[0]

    # ---- writing -------------------------------------------------------------------

    def writing(self) -> AbstractContextManager[None]:
        return self._write_lock.held()

    def add(self, articles: Sequence[PreparedArticle]) -> list[Article]:
        self._check_vectors(articles)
        added: list[Article] = []

        def change(chunk_index: faiss.Index, sentence_index: faiss.Index, next_id: int):
            # Skip what is stored already, by another process meanwhile or twice in the list.
            seen = self.known_ids(p.article.id for p in articles)
            new = []
            for prepared in articles:
                if prepared.article.id not in seen:
                    seen.add(prepared.article.id)
                    new.append(prepared)
            added.extend(p.article for p in new)
            return self._insert(new, chunk_index, sentence_index, next_id) if new else None

        if articles:
            self._change(change)
        return added

    def remove(self, article_id: str) -> Article:
        with self.writing():
            article = self.article(article_id)
            if article is None:
                raise StoreError(f"no article with id {article_id!r} (see: articlebot index list)")

            def change(chunk_index: faiss.Index, sentence_index: faiss.Index, next_id: int):
                for table, terms, index in (
                    ("chunks", "chunk_terms", chunk_index),
                    ("sentences", "sentence_terms", sentence_index),
                ):
                    query = f"SELECT id FROM {table} WHERE article_id = ?"
                    ids = [r[0] for r in self._db.execute(query, (article.id,))]
                    if ids:
                        index.remove_ids(np.array(ids, dtype=np.int64))
                    self._db.execute(f"DELETE FROM {terms} WHERE id IN ({query})", (article.id,))
                    self._db.execute(f"DELETE FROM {table} WHERE article_id = ?", (article.id,))
                self._db.execute("DELETE FROM articles WHERE id = ?", (article.id,))
                return next_id

            self._change(change)
        return article

    def replace_all(self, articles: Sequence[PreparedArticle]) -> None:
        self._check_vectors(articles)

        def change(chunk_index: faiss.Index, sentence_index: faiss.Index, next_id: int):
            # Dropped, not emptied: the tables may be of an older schema.
            for table in TABLES:
                self._db.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in SCHEMA[1:]:
                self._db.execute(statement)
            return self._insert(articles, chunk_index, sentence_index, next_id)

        self._change(change, fresh=True)

    def _check_vectors(self, articles: Sequence[PreparedArticle]) -> None:
        for prepared in articles:
            for vectors in (prepared.chunk_vectors, prepared.sentence_vectors):
                if vectors.ndim != 2 or vectors.shape[1] != self.identity.dim:
                    raise StoreMismatchError(
                        f"article {prepared.article.id} has vectors of {vectors.shape[-1]} "
                        f"dimensions; this store holds {self.identity.dim} "
                        f"({self.identity.spec})"
                    )

    def _change(self, change: Change, fresh: bool = False) -> None:
        """Apply ``change`` to copies of the indexes and to the database, atomically.

        With ``fresh``, ``change`` starts from empty indexes and the store's embedder and
        schema are recorded as the store's own.
        """
        with self.writing(), self._lock:
            generation = None
            try:
                with transaction(self._db):
                    meta = self._meta()
                    # Files a crashed writer left: only we write, and no reader loads them.
                    self._files.delete_all_but(int(meta.get("generation", 0)))
                    if fresh:
                        chunk_index, sentence_index = self._files.empty(), self._files.empty()
                    else:
                        self._sync()
                        chunk_index = faiss.clone_index(self._chunk_index)
                        sentence_index = faiss.clone_index(self._sentence_index)
                    next_id = change(chunk_index, sentence_index, int(meta.get("next_id", 1)))
                    if next_id is None:
                        return  # nothing changed: the transaction commits nothing
                    generation = int(meta.get("generation", 0)) + 1
                    values = {"generation": str(generation), "next_id": str(next_id)}
                    for kind, index in zip(KINDS, (chunk_index, sentence_index), strict=True):
                        values[f"{kind}_sha256"] = self._files.write(
                            index, self._files.path(kind, generation)
                        )
                    if fresh:
                        values |= {"schema": SCHEMA_VERSION, **self._identity_meta()}
                    self._db.executemany(
                        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                        [(k, v) for k, v in values.items()],
                    )
            except BaseException:
                if generation is not None:
                    self._files.delete(generation)
                raise
            self._chunk_index, self._sentence_index = chunk_index, sentence_index
            self._generation = generation
            self._files.delete_all_but(generation)

    def _insert(
        self,
        articles: Sequence[PreparedArticle],
        chunk_index: faiss.Index,
        sentence_index: faiss.Index,
        next_id: int,
    ) -> int:
        """Write the articles' rows and add their vectors; returns the next free id.

        Ids are given in order: each article's chunks, then its sentences.
        """
        now = datetime.now(UTC).isoformat(timespec="seconds")
        rows: dict[str, list[tuple]] = {kind: [] for kind in KINDS}
        terms: dict[str, list[tuple]] = {kind: [] for kind in KINDS}
        for p in articles:
            a = p.article
            self._db.execute(
                "INSERT INTO articles (id, key, title, source, date, lang, text, added_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (a.id, a.key, a.title, a.source, a.date, a.lang, a.text, p.added_at or now),
            )
            for kind, spans, pieces_terms in (
                ("chunks", p.chunks, p.chunk_terms),
                ("sentences", p.sentences, p.sentence_terms),
            ):
                ids = range(next_id, next_id + len(spans))
                next_id += len(spans)
                for ordinal, (i, span) in enumerate(zip(ids, spans, strict=True)):
                    ordinal_column = (ordinal,) if kind == "chunks" else ()
                    rows[kind].append((i, a.id, *ordinal_column, span.start, span.end))
                if pieces_terms is not None:
                    terms[kind] += [
                        (i, idx.astype("<i4").tobytes(), val.astype("<f4").tobytes())
                        for i, (idx, val) in zip(ids, pieces_terms, strict=True)
                    ]
        self._db.executemany(
            'INSERT INTO chunks (id, article_id, ordinal, start, "end") VALUES (?, ?, ?, ?, ?)',
            rows["chunks"],
        )
        self._db.executemany(
            'INSERT INTO sentences (id, article_id, start, "end") VALUES (?, ?, ?, ?)',
            rows["sentences"],
        )
        for kind, table in zip(KINDS, ("chunk_terms", "sentence_terms"), strict=True):
            self._db.executemany(
                f"INSERT INTO {table} (id, idx, val) VALUES (?, ?, ?)", terms[kind]
            )
        for kind, index, vectors in (
            ("chunks", chunk_index, [p.chunk_vectors for p in articles]),
            ("sentences", sentence_index, [p.sentence_vectors for p in articles]),
        ):
            ids = np.array([r[0] for r in rows[kind]], dtype=np.int64)
            if len(ids):
                index.add_with_ids(np.vstack(vectors).astype(np.float32, copy=False), ids)
        return next_id

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _article(row: sqlite3.Row) -> Article:
    """An Article from its row in the articles table."""
    return Article(
        text=row["text"],
        title=row["title"],
        source=row["source"],
        lang=row["lang"],
        date=row["date"],
        key=row["key"],
        id=row["id"],
    )


def _spec(backend: str, model: str) -> str:
    """The setting string that selects an embedder (as EmbedderIdentity.spec)."""
    return backend if backend == model else f"{backend}:{model}"

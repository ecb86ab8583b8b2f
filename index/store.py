"""The article store on disk: FAISS index files for vectors, SQLite for everything else.

Layout of a data directory::

    store.sqlite             articles, chunks, sentences, and meta (embedder, generation)
    chunks-<gen>.faiss       one vector per chunk, FAISS id = chunk id
    sentences-<gen>.faiss    one vector per sentence, FAISS id = sentence id

A change writes the next generation's FAISS files next to the current ones, then commits
the SQLite rows and the new generation number in one transaction, then deletes the old
files. A crash at any point leaves a generation whose files and rows agree. No pickle.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from .chunking import split_chunks, split_sentences
from .embeddings import ArticleEmbeddings
from .types import Article, Chunk, Hit, Sentence

SCHEMA_VERSION = "1"
DB_NAME = "store.sqlite"
EMBED_BATCH = 16

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY, key TEXT, title TEXT NOT NULL, source TEXT NOT NULL,
    date TEXT, lang TEXT NOT NULL, text TEXT NOT NULL, added_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY, article_id TEXT NOT NULL REFERENCES articles(id),
    ordinal INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id);
CREATE TABLE IF NOT EXISTS sentences (
    id INTEGER PRIMARY KEY, article_id TEXT NOT NULL REFERENCES articles(id),
    start INTEGER NOT NULL, "end" INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sentences_article ON sentences(article_id, start);
CREATE TABLE IF NOT EXISTS chunk_terms (
    id INTEGER PRIMARY KEY REFERENCES chunks(id), idx BLOB NOT NULL, val BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS sentence_terms (
    id INTEGER PRIMARY KEY REFERENCES sentences(id), idx BLOB NOT NULL, val BLOB NOT NULL
);
"""


class StoreError(RuntimeError):
    """The store cannot do what was asked; the message says why and what to do."""


class StoreMismatchError(StoreError):
    """The store was built with another embedding model than the settings name."""


@dataclass
class ArticleInfo:
    """An indexed article, without its text."""

    id: str
    title: str
    source: str
    lang: str
    date: str | None
    added_at: str
    chunks: int
    chars: int
    key: str | None = None


@dataclass
class AddResult:
    added: list[Article]
    skipped: list[Article]  # already indexed (same content)
    chunks: int


ProgressFn = Callable[[int, int], None]  # (done, total) units of embedding work


class ArticleStore:
    """The collection of indexed articles, searchable by vector."""

    def __init__(
        self,
        path: str | os.PathLike,
        embeddings: ArticleEmbeddings,
        *,
        chunk_size: int = 500,
        chunk_overlap: int = 50,
        check_embedder: bool = True,
    ) -> None:
        """Open the store in ``path``, creating it if needed.

        Raises StoreMismatchError if it was built with another embedder, unless
        ``check_embedder`` is false (only ``rebuild`` should need that).
        """
        self.path = Path(path)
        self.embeddings = embeddings
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.path.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            self.path / DB_NAME, timeout=60, check_same_thread=False, isolation_level=None
        )
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()  # guards the connection and the in-memory indexes
        self._write_lock = threading.Lock()  # one writer at a time in this process
        with self._lock:
            self._db.executescript(SCHEMA)
            self._init_meta(check_embedder)
            self._load_indexes()

    # ---- opening -------------------------------------------------------------------

    def _meta(self) -> dict[str, str]:
        return {row["key"]: row["value"] for row in self._db.execute("SELECT key, value FROM meta")}

    def _init_meta(self, check_embedder: bool) -> None:
        meta = self._meta()
        if not meta:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if not self._meta():
                    self._db.executemany(
                        "INSERT INTO meta (key, value) VALUES (?, ?)",
                        [
                            ("schema", SCHEMA_VERSION),
                            ("generation", "0"),
                            ("next_id", "1"),
                            *self._embedder_meta().items(),
                        ],
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            meta = self._meta()
        if check_embedder:
            self._check_embedder(meta)

    def _embedder_meta(self) -> dict[str, str]:
        e = self.embeddings
        return {
            "embed_backend": e.backend,
            "embed_model": e.model,
            "embed_dim": str(e.dim),
            "sentence_role": e.sentence_role,
        }

    def _check_embedder(self, meta: dict[str, str]) -> None:
        ours = self._embedder_meta()
        # Indexes made before sentence roles existed embedded sentences as passages.
        theirs = {k: meta.get(k, "passage" if k == "sentence_role" else "?") for k in ours}
        if ours == theirs:
            return
        if ours | {"sentence_role": ""} == theirs | {"sentence_role": ""}:
            raise StoreMismatchError(
                f"The index in {self.path} was built by an earlier version of articlebot "
                f"(sentences embedded in the {theirs['sentence_role']} role; this version "
                f"embeds them in the {ours['sentence_role']} role, which answers better). "
                "Re-embed every article once: articlebot index rebuild"
            )
        built = _spec(theirs["embed_backend"], theirs["embed_model"])
        raise StoreMismatchError(
            f"The index in {self.path} was built with embeddings {built!r} "
            f"({theirs['embed_dim']} dimensions), but the settings ask for "
            f"{self.embeddings.spec!r} ({self.embeddings.dim} dimensions). Vectors of "
            "different models cannot be mixed. Either set ARTICLEBOT_EMBEDDINGS="
            f"{built}, or re-embed every article with the new model: "
            "articlebot index rebuild"
        )

    def _load_indexes(self) -> None:
        self._generation = int(self._meta()["generation"])
        self._data_version = self._db.execute("PRAGMA data_version").fetchone()[0]
        self._chunk_index = self._read_index("chunks", self._generation)
        self._sentence_index = self._read_index("sentences", self._generation)
        self._remove_stale_files()

    def _index_file(self, kind: str, generation: int) -> Path:
        return self.path / f"{kind}-{generation}.faiss"

    def _read_index(self, kind: str, generation: int) -> faiss.Index:
        file = self._index_file(kind, generation)
        if generation == 0:
            return faiss.IndexIDMap2(faiss.IndexFlatIP(self.embeddings.dim))
        if not file.exists():
            raise StoreError(
                f"{file} is missing: the index is damaged; rebuild it from its articles"
            )
        return faiss.read_index(str(file))

    def _remove_stale_files(self) -> None:
        keep = {self._index_file(k, self._generation).name for k in ("chunks", "sentences")}
        for file in self.path.glob("*.faiss*"):
            if file.name not in keep:
                file.unlink(missing_ok=True)

    def _refresh(self) -> None:
        """Pick up changes another process committed since we last looked."""
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            if int(self._meta()["generation"]) != self._generation:
                self._load_indexes()
            self._data_version = version

    # ---- reading -------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            self._refresh()
            return self._db.execute("SELECT count(*) FROM articles").fetchone()[0]

    def articles(self) -> list[ArticleInfo]:
        """Every indexed article, oldest first."""
        with self._lock:
            self._refresh()
            rows = self._db.execute(
                "SELECT a.id, a.key, a.title, a.source, a.lang, a.date, a.added_at, "
                "length(a.text) AS chars, count(c.id) AS chunks FROM articles a "
                "LEFT JOIN chunks c ON c.article_id = a.id GROUP BY a.id ORDER BY a.added_at, a.id"
            ).fetchall()
        return [ArticleInfo(**dict(row)) for row in rows]

    def article(self, article_id: str) -> Article | None:
        """The article with this id (or with this id as a unique prefix)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM articles WHERE substr(id, 1, ?) = ? LIMIT 2",
                (len(article_id), article_id),
            ).fetchall()
        if len(rows) != 1 or not article_id:
            return None
        return _article(rows[0])

    def stats(self) -> dict[str, object]:
        """Counts and sizes, for `index stats`."""
        with self._lock:
            self._refresh()
            counts = {
                table: self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("articles", "chunks", "sentences")
            }
            langs = dict(
                self._db.execute("SELECT lang, count(*) FROM articles GROUP BY lang").fetchall()
            )
        size = sum(f.stat().st_size for f in self.path.iterdir() if f.is_file())
        return {
            "data_dir": str(self.path),
            **counts,
            "languages": langs,
            "embeddings": self.embeddings.spec,
            "dimensions": self.embeddings.dim,
            "generation": self._generation,
            "bytes_on_disk": size,
        }

    def search(self, query: np.ndarray, k: int) -> list[Hit]:
        """The k chunks nearest to a query vector, best first."""
        with self._lock:
            self._refresh()
            if self._chunk_index.ntotal == 0:
                return []
            scores, ids = self._chunk_index.search(
                query.reshape(1, -1), min(k, self._chunk_index.ntotal)
            )
            found = [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
            chunks = self._chunks([i for i, _ in found])
        return [Hit(chunks[i], score) for i, score in found if i in chunks]

    def chunk_sentences(self, chunk: Chunk) -> tuple[list[Sentence], np.ndarray]:
        """The sentences that lie within a chunk, and their vectors."""
        with self._lock:
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
                return [], np.zeros((0, self.embeddings.dim), dtype=np.float32)
            vectors = np.vstack([self._sentence_index.reconstruct(s.id) for s in sentences])
        return sentences, vectors

    def chunk_terms(self, ids: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """The latent terms (indices, unit-length weights) of these chunks, where stored."""
        return self._terms("chunk_terms", ids)

    def sentence_terms(self, ids: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """The latent terms (indices, unit-length weights) of these sentences, where stored."""
        return self._terms("sentence_terms", ids)

    def _terms(self, table: str, ids: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._lock:
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

    # ---- writing -------------------------------------------------------------------

    def add(self, articles: Iterable[Article], progress: ProgressFn | None = None) -> AddResult:
        """Index new articles; ones whose content is already indexed are skipped.

        Only the new articles' chunks and sentences are embedded. All or nothing: if
        anything fails, the store is as it was.
        """
        unique: dict[str, Article] = {}
        for article in articles:
            unique.setdefault(article.id, article)
        with self._write_lock:
            with self._lock:
                self._refresh()
                known = self._existing_ids(list(unique))
            new = [a for a in unique.values() if a.id not in known]
            skipped = [a for a in unique.values() if a.id in known]
            if not new:
                return AddResult([], skipped, 0)
            pieces = [self._split(a) for a in new]
            chunk_vectors, sentence_vectors, chunk_terms, sentence_terms = self._embed(
                new, pieces, progress
            )

            def change(chunk_index, sentence_index, next_id):
                # Another process may have added some of them meanwhile: skip those.
                known = self._existing_ids([a.id for a in new])
                keep = [i for i, a in enumerate(new) if a.id not in known]
                c_rows, s_rows = self._vector_rows(pieces)
                kept_chunks = [r for i in keep for r in c_rows[i]]
                kept_sentences = [r for i in keep for r in s_rows[i]]
                return self._insert(
                    [new[i] for i in keep],
                    [pieces[i] for i in keep],
                    chunk_vectors[kept_chunks],
                    sentence_vectors[kept_sentences],
                    chunk_index,
                    sentence_index,
                    next_id,
                    chunk_terms=[chunk_terms[r] for r in kept_chunks] if chunk_terms else None,
                    sentence_terms=(
                        [sentence_terms[r] for r in kept_sentences] if sentence_terms else None
                    ),
                )

            self._transaction(change)
        return AddResult(new, skipped, len(chunk_vectors))

    def _split(self, article: Article):
        return (
            split_chunks(article.text, self.chunk_size, self.chunk_overlap),
            split_sentences(article.text),
        )

    @staticmethod
    def _vector_rows(pieces) -> tuple[list[list[int]], list[list[int]]]:
        """For each article, the rows of its chunk and sentence vectors in ``_embed``'s output."""
        c_rows, s_rows, c, s = [], [], 0, 0
        for chunk_spans, sentence_spans in pieces:
            c_rows.append(list(range(c, c + len(chunk_spans))))
            s_rows.append(list(range(s, s + len(sentence_spans))))
            c += len(chunk_spans)
            s += len(sentence_spans)
        return c_rows, s_rows

    def _embed(self, articles, pieces, progress: ProgressFn | None):
        """Vectors of every chunk, then of every sentence, of the articles (the slow part),
        and the latent terms of both if the embedder has them (else None)."""
        chunk_texts = [
            a.text[span.start : span.end]
            for a, (chunks, _) in zip(articles, pieces, strict=True)
            for span in chunks
        ]
        sentence_texts = [
            a.text[span.start : span.end]
            for a, (_, sentences) in zip(articles, pieces, strict=True)
            for span in sentences
        ]
        e = self.embeddings
        has_terms = e.encode_terms([]) is not None
        total = (len(chunk_texts) + len(sentence_texts)) * (2 if has_terms else 1)
        done = 0
        if progress:
            progress(0, total)

        def batches(texts, encode):
            nonlocal done
            for i in range(0, len(texts), EMBED_BATCH):
                part = texts[i : i + EMBED_BATCH]
                yield encode(part)
                done += len(part)
                if progress:
                    progress(done, total)

        def vectors(texts, encode):
            return np.vstack([np.zeros((0, e.dim), np.float32), *batches(texts, encode)])

        def terms(texts):
            return [t for part in batches(texts, e.encode_terms) for t in part]

        return (
            vectors(chunk_texts, e.encode_passages),
            vectors(sentence_texts, e.encode_sentences),
            terms(chunk_texts) if has_terms else None,
            terms(sentence_texts) if has_terms else None,
        )

    def _existing_ids(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ",".join("?" * len(part))
            query = f"SELECT id FROM articles WHERE id IN ({marks})"
            found.update(r[0] for r in self._db.execute(query, part))
        return found

    def _insert(
        self,
        articles,
        pieces,
        chunk_vectors,
        sentence_vectors,
        chunk_index,
        sentence_index,
        next_id,
        added_at=None,
        rows=None,
        chunk_terms=None,
        sentence_terms=None,
    ) -> int:
        """Write rows for the articles and add their vectors; returns the next free id."""
        from datetime import UTC, datetime

        now = datetime.now(UTC).isoformat(timespec="seconds")
        added = {r["id"]: r["added_at"] for r in rows} if rows else {}
        chunk_rows, sentence_rows = [], []
        for article, (chunk_spans, sentence_spans) in zip(articles, pieces, strict=True):
            self._db.execute(
                "INSERT INTO articles (id, key, title, source, date, lang, text, added_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    article.id,
                    article.key,
                    article.title,
                    article.source,
                    article.date,
                    article.lang,
                    article.text,
                    added.get(article.id, added_at or now),
                ),
            )
            for ordinal, span in enumerate(chunk_spans):
                chunk_rows.append((next_id, article.id, ordinal, span.start, span.end))
                next_id += 1
            for span in sentence_spans:
                sentence_rows.append((next_id, article.id, span.start, span.end))
                next_id += 1
        self._db.executemany(
            'INSERT INTO chunks (id, article_id, ordinal, start, "end") VALUES (?, ?, ?, ?, ?)',
            chunk_rows,
        )
        self._db.executemany(
            'INSERT INTO sentences (id, article_id, start, "end") VALUES (?, ?, ?, ?)',
            sentence_rows,
        )
        for table, terms, owners in (
            ("chunk_terms", chunk_terms, chunk_rows),
            ("sentence_terms", sentence_terms, sentence_rows),
        ):
            if terms is not None:
                self._db.executemany(
                    f"INSERT INTO {table} (id, idx, val) VALUES (?, ?, ?)",
                    [
                        (row[0], idx.astype("<i4").tobytes(), val.astype("<f4").tobytes())
                        for row, (idx, val) in zip(owners, terms, strict=True)
                    ],
                )
        for index, vectors, ids in (
            (chunk_index, chunk_vectors, [r[0] for r in chunk_rows]),
            (sentence_index, sentence_vectors, [r[0] for r in sentence_rows]),
        ):
            if ids:
                index.add_with_ids(vectors, np.array(ids, dtype=np.int64))
        return next_id

    def remove(self, article_id: str) -> Article:
        """Remove an article (by id or unique id prefix); raises StoreError if there is none."""
        with self._write_lock:
            with self._lock:
                self._refresh()
            article = self.article(article_id)
            if article is None:
                raise StoreError(f"no article with id {article_id!r} (see: articlebot index list)")

            def change(chunk_index: faiss.Index, sentence_index: faiss.Index, next_id: int) -> int:
                for table, terms, index in (
                    ("chunks", "chunk_terms", chunk_index),
                    ("sentences", "sentence_terms", sentence_index),
                ):
                    ids = [
                        r[0]
                        for r in self._db.execute(
                            f"SELECT id FROM {table} WHERE article_id = ?", (article.id,)
                        )
                    ]
                    if ids:
                        index.remove_ids(np.array(ids, dtype=np.int64))
                    self._db.execute(
                        f"DELETE FROM {terms} WHERE id IN "
                        f"(SELECT id FROM {table} WHERE article_id = ?)",
                        (article.id,),
                    )
                    self._db.execute(f"DELETE FROM {table} WHERE article_id = ?", (article.id,))
                self._db.execute("DELETE FROM articles WHERE id = ?", (article.id,))
                return next_id

            self._transaction(change)
        return article

    def _transaction(self, change, fresh: bool = False) -> None:
        """Apply ``change`` to copies of the indexes and to the database, atomically.

        With ``fresh``, ``change`` starts from empty indexes of this store's embedder and
        the store's recorded embedder becomes this one.
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._refresh()
                meta = self._meta()
                generation = int(meta["generation"]) + 1
                if fresh:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                        list(self._embedder_meta().items()),
                    )
                    chunk_index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.embeddings.dim))
                    sentence_index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.embeddings.dim))
                else:
                    self._check_embedder(meta)
                    chunk_index = faiss.clone_index(self._chunk_index)
                    sentence_index = faiss.clone_index(self._sentence_index)
                next_id = change(chunk_index, sentence_index, int(meta["next_id"]))
                self._write_index(chunk_index, self._index_file("chunks", generation))
                self._write_index(sentence_index, self._index_file("sentences", generation))
                self._db.executemany(
                    "UPDATE meta SET value = ? WHERE key = ?",
                    [(str(generation), "generation"), (str(next_id), "next_id")],
                )
                self._commit()
            except BaseException:
                self._db.execute("ROLLBACK")
                for kind in ("chunks", "sentences"):
                    self._index_file(kind, generation).unlink(missing_ok=True)
                raise
            self._chunk_index, self._sentence_index = chunk_index, sentence_index
            self._generation = generation
            self._data_version = self._db.execute("PRAGMA data_version").fetchone()[0]
            self._remove_stale_files()

    def _commit(self) -> None:
        self._db.execute("COMMIT")

    @staticmethod
    def _write_index(index: faiss.Index, file: Path) -> None:
        tmp = file.with_suffix(".faiss.tmp")
        faiss.write_index(index, str(tmp))
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, file)

    def reembed(self, progress: ProgressFn | None = None) -> None:
        """Re-chunk and re-embed every article with this store's embedder, atomically."""
        with self._write_lock:
            with self._lock:
                rows = self._db.execute("SELECT * FROM articles ORDER BY added_at, id").fetchall()
            articles = [_article(r) for r in rows]
            pieces = [self._split(a) for a in articles]
            chunk_vectors, sentence_vectors, chunk_terms, sentence_terms = self._embed(
                articles, pieces, progress
            )

            def change(chunk_index, sentence_index, next_id):
                self._db.execute("DELETE FROM chunk_terms")
                self._db.execute("DELETE FROM sentence_terms")
                self._db.execute("DELETE FROM chunks")
                self._db.execute("DELETE FROM sentences")
                self._db.execute("DELETE FROM articles")
                return self._insert(
                    articles,
                    pieces,
                    chunk_vectors,
                    sentence_vectors,
                    chunk_index,
                    sentence_index,
                    next_id,
                    added_at=None,
                    rows=rows,
                    chunk_terms=chunk_terms,
                    sentence_terms=sentence_terms,
                )

            self._transaction(change, fresh=True)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def rebuild(
    path: str | os.PathLike,
    embeddings: ArticleEmbeddings,
    progress: ProgressFn | None = None,
    **options,
) -> ArticleStore:
    """Re-chunk and re-embed every article of the store in ``path`` with ``embeddings``.

    One transaction switches the store to the new vectors and model, so a crash or an
    error part way leaves the old index as it was.
    """
    store = ArticleStore(path, embeddings, check_embedder=False, **options)
    store.reembed(progress)
    return store


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
    return backend if backend == model else f"{backend}:{model}"

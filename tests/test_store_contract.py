"""What every ArticleStore does (index/store.py), run against each backend: FAISS + SQLite
in a data directory, and PostgreSQL + pgvector on a real server (tests/postgres.py).

The articles are chunked and embedded once, by the real model, and given to each store.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pytest

from bot.core import build_answerer, open_store
from bot.settings import Settings
from index.dates import DateWindow
from index.faiss_store import FaissStore
from index.ingest import Indexer
from index.near_duplicates import signature, similarity
from index.retention import prune, too_old
from index.store import ArticleStore, StoreError, StoreMismatchError, newest_first
from index.types import Article, Copy, EmbedderIdentity

from .conftest import SAMPLE, cli
from .postgres import postgres_server, postgres_url  # noqa: F401  (fixtures)
from .test_store_compact import CHUNKS_PER_ARTICLE, generated_articles

VACCINES = Article(
    text=(
        "The health ministry said on Monday that the new vaccine would reach rural clinics "
        "within three weeks. Doctors in the northern provinces asked for refrigerated trucks, "
        "because the doses must be kept cold. The minister promised two hundred trucks by "
        "the end of the month.\n\nFarmers in the valley said the rains came late this year. "
        "The wheat harvest is expected to be smaller than last year's, and bread prices have "
        "already risen in the capital's markets."
    ),
    title="Vaccines reach rural clinics",
    source="vaccines.txt",
    lang="en",
    date="2021-04-07",
)


@pytest.fixture(scope="session")
def prepared(embeddings, tmp_path_factory):
    """The bundled sample and a short English article, chunked and embedded once."""
    sample = Article(
        text=SAMPLE.read_text(encoding="utf-8"), title="Lavrov in Islamabad", source="sample"
    )
    sample.lang = "ar"
    scratch = FaissStore(tmp_path_factory.mktemp("scratch"), embeddings.identity)
    try:
        # Small chunks, so that each article has several and the order of hits means something.
        from index.chunking import Chunking

        indexer = Indexer(scratch, embeddings, Chunking(400, 50))
        return indexer.prepare([sample, VACCINES])
    finally:
        scratch.close()


@pytest.fixture(params=["faiss", "postgres"])
def settings(request, tmp_path) -> Settings:
    """Settings that choose each backend in turn, for a new, empty store."""
    if request.param == "faiss":
        return Settings(data_dir=tmp_path / "data", seed_sample=False)
    url = request.getfixturevalue("postgres_url")
    return Settings(
        data_dir=tmp_path / "data", seed_sample=False, store="postgres", postgres_url=url
    )


@pytest.fixture
def store(settings) -> ArticleStore:
    store = open_store(settings)
    yield store
    store.close()


def chunk_vectors(prepared) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """Every chunk vector, and which article and ordinal each row is."""
    rows = [(p.article.id, i) for p in prepared for i in range(len(p.chunks))]
    return np.vstack([p.chunk_vectors for p in prepared]), rows


def test_added_articles_are_listed_counted_and_found_by_id_prefix(store, prepared):
    added = store.add(prepared)

    assert [a.id for a in added] == [p.article.id for p in prepared]
    assert len(store) == 2
    listed = {a.id: a for a in store.articles()}
    for p in prepared:
        info = listed[p.article.id]
        assert (info.title, info.lang, info.date) == (
            p.article.title,
            p.article.lang,
            p.article.date,
        )
        assert (info.chunks, info.chars) == (len(p.chunks), len(p.article.text))
        assert store.article(p.article.id[:6]) == p.article
    assert store.article("") is None
    assert store.article("zz") is None
    assert store.known_ids([VACCINES.id, "0123456789abcdef"]) == {VACCINES.id}
    stats = store.stats()
    assert (stats["articles"], stats["chunks"], stats["sentences"]) == (
        2,
        sum(len(p.chunks) for p in prepared),
        sum(len(p.sentences) for p in prepared),
    )
    assert stats["languages"] == {"ar": 1, "en": 1}
    assert store.languages() == {"ar", "en"}
    assert store.check() == []


def test_an_article_stored_already_is_skipped(store, prepared):
    store.add(prepared[:1])

    again = store.add([prepared[0], prepared[1], prepared[1]])

    assert [a.id for a in again] == [VACCINES.id]
    assert len(store) == 2
    assert store.add(prepared) == []


def test_copies_are_kept_as_sources_survive_a_rebuild_and_go_with_their_article(store, prepared):
    sample, vaccines = prepared
    herald = Article(text=VACCINES.text + " Herald.", title="Herald", source="herald", lang="en")
    orphan = Article(text="Something else entirely, told at length.", title="x", source="y")
    added = store.add(prepared, [Copy(herald, vaccines.article.id, 0.9), Copy(orphan, "nope", 1)])

    # The copy of a stored article is recorded; one of no stored article is not.
    assert [a.id for a in added] == [sample.article.id, vaccines.article.id, herald.id]
    assert len(store) == 2
    assert store.known_ids([herald.id, orphan.id]) == {herald.id}
    (copy,) = store.copies([vaccines.article.id])
    assert (copy.article, copy.of, copy.similarity) == (herald, vaccines.article.id, 0.9)
    listed = {a.id: a for a in store.articles()}
    assert [s.source for s in listed[vaccines.article.id].also_in] == ["herald"]
    assert listed[sample.article.id].also_in == []
    assert set(store.signatures()) == {p.article.id for p in prepared if p.signature is not None}
    assert np.array_equal(store.signatures()[sample.article.id], sample.signature)

    store.replace_all(prepared)  # a rebuild keeps the copies
    assert [c.article.id for c in store.copies()] == [herald.id]
    store.remove(vaccines.article.id)  # and they go with their article
    assert store.copies() == [] and store.known_ids([herald.id]) == set()
    assert store.check() == []


REPOSTED = "Breaking news from our partners. " + VACCINES.text + " Share this story with friends."
UNRELATED = (
    "The city council voted on Tuesday to close the old bridge for repairs, which the "
    "engineers say will take most of the summer and cost less than a new one."
)


def test_the_articles_a_text_may_copy_are_read_by_their_signatures_bands(store, prepared):
    sample, vaccines = prepared
    store.add(prepared)
    reposted = signature(REPOSTED)
    assert similarity(reposted, vaccines.signature)[0] >= 0.5  # a copy, by the threshold

    # Only the article the text may copy is read, not every signature; with its values.
    found = store.signatures([reposted])
    assert list(found) == [vaccines.article.id]
    assert np.array_equal(found[vaccines.article.id], vaccines.signature)
    assert store.signatures([signature(UNRELATED)]) == {}
    assert set(store.signatures([reposted, sample.signature])) == {
        sample.article.id,
        vaccines.article.id,
    }
    # A removed article's bands go with it; a rebuild keys them anew.
    store.remove(vaccines.article.id)
    assert store.signatures([reposted]) == {}
    store.replace_all(prepared)
    assert list(store.signatures([reposted])) == [vaccines.article.id]
    assert store.check() == []


def test_the_articles_whose_source_begins_with_a_prefix_are_listed(store, prepared):
    sample, vaccines = prepared
    store.add(prepared)
    assert store.ids_from_source("sample") == [sample.article.id]
    assert store.ids_from_source("vacc") == [vaccines.article.id]
    assert set(store.ids_from_source("")) == {sample.article.id, vaccines.article.id}
    # The prefix is text, not a pattern: "_" and "%" stand for themselves.
    assert store.ids_from_source("vaccines_txt") == []
    assert store.ids_from_source("%") == []
    assert store.ids_from_source("vaccines.txtx") == []


def test_the_articles_stored_under_a_key_are_listed_oldest_first(store, prepared):
    sample, vaccines = prepared
    post = replace(vaccines.article, key="channel/7")
    first = replace(vaccines, article=post, added_at="2026-11-30T08:00:00+00:00")
    text = post.text + " Updated at noon."
    edited = replace(vaccines, article=replace(post, text=text, id=""))
    store.add([edited, sample])
    store.add([first])  # an older version, stored later: its time says which is older
    assert edited.article.id != first.article.id
    assert store.ids_with_key("channel/7") == [first.article.id, edited.article.id]
    assert store.ids_with_key("channel/8") == []


def forget_bands(store: ArticleStore) -> None:
    """Make ``store`` look made before the signatures' bands were kept (the SQL is the same
    in both backends; both connections commit each statement)."""
    store._db.execute("DELETE FROM signature_bands")
    store._db.execute("DELETE FROM meta WHERE key = 'signature_bands'")
    store._db.execute("DROP INDEX articles_source")
    store._db.execute("DROP INDEX articles_key")
    store._db.execute("DROP INDEX articles_day")
    store._db.execute("DELETE FROM meta WHERE key = 'article_indexes'")


def article_indexes(store: ArticleStore) -> set[str]:
    """The names of the indexes on the articles table."""
    if isinstance(store, FaissStore):
        query = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'articles'"
    else:
        query = "SELECT indexname FROM pg_indexes WHERE tablename = 'articles'"
    return {row[0] for row in store._db.execute(query).fetchall()}


def test_a_store_made_before_the_bands_compares_every_signature_until_its_next_change(
    store, prepared
):
    sample, vaccines = prepared
    store.add(prepared)
    forget_bands(store)
    reposted = signature(REPOSTED)

    # Every signature is read (none is missed), and the store is healthy as it is.
    assert set(store.signatures([reposted])) == {sample.article.id, vaccines.article.id}
    assert store.ids_from_source("vacc") == [vaccines.article.id]
    assert store.check() == []
    # Its next change keys every stored signature's bands: then only those are read; and
    # indexes the articles by source, key and day again.
    assert not {"articles_source", "articles_key", "articles_day"} & article_indexes(store)
    store.remove(sample.article.id)
    assert {"articles_source", "articles_key", "articles_day"} <= article_indexes(store)
    assert list(store.signatures([reposted])) == [vaccines.article.id]
    assert store.signatures([signature(UNRELATED)]) == {}
    assert store.ids_from_source("vacc") == [vaccines.article.id]
    assert store.check() == []


def test_a_store_made_before_the_index_on_days_gets_it_at_its_next_change(store, prepared):
    # As a store made by session 11 (bands keyed, no index on the articles' day) is.
    store.add(prepared[:1])
    store._db.execute("DROP INDEX articles_day")
    store._db.execute("DELETE FROM meta WHERE key = 'article_indexes'")
    assert "articles_day" not in article_indexes(store)
    assert [a.id for a in store.newest(5)] == [prepared[0].article.id]  # slower, as right

    store.add(prepared[1:])
    assert "articles_day" in article_indexes(store)
    assert [a.id for a in store.newest(1)] == [prepared[0].article.id]  # undated: newest


def test_check_reports_missing_band_keys_and_a_rebuild_mends_them(store, prepared):
    sample, vaccines = prepared
    store.add(prepared)
    store._db.execute(f"DELETE FROM signature_bands WHERE article_id = '{sample.article.id}'")
    (problem,) = store.check()
    assert "band keys for 2 near-duplicate signatures" in problem
    assert "articlebot index rebuild" in problem
    store.replace_all(prepared)
    assert store.check() == []


def test_articles_are_removed_together_with_their_copies_and_the_rest_stays_whole(store, prepared):
    sample, vaccines = prepared
    herald = Article(text=VACCINES.text + " Herald.", title="Herald", source="herald", lang="en")
    store.add(prepared, [Copy(herald, vaccines.article.id, 0.9)])
    chunks, _ = store.article_chunks(sample.article.id)

    removed = store.remove_articles([vaccines.article.id, "nope", vaccines.article.id])
    assert [a.id for a in removed] == [vaccines.article.id]
    assert [a.id for a in store.articles()] == [sample.article.id]
    assert store.copies() == [] and store.known_ids([herald.id]) == set()
    assert store.signatures([vaccines.signature]) == {}
    # What stays is whole: its chunks are found, with their sentences.
    hits = store.search(vaccines.chunk_vectors[0], 10)
    assert {h.chunk.article_id for h in hits} == {sample.article.id}
    assert [len(s) for s, _ in store.sentences_of(chunks)] == [
        len([t for t in sample.sentences if c.start <= t.start and t.end <= c.end])
        for c in sample.chunks
    ]
    assert store.check() == []

    assert [a.id for a in store.remove_articles([sample.article.id])] == [sample.article.id]
    assert len(store) == 0 and store.search(sample.chunk_vectors[0], 5) == []
    assert store.remove_articles([sample.article.id]) == []
    assert store.check() == []


def test_a_copy_is_removed_by_a_unique_prefix_of_its_id_and_nothing_else_goes(store, prepared):
    sample, vaccines = prepared
    herald = Article(text=VACCINES.text + " Herald.", title="Herald", source="herald", lang="en")
    store.add(prepared, [Copy(herald, vaccines.article.id, 0.9)])

    with pytest.raises(StoreError, match="no article with id 'zz'"):
        store.remove("zz")
    assert [c.article.id for c in store.copies()] == [herald.id]

    # Two copies whose ids begin alike: that beginning names neither, and says so.
    stored = {sample.article.id[0], vaccines.article.id[0], herald.id[0]}
    editions = (
        Article(text=VACCINES.text + f" Edition {n}.", title="Ed", source=f"ed{n}", lang="en")
        for n in range(1000)
    )
    first = next(a for a in editions if a.id[0] not in stored)
    second = next(a for a in editions if a.id[0] == first.id[0])
    store.add([], [Copy(first, vaccines.article.id, 0.9), Copy(second, vaccines.article.id, 0.9)])
    with pytest.raises(StoreError, match=f"'{first.id[0]}' begins the ids of several articles"):
        store.remove(first.id[0])
    assert len(store.copies()) == 3 and len(store) == 2
    assert store.remove(first.id) == first and store.remove(second.id) == second

    assert store.remove(herald.id[:6]) == herald
    assert store.copies() == [] and len(store) == 2
    assert {a.id for a in store.articles()} == {sample.article.id, vaccines.article.id}
    assert store.check() == []


def test_search_finds_the_nearest_chunks_best_first_with_their_cosine(store, prepared):
    store.add(prepared)
    vectors, rows = chunk_vectors(prepared)
    texts = {p.article.id: p for p in prepared}

    for query in (vectors[0], vectors[-1], (vectors[1] + vectors[-2]) / 2):
        query = (query / np.linalg.norm(query)).astype(np.float32)
        cosines = vectors @ query
        best = np.sort(cosines)[::-1][:5]
        hits = store.search(query, 5)

        # The i-th hit is as near as the i-th nearest chunk, to the precision vectors are
        # stored in (1e-3: FAISS keeps them in half precision, so exact ties may swap).
        found = [rows.index((h.chunk.article_id, h.chunk.ordinal)) for h in hits]
        assert len(set(found)) == 5
        assert cosines[found] == pytest.approx(best, abs=1e-3)
        assert [h.similarity for h in hits] == pytest.approx(cosines[found], abs=1e-3)
        for hit in hits:
            p = texts[hit.chunk.article_id]
            span = p.chunks[hit.chunk.ordinal]
            assert (hit.chunk.start, hit.chunk.end) == (span.start, span.end)
            assert hit.chunk.text == p.article.text[span.start : span.end]
            assert (hit.chunk.title, hit.chunk.source, hit.chunk.lang) == (
                p.article.title,
                p.article.source,
                p.article.lang,
            )


def test_the_hnsw_index_finds_what_the_exact_search_finds_on_a_small_store(
    postgres_url,  # noqa: F811
    prepared,
    monkeypatch,
):
    from index import postgres_store

    store = open_store(Settings(store="postgres", postgres_url=postgres_url, seed_sample=False))
    store.add(prepared)
    vectors, _ = chunk_vectors(prepared)
    exact = [[h.chunk.id for h in store.search(v, 10)] for v in vectors]

    monkeypatch.setattr(postgres_store, "EXACT_UP_TO", -2)  # below "never analysed" (-1)
    assert [[h.chunk.id for h in store.search(v, 10)] for v in vectors] == exact
    store.close()


def dated(prepared):
    """The two articles, the sample undated (added on 2026-11-30) and the vaccines article
    dated 2021-04-07."""
    sample, vaccines = prepared
    return [replace(sample, added_at="2026-11-30T10:00:00+00:00"), vaccines]


def test_a_search_in_a_date_window_gives_the_nearest_chunks_of_that_windows_articles(
    store, prepared
):
    store.add(dated(prepared))
    vectors, rows = chunk_vectors(prepared)
    vaccines = [i for i, (article_id, _) in enumerate(rows) if article_id == VACCINES.id]
    spring_2021 = DateWindow(date(2021, 4, 1), date(2021, 4, 7))  # the last day counts

    for query in (vectors[0], vectors[-1]):  # the sample's first chunk, the vaccines' last
        hits = store.search(query, 2, spring_2021)

        # The exact two nearest of the vaccines article's chunks, even for a query nearest
        # to the sample's: filtered while searching, not after.
        nearest = sorted(vaccines, key=lambda i: -float(vectors[i] @ query))[:2]
        assert [(h.chunk.article_id, h.chunk.ordinal) for h in hits] == [rows[i] for i in nearest]
        assert {h.chunk.date for h in hits} == {"2021-04-07"}
    # Undated, the sample is in the window of the day it was added.
    hits = store.search(vectors[-1], 50, DateWindow(since=date(2026, 11, 30)))
    assert {h.chunk.article_id for h in hits} == {prepared[0].article.id}
    assert {(h.chunk.date, h.chunk.added_at) for h in hits} == {(None, "2026-11-30T10:00:00+00:00")}
    assert store.search(vectors[0], 5, DateWindow(until=date(2021, 4, 6))) == []
    assert store.search(vectors[0], 5, DateWindow(date(2021, 4, 8), date(2026, 11, 29))) == []
    assert len(store.search(vectors[0], 50, DateWindow())) == len(rows)  # open: every chunk


def test_a_window_search_is_exact_where_the_hnsw_index_would_answer(
    postgres_url,  # noqa: F811
    prepared,
    monkeypatch,
):
    from index import postgres_store

    store = open_store(Settings(store="postgres", postgres_url=postgres_url, seed_sample=False))
    store.add(dated(prepared))
    # A store "too big" to scan, whose HNSW walk keeps as few candidates as are asked for.
    monkeypatch.setattr(postgres_store, "EXACT_UP_TO", -2)
    monkeypatch.setattr(postgres_store, "EF_SEARCH", 1)
    vectors, rows = chunk_vectors(prepared)
    window = DateWindow(until=date(2021, 4, 7))
    assert {h.chunk.article_id for h in store.search(vectors[0], 2)} == {prepared[0].article.id}

    # The sample's own vector: the HNSW walk's two nearest are the sample's chunks, which a
    # filter applied afterwards would leave none of.
    hits = store.search(vectors[0], 2, window)

    nearest = sorted(
        (i for i, (article_id, _) in enumerate(rows) if article_id == VACCINES.id),
        key=lambda i: -float(vectors[i] @ vectors[0]),
    )[:2]
    assert [(h.chunk.article_id, h.chunk.ordinal) for h in hits] == [rows[i] for i in nearest]
    store.close()


def test_the_articles_of_a_date_window_are_listed_by_their_date_or_the_day_added(store, prepared):
    store.add(dated(prepared))
    sample = prepared[0].article.id

    assert [a.id for a in store.articles(DateWindow(until=date(2021, 4, 7)))] == [VACCINES.id]
    assert [a.id for a in store.articles(DateWindow(since=date(2026, 11, 30)))] == [sample]
    assert store.articles(DateWindow(date(2021, 4, 8), date(2026, 11, 29))) == []
    assert store.articles(DateWindow()) == store.articles()
    (listed,) = store.articles(DateWindow(until=date(2021, 4, 30)))
    assert listed == next(a for a in store.articles() if a.id == VACCINES.id)  # chunks, sources


def dated_over(count: int, days: int, seed: int) -> list:
    """``count`` stories over ``days`` days from 1 October 2026: dated by day, by a time whose
    offset puts it on another day in UTC (+14:00 and -12:00 at the day's ends), or undated
    (by the time added)."""
    rng = np.random.default_rng(seed)
    prepared = generated_articles(count, rng)
    times = ["", "T00:30:00+14:00", "T23:30:00-12:00", "T12:00:00+03:00", "T09:00:00"]
    for n, p in enumerate(prepared):
        day = date(2026, 10, 1) + timedelta(days=int(rng.integers(days)))
        if n % 6 == 5:  # undated: by the time it was added
            p.article.date = None
            p.added_at = f"{day.isoformat()}T{n % 24:02d}:00:00+00:00"
        else:
            p.article.date = day.isoformat() + times[n % 5]
    return prepared


def test_a_page_of_the_listing_holds_what_the_whole_listing_holds_there(store):
    # 48 stories over eight days (``dated_over``): a page read through the articles' days
    # gives the very articles, in the very order, of the whole listing at that place.
    store.add(dated_over(48, 8, seed=31))
    listing = newest_first(store.articles())

    for limit in (1, 2, 5, 7, 48, 60):
        for offset in range(0, 50, limit):
            assert store.newest(limit, offset) == listing[offset : offset + limit]
    assert [a.id for a in store.newest(3)] == [a.id for a in listing[:3]]
    with pytest.raises(ValueError, match="a page needs a limit of 1 or more"):
        store.newest(0)


def test_a_page_of_an_empty_store_is_empty(store):
    assert store.newest(10) == [] and store.newest(10, 20) == []


def test_an_articles_position_is_its_place_in_the_whole_listing(store):
    # 60 stories over twenty days (``dated_over``): each one's position, from the articles
    # of the days around its own and a count of the days after, is its index in the listing.
    prepared = dated_over(60, 20, seed=37)
    assert store.position(prepared[0].article.id) is None  # not yet indexed
    store.add(prepared)
    listing = [a.id for a in newest_first(store.articles())]
    assert [store.position(article_id) for article_id in listing] == list(range(60))
    assert store.position("0123456789abcdef") is None


def test_retention_removes_the_articles_older_than_the_days_given(store, prepared):
    store.add(dated(prepared))
    sample = prepared[0].article.id

    # On its 30th day the sample (undated: by the day it was added) is kept.
    assert [a.id for a in too_old(store, 30, on=date(2026, 12, 30))] == [VACCINES.id]
    assert [a.id for a in too_old(store, 30, on=date(2026, 12, 31))] == [VACCINES.id, sample]
    (removed,) = prune(store, 30, on=date(2026, 12, 30))

    assert (removed.id, removed.date) == (VACCINES.id, "2021-04-07")
    assert [a.id for a in store.articles()] == [sample]
    assert store.search(prepared[1].chunk_vectors[0], 50)[0].chunk.article_id == sample
    assert store.check() == []


def test_the_sentences_of_chunks_and_their_latent_terms_come_back_as_stored(store, prepared):
    store.add(prepared)
    asked = []  # every chunk of every article, the last article first, in one read
    for p in reversed(prepared):
        chunks, _ = store.article_chunks(p.article.id)
        asked += [(p, chunk) for chunk in chunks]
    asked.append(asked[0])  # a chunk asked for twice comes back twice

    every = store.sentences_of([chunk for _, chunk in asked])

    assert len(every) == len(asked) > len(prepared)
    for (p, chunk), (sentences, vectors) in zip(asked, every, strict=True):
        inside = [
            i for i, s in enumerate(p.sentences) if s.end > chunk.start and s.start < chunk.end
        ]
        assert inside and [s.text for s in sentences] == [
            p.article.text[p.sentences[i].start : p.sentences[i].end] for i in inside
        ]
        assert {s.article_id for s in sentences} == {p.article.id}
        assert vectors.dtype == np.float32
        np.testing.assert_allclose(vectors, p.sentence_vectors[inside], atol=1e-3)
    assert store.sentences_of([]) == []

    p = prepared[1]
    hit = store.search(p.chunk_vectors[0], 1)[0]
    ((sentences, _),) = store.sentences_of([hit.chunk])
    inside = [
        i for i, s in enumerate(p.sentences) if s.end > hit.chunk.start and s.start < hit.chunk.end
    ]
    # Every term comes back; FAISS's store keeps the weights in 8 bits (index/faiss_schema.py).
    chunk_terms = store.chunk_terms([hit.chunk.id])[hit.chunk.id]
    np.testing.assert_array_equal(chunk_terms[0], p.chunk_terms[0][0])
    np.testing.assert_allclose(chunk_terms[1], p.chunk_terms[0][1], atol=1e-3)
    terms = store.sentence_terms([s.id for s in sentences])
    for sentence, i in zip(sentences, inside, strict=True):
        np.testing.assert_array_equal(terms[sentence.id][0], p.sentence_terms[i][0])
        np.testing.assert_allclose(terms[sentence.id][1], p.sentence_terms[i][1], atol=1e-3)
    assert store.chunk_terms([]) == {}


def test_a_piece_without_latent_terms_comes_back_without_them(store, prepared):
    sample = prepared[0]
    empty = (np.zeros(0, np.int32), np.zeros(0, np.float32))
    store.add([replace(sample, sentence_terms=[empty, *sample.sentence_terms[1:]])])
    chunks, _ = store.article_chunks(sample.article.id)
    ((first, second, *_), _) = store.sentences_of(chunks[:1])[0]

    terms = store.sentence_terms([first.id, second.id])

    assert [len(a) for a in terms[first.id]] == [0, 0]
    np.testing.assert_array_equal(terms[second.id][0], sample.sentence_terms[1][0])


def test_an_articles_chunks_and_their_vectors_come_back_as_stored(store, prepared):
    store.add(prepared)
    for p in prepared:
        chunks, vectors = store.article_chunks(p.article.id)
        assert [(c.start, c.end) for c in chunks] == [(s.start, s.end) for s in p.chunks]
        assert [c.text for c in chunks] == [p.article.text[s.start : s.end] for s in p.chunks]
        assert [c.ordinal for c in chunks] == list(range(len(p.chunks)))
        np.testing.assert_allclose(vectors, p.chunk_vectors, atol=1e-3)  # float16 in FAISS's
    assert store.article_chunks("no-such-article")[1].shape == (0, store.identity.dim)


def test_a_removed_article_is_gone_from_lists_and_searches(store, prepared):
    store.add(prepared)

    removed = store.remove(VACCINES.id[:8])

    assert removed == VACCINES
    assert [a.id for a in store.articles()] == [prepared[0].article.id]
    hits = store.search(prepared[1].chunk_vectors[0], 50)
    assert hits and all(h.chunk.article_id != VACCINES.id for h in hits)
    with pytest.raises(StoreError, match="no article with id"):
        store.remove(VACCINES.id)
    assert store.check() == []


def test_replace_all_keeps_only_the_new_articles_and_their_times(store, prepared):
    store.add(prepared)
    kept = replace(prepared[1], added_at="2020-01-02T03:04:05+00:00")

    with store.writing():  # as a rebuild does: add and replace reuse the held lock
        store.replace_all([kept])

    assert [(a.id, a.added_at) for a in store.articles()] == [
        (VACCINES.id, "2020-01-02T03:04:05+00:00")
    ]
    assert [h.chunk.article_id for h in store.search(prepared[0].chunk_vectors[0], 3)] == [
        VACCINES.id
    ] * min(3, len(kept.chunks))
    assert store.check() == []


def test_a_store_of_another_embedder_is_refused_with_the_fix(settings, store, prepared):
    store.add(prepared[:1])
    store.close()
    other = replace(store.identity, model="other-model", backend="other-model", dim=8)

    with pytest.raises(StoreMismatchError, match="ARTICLEBOT_EMBEDDINGS=e5-small-q4"):
        reopen(settings, other)
    unverified = reopen(settings, other, verify=False)
    try:
        assert any("other-model" in problem for problem in unverified.check())
        with pytest.raises(StoreMismatchError, match="this store holds 8"):
            unverified.add(prepared[:1])
    finally:
        unverified.close()


def test_a_second_writer_waits_for_the_first_then_gives_up_saying_why(settings, store, prepared):
    other = reopen(settings, store.identity, write_lock_timeout=0.3)
    try:
        with store.writing():
            with pytest.raises(StoreError, match="ARTICLEBOT_WRITE_LOCK_TIMEOUT"):
                other.add(prepared[:1])
            store.add(prepared[1:])  # the holder's own changes go through
        assert [a.id for a in other.add(prepared)] == [prepared[0].article.id]
        assert len(store) == 2
    finally:
        other.close()


def test_an_article_another_process_adds_is_answered_without_reopening(settings, store, prepared):
    # An answerer that has answered before: nothing it keeps (the retriever caches only
    # questions' embeddings) may hide what another process, a bot replica, adds meanwhile.
    answerer = build_answerer(settings, store)
    store.add(prepared[:1])
    question = "How many trucks did the minister promise?"
    before = answerer.ask(question)
    assert "two hundred trucks" not in before.text  # the sample does not say
    other = reopen(settings, store.identity)
    try:
        other.add(prepared[1:])
    finally:
        other.close()
    answer = answerer.ask(question)
    assert not answer.refused and "two hundred trucks" in answer.text
    assert len(store) == 2 and answer.citations[0].title == VACCINES.title


def reopen(
    settings: Settings,
    identity: EmbedderIdentity,
    verify: bool = True,
    write_lock_timeout: float = 300.0,
) -> ArticleStore:
    """Another handle on the same store, as another process would open it."""
    options = {"verify": verify, "write_lock_timeout": write_lock_timeout}
    if settings.store == "faiss":
        return FaissStore(settings.data_dir, identity, **options)
    from index.postgres_store import PostgresStore

    return PostgresStore(settings.postgres_url.get_secret_value(), identity, **options)


def test_both_backends_give_the_same_answers(prepared, tmp_path, postgres_url):  # noqa: F811
    faiss = Settings(data_dir=tmp_path / "data", seed_sample=False)
    postgres = Settings(store="postgres", postgres_url=postgres_url, seed_sample=False)
    answers = []
    for settings in (faiss, postgres):
        store = open_store(settings)
        store.add(prepared)
        answerer = build_answerer(settings, store)
        answers.append(
            [
                answerer.ask(q).to_dict()
                for q in (
                    "Who did the Russian foreign minister meet in Islamabad?",
                    "How many trucks did the minister promise?",
                    "What is the boiling point of water?",
                )
            ]
        )
        store.close()

    for on_faiss, on_postgres in zip(*answers, strict=True):
        assert on_postgres["answer"] == on_faiss["answer"]
        assert on_postgres["refused"] == on_faiss["refused"]
        for theirs, ours in zip(on_faiss["citations"], on_postgres["citations"], strict=True):
            # Each store was filled at its own time.
            same = {"score": 0, "added_at": None}
            assert ours | same == theirs | same
            assert ours["score"] == pytest.approx(theirs["score"], abs=2e-3)
        assert [h["chunk_id"] for h in on_postgres["retrieved"]] == [
            h["chunk_id"] for h in on_faiss["retrieved"]
        ]
    assert not answers[0][0]["refused"] and answers[0][2]["refused"]


def test_postgres_without_a_url_or_server_is_one_line_naming_the_setting(tmp_path):
    with pytest.raises(StoreError, match="needs ARTICLEBOT_POSTGRES_URL"):
        open_store(Settings(store="postgres", data_dir=tmp_path))
    url = f"postgresql://nobody:secret@/none?host={tmp_path}"  # no server listens there
    with pytest.raises(StoreError, match="ARTICLEBOT_POSTGRES_URL") as error:
        open_store(Settings(store="postgres", postgres_url=url))
    assert "\n" not in str(error.value) and "secret" not in str(error.value)


def test_migrate_copies_a_faiss_index_into_postgres_without_re_embedding(
    prepared,
    tmp_path,
    postgres_url,  # noqa: F811
):
    faiss_settings = Settings(data_dir=tmp_path / "data", seed_sample=False)
    source = open_store(faiss_settings)
    source.add([replace(prepared[0], added_at="2021-04-01T10:00:00+00:00"), prepared[1]])
    env = {"ARTICLEBOT_POSTGRES_URL": postgres_url, "ARTICLEBOT_SEED_SAMPLE": "false"}

    result = cli("index", "migrate", "--to", "postgres", data_dir=tmp_path / "data", env=env)

    assert result.returncode == 0, result.stderr
    assert "copied 2 articles" in result.stdout
    target = open_store(Settings(store="postgres", postgres_url=postgres_url, seed_sample=False))
    assert [(a.id, a.added_at) for a in target.articles()] == [
        (a.id, a.added_at) for a in source.articles()
    ]
    assert target.check() == []
    for vector in (prepared[0].chunk_vectors[2], prepared[1].chunk_vectors[0]):
        ours, theirs = target.search(vector, 8), source.search(vector, 8)
        assert [h.chunk.text for h in ours] == [h.chunk.text for h in theirs]
        assert [h.similarity for h in ours] == pytest.approx([h.similarity for h in theirs])
        ((sentences, vectors),) = target.sentences_of([ours[0].chunk])
        ((their_sentences, their_vectors),) = source.sentences_of([theirs[0].chunk])
        assert [s.text for s in sentences] == [s.text for s in their_sentences]
        np.testing.assert_allclose(vectors, their_vectors, atol=1e-3)
        terms = target.sentence_terms([s.id for s in sentences])
        their_terms = source.sentence_terms([s.id for s in their_sentences])
        for s, t in zip(sentences, their_sentences, strict=True):
            np.testing.assert_array_equal(terms[s.id][0], their_terms[t.id][0])

    check = cli(
        "index", "check", data_dir=tmp_path / "data", env=env | {"ARTICLEBOT_STORE": "postgres"}
    )
    assert check.returncode == 0, check.stderr
    assert "OK: 2 articles; vectors and rows agree (ARTICLEBOT_POSTGRES_URL " in check.stdout
    again = cli("index", "migrate", "--to", "postgres", data_dir=tmp_path / "data", env=env)
    assert "copied 0 articles" in again.stdout and "2 were there already" in again.stdout
    empty = cli("index", "migrate", "--to", "postgres", data_dir=tmp_path / "none", env=env)
    assert empty.returncode == 2 and "there is no faiss index to copy" in empty.stderr
    source.close()
    target.close()


def test_a_date_window_search_gives_the_nearest_of_its_chunks_whatever_its_width(
    store, monkeypatch
):
    # 60 stories, one a day over two months: a window of the last 50 days is found among
    # the nearest of all dates, one of a few days through the list of its chunks; both give
    # what a search of the window's vectors alone gives. PostgreSQL searches through its
    # HNSW index as it does past EXACT_UP_TO chunks (the window's list is searched exactly).
    from index import postgres_store

    monkeypatch.setattr(postgres_store, "EXACT_UP_TO", -2)
    prepared = generated_articles(60, np.random.default_rng(23))
    days = [date(2026, 10, 1) + timedelta(days=n) for n in range(60)]
    for p, day in zip(prepared, days, strict=True):
        p.article.date = day.isoformat()
    store.add(prepared)
    vectors = np.vstack([p.chunk_vectors for p in prepared]).astype(np.float16).astype(np.float32)
    rows = [(p.article.id, i) for p in prepared for i in range(len(p.chunks))]
    day_of_row = [day for day in days for _ in range(CHUNKS_PER_ARTICLE)]
    rng = np.random.default_rng(29)
    windows = [
        DateWindow(since=days[10]),  # 50 of 60 days
        DateWindow(days[20], days[29]),  # 10 days
        DateWindow(days[5], days[5]),  # one day: 10 chunks
        DateWindow(until=days[0] - timedelta(days=1)),  # none
    ]
    for window in windows:
        inside = np.array([window.holds(d.isoformat()) for d in day_of_row])
        for query in vectors[rng.choice(len(vectors), 10)]:
            scores = np.where(inside, vectors @ query, -np.inf)
            exact = [rows[i] for i in np.argsort(-scores)[: min(10, int(inside.sum()))]]
            hits = store.search(query, 10, window)
            assert [(h.chunk.article_id, h.chunk.ordinal) for h in hits] == exact

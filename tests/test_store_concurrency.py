"""Several processes on one data dir: readers never lose files under a writer, writers take
turns (and say so), and an index read and written at once stays whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from index.faiss_store import FaissStore
from index.ingest import Indexer

from .conftest import REPO, run_cli
from .test_store import ENGLISH_ARTICLE

# A writer that adds one article and stops, holding the write lock, once it has written
# the next generation's vector files and before it commits: until the file `go` appears.
PAUSED_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from index.embeddings import load_embeddings
    from index.faiss_store import FaissStore
    from index.ingest import Indexer
    from index.types import Article
    from index.segments import SegmentFiles

    data_dir, signals, text = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    original_write = SegmentFiles.write
    written = []

    def write_then_pause(index, file):
        digest = original_write(index, file)
        written.append(file)
        if len(written) == 2:
            (signals / "written").touch()
            while not (signals / "go").exists():
                time.sleep(0.05)
        return digest

    SegmentFiles.write = staticmethod(write_then_pause)
    embeddings = load_embeddings()
    indexer = Indexer(FaissStore(data_dir, embeddings.identity), embeddings)
    print(len(indexer.add([Article(text=text, title="paused", source="paused")]).added))
    """
)

PAUSED_TEXT = (
    "Ferry to Fair Isle resumes\n\nThe ferry between Grutness and Fair Isle sails again "
    "from Tuesday after eleven weeks of repairs to its hull."
)
OTHER_TEXT = (
    "Tram line opens in Odense\n\nOdense opened its first tram line on Sunday; it carries "
    "passengers over 14 kilometres between Tarup and Hjallese."
)


@pytest.fixture
def small_dir(tmp_path, embeddings) -> Path:
    path = tmp_path / "data"
    store = FaissStore(path, embeddings.identity)
    Indexer(store, embeddings).add([ENGLISH_ARTICLE])
    store.close()
    return path


@pytest.fixture
def start():
    """Starts a Python script in a process of its own; any still running at the end of the
    test (it failed) is killed."""
    started: list[subprocess.Popen] = []

    def run(script: str, *args: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-c", script, *args],
            cwd=REPO,
            # One OpenMP thread a process: several model processes on two cores, each with
            # threads that spin while waiting for work, run ten times slower.
            env={**os.environ, "OMP_NUM_THREADS": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield run
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_for(condition, process: subprocess.Popen, what: str, timeout: float = 180) -> None:
    """Wait until ``condition()`` holds; fail if ``process`` ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the process ended before {what}: {process.communicate()[1]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def vector_files(data_dir: Path) -> list[str]:
    return sorted(
        p.name for p in data_dir.iterdir() if p.name.startswith(("chunks-", "sentences-"))
    )


def test_a_reader_noticing_a_change_while_another_process_writes_deletes_nothing(
    small_dir, tmp_path, embeddings, start
):
    """The bug this replaces: a reader that saw a new generation deleted every vector file
    not of it, the next generation's too while its writer was still writing it."""
    reader = FaissStore(small_dir, embeddings.identity)
    assert reader.search(embeddings.encode_query("Skerryvore lighthouse"), 1)
    other = tmp_path / "odense.txt"
    other.write_text(OTHER_TEXT, encoding="utf-8")
    assert run_cli("index", "add", str(other), data_dir=small_dir).returncode == 0

    signals = tmp_path / "signals"
    signals.mkdir()
    writer = start(PAUSED_WRITER, str(small_dir), str(signals), PAUSED_TEXT)
    wait_for((signals / "written").exists, writer, "the writer wrote its files")
    files = vector_files(small_dir)
    # The reader notices the first change and loads it, while the writer is mid-write.
    hits = reader.search(embeddings.encode_query("When did the Odense tram open?"), 1)
    assert "Odense" in hits[0].chunk.text
    assert vector_files(small_dir) == files
    (signals / "go").touch()
    out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0 and out.strip() == "1", err

    # Everything committed is there, for the old reader and for a new one.
    hits = reader.search(embeddings.encode_query("When does the Fair Isle ferry sail?"), 1)
    assert "Fair Isle" in hits[0].chunk.text
    fresh = FaissStore(small_dir, embeddings.identity)
    assert fresh.check() == [] and len(fresh) == 3
    checked = run_cli("index", "check", data_dir=small_dir)
    assert checked.returncode == 0 and checked.stdout.startswith("OK: 3 articles")


def test_a_second_writer_waits_for_the_first_saying_so_once_and_gives_up_in_time(
    small_dir, tmp_path, start
):
    signals = tmp_path / "signals"
    signals.mkdir()
    writer = start(PAUSED_WRITER, str(small_dir), str(signals), PAUSED_TEXT)
    wait_for((signals / "written").exists, writer, "the writer wrote its files")
    other = tmp_path / "odense.txt"
    other.write_text(OTHER_TEXT, encoding="utf-8")

    impatient = run_cli(
        "index", "add", str(other), data_dir=small_dir, env={"ARTICLEBOT_WRITE_LOCK_TIMEOUT": "1"}
    )
    assert impatient.returncode == 2 and "Traceback" not in impatient.stderr
    waiting = f"waiting for another articlebot process that is writing to {small_dir}..."
    assert impatient.stderr.count(waiting) == 1
    assert f"another articlebot process kept writing to {small_dir} for 1 s" in impatient.stderr
    assert "ARTICLEBOT_WRITE_LOCK_TIMEOUT" in impatient.stderr

    # A patient writer waits, then adds its article once the first has committed.
    log = tmp_path / "patient.err"
    with open(log, "w") as stderr:
        patient = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "index", "add", str(other)],
            cwd=tmp_path,
            env={**os.environ, "ARTICLEBOT_DATA_DIR": str(small_dir)},
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        try:
            wait_for(lambda: waiting in log.read_text(), patient, "the second writer waited")
            (signals / "go").touch()
            out, _ = patient.communicate(timeout=120)
        finally:
            patient.kill()
    assert patient.returncode == 0, log.read_text()
    assert "1 added" in out and log.read_text().count(waiting) == 1
    assert writer.wait(timeout=120) == 0
    titles = [
        a["title"]
        for a in json.loads(run_cli("index", "list", "--json", data_dir=small_dir).stdout)
    ]
    assert sorted(titles) == sorted([ENGLISH_ARTICLE.title, "paused", "Tram line opens in Odense"])


# ---- readers and writers at once --------------------------------------------------------

# Asks questions through the real answer chain until the file `stop` appears; prints how
# many it asked and how many generations of the index it saw. Any error ends it non-zero.
READER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from bot.core import build_answerer, open_store
    from bot.settings import Settings

    settings = Settings(data_dir=sys.argv[1], seed_sample=False)
    stop, ready = Path(sys.argv[2]), Path(sys.argv[3])
    store = open_store(settings)
    answerer = build_answerer(settings, store)
    questions = ["How much will the lighthouse repairs cost?", "Which town opened a library?",
                 "What did the council open on Monday?", "When did the ferry start?"]
    asked, generations = 0, set()
    while not stop.exists():
        answer = answerer.ask(questions[asked % len(questions)])
        assert answer.text, answer
        for hit, (sentences, vectors) in zip(
            answer.hits, store.sentences_of([h.chunk for h in answer.hits]), strict=True
        ):
            assert len(sentences) == len(vectors) and hit.chunk.text
        asked += 1
        generations.add(store.stats()["generation"])
        ready.touch()
        time.sleep(0.01)  # a busy user, not a busy loop: the writers need the CPU too
    print(json.dumps({"asked": asked, "generations": len(generations)}))
    """
)

# Adds one article a round and, every second round, removes the one it added the round
# before; prints each change it committed as a JSON line.
WRITER = textwrap.dedent(
    """
    import json, sys
    from index.embeddings import load_embeddings
    from index.faiss_store import FaissStore
    from index.ingest import Indexer
    from index.types import Article

    TOWNS = ["Tromso", "Valparaiso", "Ushuaia", "Nuuk", "Hobart", "Windhoek", "Cusco",
             "Torshavn", "Yellowknife", "Longyearbyen", "Iqaluit", "Stanley"]
    THINGS = ["library", "bridge", "ferry terminal", "swimming pool", "observatory",
              "tram depot", "ski jump", "fish market", "concert hall", "seed bank"]
    data_dir, writer, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    embeddings = load_embeddings()
    store = FaissStore(data_dir, embeddings.identity)
    indexer = Indexer(store, embeddings)
    previous = None
    for r in range(rounds):
        town = TOWNS[(writer * rounds + r) % len(TOWNS)]
        thing = THINGS[(writer * 3 + r) % len(THINGS)]
        text = (f"{town} opens a {thing}\\n\\nThe council of {town} opened a new {thing} on "
                f"Monday. It cost {writer * 10 + r + 2} million euros (writer {writer}, "
                f"round {r}).")
        article = Article(text=text, title=f"{town} {thing}", source=f"writer-{writer}")
        assert indexer.add([article]).added == [article]
        print(json.dumps({"added": article.id, "text": text}), flush=True)
        if r % 2 == 1:
            store.remove(previous.id)
            print(json.dumps({"removed": previous.id}), flush=True)
        previous = article
    """
)
ROUNDS = 6


def test_a_reader_and_two_writers_at_once_leave_a_whole_searchable_index(
    small_dir, tmp_path, embeddings, start
):
    stop, ready = tmp_path / "stop", tmp_path / "ready"
    reader = start(READER, str(small_dir), str(stop), str(ready))
    wait_for(ready.exists, reader, "the reader's first answer")
    writers = [start(WRITER, str(small_dir), str(n), str(ROUNDS)) for n in (1, 2)]
    changes = []
    for writer in writers:
        out, err = writer.communicate(timeout=240)
        assert writer.returncode == 0, err
        changes += [json.loads(line) for line in out.splitlines()]
    stop.touch()
    out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err
    seen = json.loads(out)
    assert seen["asked"] > 0 and seen["generations"] > 1  # it read while the index changed

    checked = run_cli("index", "check", data_dir=small_dir)
    assert checked.returncode == 0, checked.stderr
    removed = {c["removed"] for c in changes if "removed" in c}
    kept = {c["added"]: c["text"] for c in changes if "added" in c and c["added"] not in removed}
    assert len(kept) == 2 * ROUNDS - len(removed) == ROUNDS
    store = FaissStore(small_dir, embeddings.identity)
    assert {a.id for a in store.articles()} == {ENGLISH_ARTICLE.id, *kept}
    for article_id, text in kept.items():
        (hit,) = store.search(embeddings.encode_passages([text])[0], 1)
        assert hit.chunk.article_id == article_id and hit.similarity > 0.99
    hits = store.search(embeddings.encode_query("What did the council open?"), 50)
    assert len(hits) == 1 + ROUNDS and not {h.chunk.article_id for h in hits} & removed


def test_stats_counts_the_disk_while_a_writer_removes_an_old_generation(
    small_dir, embeddings, monkeypatch
):
    store = FaissStore(small_dir, embeddings.identity)
    old = small_dir / "chunks-0.vec"  # as a writer's cleanup leaves one: removed after listing
    old.write_bytes(b"\0" * 1000)
    listed = list(os.scandir(small_dir))
    old.unlink()
    monkeypatch.setattr(os, "scandir", lambda folder: iter(listed))
    stats = store.stats()  # listed, then gone: counted as nothing, not an error
    monkeypatch.undo()
    assert stats["bytes_on_disk"] == sum(f.stat().st_size for f in small_dir.iterdir())
    assert stats["chunks"] > 0

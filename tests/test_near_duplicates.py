"""Near-duplicates: a story from several outlets, or re-posted with another footer, is indexed
once and its other sources are shown; an answer never quotes a sentence twice; the bundled
sample makes way for the user's first own article. Real model, real stores, the real CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from bot import prompts
from bot.core import indexer, open_store
from bot.settings import Settings
from index.near_duplicates import DEFAULT_THRESHOLD, folded, signature, similarity
from index.types import Article

from .conftest import REPO, SAMPLE, cli

EVAL = REPO.parent / "shared" / "eval"
FOOTER = (
    "\n\nThis story was first published by the Islamabad Daily Herald. Follow us on Telegram "
    "and subscribe to our evening newsletter for more news from the region."
)
VACCINE_QUESTION = "How many doses of the Sputnik V vaccine did Russia sell to Pakistan?"


def paragraphs(prefix: str) -> list[str]:
    """The distinct paragraphs of the eval sets whose names start with ``prefix``."""
    if not EVAL.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{EVAL} is missing: CI must have shared/ beside the repo")
        pytest.skip(f"{EVAL} not found (shared/ beside the repo)")
    texts = {
        json.loads(line)["text"]
        for path in sorted(EVAL.glob(f"{prefix}*/docs.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    }
    return sorted(texts)


def test_distinct_xquad_paragraphs_are_never_taken_for_copies():
    # The threshold's measurement (index/near_duplicates.py): 240 paragraphs, some on the
    # same subject, none within reach of the threshold.
    texts = paragraphs("xquad")
    sigs = np.vstack([signature(t) for t in texts])
    for i, sig in enumerate(sigs):
        found = similarity(sig, sigs)
        found[i] = 0
        assert found.max() < 0.1 < DEFAULT_THRESHOLD, texts[i][:80]


def test_paragraphs_reposted_with_a_header_and_a_footer_are_copies():
    # Each paragraph with boilerplate adding up to a third of its length: taken from another
    # paragraph, so that it shares no words with this one.
    texts = paragraphs("")
    for n, text in enumerate(texts):
        other = texts[(n + 7) % len(texts)].split()
        extra = len(text.split()) // 3
        header, footer = " ".join(other[: extra // 2]), " ".join(other[extra // 2 : extra])
        copy = f"{header}\n\n{text}\n\n{footer}"
        assert similarity(signature(text), signature(copy))[0] >= DEFAULT_THRESHOLD, text[:80]


def write(path: Path, title: str, body: str) -> Path:
    path.write_text(f"{title}\n\n{body}", encoding="utf-8")
    return path


def listing(data_dir: Path) -> list[dict]:
    result = cli("index", "list", "--json", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_syndicated_copy_is_kept_once_and_its_outlet_shown_in_listings_and_sources(
    tmp_path, data_dir
):
    body = SAMPLE.read_text(encoding="utf-8")
    copy = write(tmp_path / "herald.txt", "Lavrov visits Islamabad (Herald)", body + FOOTER)
    before = listing(data_dir)
    result = cli("index", "add", str(copy), data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    assert "0 added" in result.stdout
    kept = before[0]["id"]
    note = prompts.text("copy_kept", "en", title="Lavrov visits Islamabad (Herald)", id=kept[:8])
    assert note in result.stdout.splitlines()
    after = listing(data_dir)
    assert [a["id"] for a in after] == [kept]
    assert [s["source"] for s in after[0]["also_in"]] == [str(copy)]
    assert f"also in: {copy}" in cli("index", "list", data_dir=data_dir).stdout

    # The answer quotes the story once and names the copy's outlet beside its source.
    answer = cli("ask", VACCINE_QUESTION, data_dir=data_dir)
    assert answer.returncode == 0, answer.stderr
    assert f"also in: {copy}" in answer.stdout
    # Adding the copy again changes nothing: it is known.
    again = cli("index", "add", str(copy), data_dir=data_dir)
    assert "1 already indexed" in again.stdout and listing(data_dir) == after


def test_removing_a_story_with_copies_keeps_it_from_its_oldest_copy(tmp_path, data_dir):
    body = SAMPLE.read_text(encoding="utf-8")
    herald = write(tmp_path / "herald.txt", "Herald: Lavrov in Islamabad", body + FOOTER)
    courier = write(tmp_path / "courier.txt", "Courier: Lavrov", "Courier exclusive.\n\n" + body)
    assert cli("index", "add", str(herald), data_dir=data_dir).returncode == 0
    assert cli("index", "add", str(courier), data_dir=data_dir).returncode == 0
    (kept,) = listing(data_dir)
    assert [s["source"] for s in kept["also_in"]] == [str(herald), str(courier)]

    result = cli("index", "remove", kept["id"][:8], data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    assert "stays indexed in its place" in result.stdout and "Herald: Lavrov" in result.stdout
    (now,) = listing(data_dir)
    assert now["title"] == "Herald: Lavrov in Islamabad" and now["chunks"] > 0
    assert [s["source"] for s in now["also_in"]] == [str(courier)]
    answer = json.loads(cli("ask", VACCINE_QUESTION, "--json", data_dir=data_dir).stdout)
    assert answer["citations"] and answer["citations"][0]["article_id"] == now["id"]

    # A copy alone can be removed by its id; the story stays with its article.
    courier_id = now["also_in"][0]["id"]
    assert cli("index", "remove", courier_id, data_dir=data_dir).returncode == 0
    assert listing(data_dir)[0]["also_in"] == []


def test_reports_of_a_series_with_other_figures_are_not_copies(tmp_path, embeddings):
    # Field reports in one template, each with its own figures: each is news.
    settings = Settings(data_dir=tmp_path / "data", seed_sample=False)
    store = open_store(settings)
    reports = [
        Article(
            text=(
                f"Glacier field report {n}: the northern ice tongue retreated by {90 + 7 * n} "
                "metres during the survey season, according to the measurements gathered by "
                "the station's small team of glaciologists through the long polar night."
            ),
            title=f"Report {n}",
            source=f"report-{n}.txt",
        )
        for n in range(1, 4)
    ]
    result = indexer(settings, store).add(reports)
    assert [a.title for a in result.added] == ["Report 1", "Report 2", "Report 3"]
    assert result.copies == [] and len(store) == 3
    store.close()


def test_an_answer_never_quotes_the_same_sentence_twice(tmp_path):
    # With near-duplicates indexed apart (the setting off), the sample and a copy of it hold
    # the same sentences: the answer quotes each once.
    data_dir = tmp_path / "data"
    env = {"ARTICLEBOT_NEAR_DUPLICATE_THRESHOLD": "off", "ARTICLEBOT_SEED_SAMPLE": "false"}
    copy = write(tmp_path / "copy.txt", "Lavrov in Islamabad (copy)", SAMPLE.read_text() + FOOTER)
    added = cli("index", "add", str(SAMPLE), str(copy), data_dir=data_dir, env=env)
    assert "2 added" in added.stdout, added.stdout + added.stderr
    result = cli("ask", VACCINE_QUESTION, "--json", data_dir=data_dir, env=env)
    answer = json.loads(result.stdout)
    quotes = [folded(c["quote"]) for c in answer["citations"]]
    assert quotes and "sputnik" in quotes[0]
    assert len(quotes) == len(set(quotes)), quotes
    # Nor within a longer quote (a sentence and its neighbour).
    assert not any(a != b and a in b for a in quotes for b in quotes), quotes


def test_the_sample_is_marked_and_makes_way_for_the_first_own_article(tmp_path):
    data_dir = tmp_path / "data"
    first = cli("ask", VACCINE_QUESTION, data_dir=data_dir)  # seeds the sample
    assert first.returncode == 0, first.stderr
    (sample,) = listing(data_dir)
    assert sample["sample"] is True
    assert "(sample)" in cli("index", "list", data_dir=data_dir).stdout

    own = write(tmp_path / "solar.txt", "Solar plant", "A solar plant opened near Aswan. " * 5)
    result = cli("index", "add", str(own), data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    assert prompts.text("sample_retired", "en") in result.stdout
    (only,) = listing(data_dir)
    assert only["title"] == "Solar plant" and only["sample"] is False
    # The sample does not come back: the index is not empty.
    assert cli("ask", VACCINE_QUESTION, data_dir=data_dir).returncode == 0
    assert [a["title"] for a in listing(data_dir)] == ["Solar plant"]

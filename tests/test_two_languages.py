"""A store of two languages from a suite's parallel sets (bot/two_languages.py)."""

from __future__ import annotations

import json
import shutil

from bot.evaluation import find_directions, load_documents, load_questions
from bot.two_languages import directions
from index.language import dominant_script

from .conftest import REPO

TINY = REPO / "tests" / "data" / "eval"  # three Arabic paragraphs, questions in both languages
ENGLISH = {
    "port#0": "The city opened the new port in 2019 at a cost of 450 million dollars.",
    "library#0": "The university library, founded by Ibn Rushd, holds two million books.",
    "festival#0": "The Canadian band Nova Strings played at the spring festival this year.",
}


def test_a_suite_with_parallel_sets_gets_a_store_of_both_languages_asked_in_both(tmp_path):
    suite = tmp_path / "suite"
    shutil.copytree(TINY, suite / "ar-paragraphs")
    english = suite / "en-paragraphs"
    english.mkdir()
    docs = [json.loads(line) for line in (TINY / "docs.jsonl").read_text("utf-8").splitlines()]
    (english / "docs.jsonl").write_text(
        "".join(
            json.dumps(d | {"text": ENGLISH[d["id"]], "lang": "en"}, ensure_ascii=False) + "\n"
            for d in docs
        ),
        encoding="utf-8",
    )
    shutil.copy(TINY / "questions.jsonl", english / "questions.jsonl")
    sets = find_directions([suite])
    made = directions(sets, tmp_path / "work")
    assert [d.name for d in made] == [
        "two languages, arabic questions",
        "two languages, latin questions",
    ]
    stored = load_documents(made[0].docs)
    assert sorted(a.key for a in stored) == sorted(ENGLISH)  # each article once
    languages = {a.key: "en" if a.text in ENGLISH.values() else "ar" for a in stored}
    assert set(languages.values()) == {"ar", "en"}  # some in each language
    arabic, latin = (load_questions(d.questions) for d in made)
    assert len(arabic) == len(latin) == 4
    assert {dominant_script(q.question) for q in arabic} == {"arabic"}
    assert {dominant_script(q.question) for q in latin} == {"latin"}
    assert {q.id for q in arabic} == {q.id for q in latin}
    assert {q.doc_id for q in latin} <= set(ENGLISH)
    # A suite of one language per document gets none.
    assert directions(find_directions([TINY]), tmp_path / "none") == []

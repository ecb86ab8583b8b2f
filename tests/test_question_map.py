"""The question map: an Arabic question's vector moved toward English, for the sentences of
English articles (bot/question_map.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from bot.core import build_answerer, indexer, open_store
from bot.evaluation import load_documents
from bot.question_map import QuestionMap, load_map, save_map
from bot.settings import Settings

from .conftest import REPO

OXYGEN = REPO / "tests" / "data" / "oxygen" / "docs.jsonl"


def test_the_shipped_map_moves_an_arabic_questions_vector_toward_its_english_one(embeddings):
    shipped = load_map(embeddings.spec)
    assert shipped is not None
    # Not a question the map was fitted on (those are the dev sets').
    arabic = "ماذا وعدت روسيا باكستان بشأن اللقاحات؟"
    english = "What did Russia promise Pakistan on vaccines?"
    assert shipped.applies_to(arabic)
    assert not shipped.applies_to(english)
    question = embeddings.encode_query(arabic)
    moved = shipped.moved(question)
    assert abs(float(np.linalg.norm(moved)) - 1) < 1e-5
    same_in_english = embeddings.encode_query(english)
    assert float(moved @ same_in_english) > float(question @ same_in_english) + 0.02


def test_an_embedder_without_a_map_has_none_and_saving_one_keeps_the_others(tmp_path):
    assert load_map("sentence-transformers:some/other-model") is None
    path = tmp_path / "maps.npz"
    assert load_map("e5-small-q4", path) is None  # no file yet
    save_map("e5-small-q4", np.eye(4) * 2, path)
    save_map("sentence-transformers:some/other-model", np.eye(4), path)
    first, other = (
        load_map("e5-small-q4", path),
        load_map("sentence-transformers:some/other-model", path),
    )
    assert isinstance(first, QuestionMap) and isinstance(other, QuestionMap)
    assert np.allclose(first.matrix, np.eye(4) * 2) and np.allclose(other.matrix, np.eye(4))
    assert np.allclose(first.moved(np.array([0.6, 0.8, 0, 0])), [0.6, 0.8, 0, 0])


def test_only_the_sentences_of_latin_script_chunks_meet_an_arabic_question_moved(answerer):
    retriever = answerer.retriever
    arabic = "ماذا وعدت روسيا باكستان بشأن اللقاحات؟"
    of_the_sample = retriever.retrieve(arabic)[0].chunk
    english = replace(
        of_the_sample, text="Russia promised Pakistan doses of its Sputnik V vaccine this year."
    )
    query = retriever.query_vector(arabic)
    towards = retriever.sentence_queries(arabic, [of_the_sample, english])
    assert np.array_equal(towards[0], query)  # Arabic text: the question as asked
    assert np.allclose(towards[1], retriever.question_map.moved(query))
    asked_in_english = "What did Russia promise Pakistan on vaccines?"
    as_asked = retriever.query_vector(asked_in_english)
    for toward in retriever.sentence_queries(asked_in_english, [of_the_sample, english]):
        assert np.array_equal(toward, as_asked)


SCHEELE = "متى اكتشف كارل فيلهلم شيل الأكسجين؟"  # XQuAD's Arabic question: when? 1773


def test_an_arabic_question_over_english_articles_quotes_the_sentence_that_answers(tmp_path):
    settings = Settings(_env_file=None, data_dir=tmp_path, seed_sample=False)
    store = open_store(settings, seed=False)
    indexer(settings, store).add(load_documents(OXYGEN))
    answerer = build_answerer(settings, store)
    answer = answerer.ask(SCHEELE)
    assert answer.confidence == "confident"
    assert "1773" in answer.citations[0].quote
    assert answer.citations[0].quote.startswith("Oxygen was discovered independently by Carl")
    # The question as asked finds Dewar's liquid oxygen of 1891 closer: the map is the change.
    answerer.retriever.question_map = None
    assert "1773" not in answerer.ask(SCHEELE).citations[0].quote


def test_among_arabic_articles_each_question_is_answered_from_its_own_language(data_dir):
    settings = Settings(_env_file=None, data_dir=data_dir)
    store = open_store(settings)
    indexer(settings, store).add(load_documents(OXYGEN))
    answerer = build_answerer(settings, store)
    about_oxygen = answerer.ask(SCHEELE)
    assert about_oxygen.citations[0].title == "Oxygen"
    assert "1773" in about_oxygen.citations[0].quote
    about_the_sample = answerer.ask("ماذا وعدت روسيا باكستان بشأن اللقاحات؟")
    assert not about_the_sample.refused
    assert "Sputnik V" in about_the_sample.citations[0].quote

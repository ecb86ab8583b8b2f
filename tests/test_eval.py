"""`articlebot eval`: answer matching, metrics, the command, and a quality floor on XQuAD."""

from __future__ import annotations

import json
import os

import pytest

from bot.core import build_answerer
from bot.evaluation import (
    build_store,
    contains_answer,
    evaluate,
    load_documents,
    load_questions,
    metrics,
    normalize,
    sample,
    split_halves,
)
from bot.settings import Settings

from .conftest import REPO, run_cli

TINY = REPO / "tests" / "data" / "eval"
XQUAD = REPO.parent / "shared" / "eval" / "xquad-ar-en-dev"


def test_normalize_folds_case_punctuation_diacritics_and_letter_variants():
    assert normalize("The Panthers, 24-10!") == "panthers 24 10"
    assert normalize("مَدْرَسَةٌ") == normalize("مدرسه")  # diacritics; ta marbuta
    assert normalize("أحمد وإبراهيم وآدم") == "احمد وابراهيم وادم"
    assert normalize("مستشفى") == normalize("مستشفي")
    assert normalize("١٩٧٣") == "1973"


def test_answer_matches_gold_in_either_language():
    quote = "وقد أسسها الطبيبُ ابن رُشد الحفيد في القرن الثاني عشر."
    assert contains_answer(quote, ["Ibn Rushd", "ابن رشد"])
    assert not contains_answer(quote, ["Averroes"])


def _prediction(doc_ids, quotes, gold="308", answerable=True, refused=False, latency=10.0):
    return {
        "doc_id": "a",
        "answerable": answerable,
        "retrieved": [{"doc_id": d, "chunk_id": i, "score": 0.9} for i, d in enumerate(doc_ids)],
        "answer": " ".join(quotes),
        "citations": [{"doc_id": "a", "quote": q} for q in quotes],
        "refused": refused,
        "latency_ms": latency,
        "golds": [gold],
    }


def test_metrics_rank_documents_once_and_ignore_overlong_quotes():
    predictions = [
        _prediction(["a", "a", "b"], ["نقطة 308"]),  # rank 1
        _prediction(["b", "b", "a"], ["لا شيء هنا", "308 نقطة"]),  # rank 2: b counts once
        _prediction(["b"], ["308 " + "كلمة " * 100]),  # not retrieved; the quote is too long
        _prediction(["c"], [], answerable=False, refused=True),
    ]
    m = metrics(predictions)
    assert m["questions"] == 3
    assert m["hit@1"] == pytest.approx(1 / 3, abs=1e-4)
    assert m["hit@3"] == pytest.approx(2 / 3, abs=1e-4)
    assert m["mrr"] == pytest.approx((1 + 0.5) / 3, abs=1e-4)
    assert m["first_citation_gold"] == pytest.approx(1 / 3, abs=1e-4)
    assert m["top3_citations_gold"] == pytest.approx(2 / 3, abs=1e-4)
    assert m["answer_contains_gold"] == 1.0
    assert m["refused_answerable"] == 0.0 and m["refused_unanswerable"] == 1.0


def test_split_halves_keeps_articles_whole():
    docs = (
        load_documents(XQUAD / "docs.jsonl")
        if XQUAD.exists()
        else load_documents(TINY / "docs.jsonl")
    )
    first, second = split_halves(docs)
    assert first and second and len(first) + len(second) == len(docs)
    assert not {d.title for d in first} & {d.title for d in second}


def test_eval_command_writes_predictions_and_metrics(tmp_path):
    out = tmp_path / "preds.jsonl"
    result = run_cli(
        "eval",
        "--docs",
        str(TINY / "docs.jsonl"),
        "--questions",
        str(TINY / "questions.jsonl"),
        "--out",
        str(out),
        "--json",
        data_dir=tmp_path / "unused",
    )
    assert result.returncode == 0, result.stderr
    m = json.loads(result.stdout)
    assert m["questions"] == 4
    assert m["hit@1"] == 1.0  # three short unrelated paragraphs: each question finds its own
    assert {"mrr", "first_citation_gold", "refused_unanswerable", "latency_p95_ms"} <= set(m)
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    first = lines[0]
    assert first["id"] == "q1" and first["retrieved"][0]["doc_id"] == "port#0"
    assert {"doc_id", "chunk_id", "score"} <= set(first["retrieved"][0])
    assert {"answer", "citations", "refused", "latency_ms"} <= set(first)
    assert all({"doc_id", "quote"} <= set(c) for c in first["citations"])
    assert not (tmp_path / "unused").exists()  # the eval index is a throwaway


# ---- the quality floor --------------------------------------------------------------------

# A little under what the shipped pipeline reaches on this sample (docs/eval.md), so that a
# change that hurts retrieval, quotes or refusals fails here. The full eval stays a command.
# On this sample the shipped pipeline reaches hit@1 0.91, hit@5 0.98, MRR 0.94, first
# citation 0.82, one of three 0.89, refusals 0.78 of unanswerable and 0.03 of answerable.
FLOORS = {
    "hit@1": 0.86,
    "hit@5": 0.95,
    "mrr": 0.90,
    "first_citation_gold": 0.77,
    "top3_citations_gold": 0.85,
    "refused_unanswerable": 0.72,
}
CEILINGS = {"refused_answerable": 0.07}


def require_xquad() -> None:
    """Fail in CI, skip elsewhere, when the XQuAD dev split is not beside the repo."""
    if not XQUAD.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{XQUAD} is missing: CI must have shared/ beside the repo")
        pytest.skip(f"{XQUAD} not found (shared/ beside the repo)")


@pytest.fixture(scope="module")
def xquad_sample():
    require_xquad()
    docs = load_documents(XQUAD / "docs.jsonl")
    questions = sample(load_questions(XQUAD / "questions.jsonl"), 100)
    return evaluate(Settings(_env_file=None), docs, questions).metrics


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_xquad_quality_does_not_drop_below_floor(xquad_sample, name):
    assert xquad_sample[name] >= FLOORS[name], xquad_sample


@pytest.mark.parametrize("name", sorted(CEILINGS))
def test_xquad_answerable_questions_are_rarely_refused(xquad_sample, name):
    assert xquad_sample[name] <= CEILINGS[name], xquad_sample


def test_xquad_sample_is_a_fixed_hundred_questions(xquad_sample):
    assert xquad_sample["questions"] == 100


def test_a_name_in_the_question_brings_the_passage_that_spells_it_in_arabic_first(tmp_path):
    # "English" is written الإنجليز in the Huguenot paragraph; dense similarity alone puts
    # a paragraph about Victoria's colonists first (docs/eval.md, names across scripts).
    require_xquad()
    keys = ("Huguenot#1", "Victoria_(Australia)#4")
    docs = [d for d in load_documents(XQUAD / "docs.jsonl") if d.key in keys]
    settings = Settings(_env_file=None, data_dir=tmp_path / "data")
    answerer = build_answerer(settings, build_store(settings, docs, tmp_path / "data"))

    answer = answerer.ask("When were these settlers naturalized as English colonists?")

    assert not answer.refused
    assert answer.citations[0].title == "Huguenot"
    assert "الإنجليز" in answer.hits[0].chunk.text

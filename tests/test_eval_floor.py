"""A quality floor on XQuAD: 100 dev questions through the bot's own chain.

In a file of its own: indexing the 120 documents is the longest setup of the suite, and the
test runner schedules by file, so the other eval tests run beside it.
"""

from __future__ import annotations

import pytest

from bot.evaluation import evaluate, load_documents, load_questions, sample
from bot.settings import Settings

from .test_eval import XQUAD, require_xquad

# A little under what the shipped pipeline reaches on this sample (docs/eval.md), so that a
# change that hurts retrieval, quotes or refusals fails here. The full eval stays a command.
# On this sample the shipped pipeline reaches hit@1 0.91, hit@5 0.98, MRR 0.94, first
# citation 0.83, one of three 0.91; of the unanswerable questions it refuses 0.69 and answers
# 0.02 confidently, of the answerable ones it refuses 0.01. The refusal bounds follow the
# held-out figures of the full set (refused 0.64 / confident 0.036 / answerable refused
# 0.013) and the targets (confident <= 0.10, answerable refused <= 0.05), not the sample:
# the shipped model was fitted on these questions.
FLOORS = {
    "hit@1": 0.86,
    "hit@5": 0.95,
    "mrr": 0.90,
    "first_citation_gold": 0.77,
    "top3_citations_gold": 0.85,
    "refused_unanswerable": 0.60,
}
CEILINGS = {"refused_answerable": 0.05, "unanswerable_confident": 0.10}


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
def test_xquad_refusals_stay_within_their_ceilings(xquad_sample, name):
    assert xquad_sample[name] <= CEILINGS[name], xquad_sample


def test_xquad_sample_is_a_fixed_hundred_questions(xquad_sample):
    assert xquad_sample["questions"] == 100

"""A quality floor on XQuAD: 100 dev questions through the bot's own chain.

In a file of its own: indexing the documents is the longest setup of the suite, and the
test runner schedules by file, so the other eval tests run beside it.
"""

from __future__ import annotations

import pytest

from bot.evaluation import evaluate, load_documents, load_questions, sample
from bot.settings import Settings

from .test_eval import XQUAD, require_xquad

# Eight of the 24 titles (every third, in sorted order), each with all five of its
# paragraphs: a third of the documents, so a third of the indexing, while each question
# still has its own article's other paragraphs and seven other articles as distractors and
# the refusal half still has four unseen articles. Their metrics are the full set's, near
# enough (below); the full eval stays a command (docs/eval.md).
TITLES = slice(2, None, 3)

# A little under what the shipped pipeline reaches on this sample, so that a change that
# hurts retrieval, quotes or refusals fails here. On this sample the shipped pipeline reaches
# hit@1 0.91, hit@5 0.98, MRR 0.945, first citation 0.83, one of three 0.95; of the 53
# unanswerable questions it refuses 0.81 and answers 0.02 confidently, of the answerable ones
# it refuses 0.01 (session 7's quotes; session 6's: one of three 0.94; with session 5's
# ranking weights: 0.91, 0.98, 0.94, 0.83, 0.93, the same refusals; on all 120 documents:
# 0.91, 0.98, 0.94, 0.83, 0.91; 0.69, 0.02).
# The refusal bounds follow the held-out figures of the full set (refused 0.64 / confident
# 0.036 / answerable refused 0.013) and the targets (confident <= 0.10, answerable refused
# <= 0.05), not the sample: the shipped model was fitted on these questions.
FLOORS = {
    "hit@1": 0.86,
    "hit@5": 0.95,
    "mrr": 0.90,
    "first_citation_gold": 0.77,
    "top3_citations_gold": 0.87,
    "refused_unanswerable": 0.60,
}
CEILINGS = {"refused_answerable": 0.05, "unanswerable_confident": 0.10}


@pytest.fixture(scope="module")
def xquad_sample():
    require_xquad()
    docs = load_documents(XQUAD / "docs.jsonl")
    titles = set(sorted({d.title for d in docs})[TITLES])
    docs = [d for d in docs if d.title in titles]
    keys = {d.key for d in docs}
    questions = [q for q in load_questions(XQUAD / "questions.jsonl") if q.doc_id in keys]
    return evaluate(Settings(_env_file=None), docs, sample(questions, 100)).metrics


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_xquad_quality_does_not_drop_below_floor(xquad_sample, name):
    assert xquad_sample[name] >= FLOORS[name], xquad_sample


@pytest.mark.parametrize("name", sorted(CEILINGS))
def test_xquad_refusals_stay_within_their_ceilings(xquad_sample, name):
    assert xquad_sample[name] <= CEILINGS[name], xquad_sample


def test_xquad_sample_is_a_fixed_hundred_questions_over_eight_whole_articles(xquad_sample):
    assert xquad_sample["questions"] == 100
    assert xquad_sample["unanswerable_questions"] == 53

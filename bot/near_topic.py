"""Near-topic questions for `articlebot eval --near-topic`: each asked over its own article
with the paragraph that answers it withheld.

The eval's unanswerable questions are other articles' (bot/evaluation.py): mostly off-topic,
refused on the words they do not share with the store. A reader of the news asks about the
story in front of them, and the story answers much but not everything. Here each article's
paragraphs (the documents of one title, in file order) are dealt into two parts, in turn;
the questions of each part are asked over an index of every document but that part's. The
store then holds the question's article, its answering paragraph left out. Articles of one
paragraph are context only: none of their questions is asked.

A paragraph left in may still answer (an article repeats facts, a date or a name, in several
paragraphs): a near-topic answer whose quotes hold a gold answer is counted apart
(``near_topic_confident_gold`` in bot/metrics.py). The refusal model is never fitted on
these questions: they are decided by the model of their article's fold (``--folds``) or the
shipped one.

The two indexes reuse the vectors of the whole set's index (its embedding cache is copied):
they cost no model call.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from index.embedding_cache import FILE_NAME as CACHE_FILE
from index.types import Article

from . import evaluation
from .evaluation import Direction, Question
from .settings import Settings


def parts(docs: list[Article]) -> dict[str, int]:
    """The part (0 or 1) of each document whose article has another paragraph, by key:
    an article's paragraphs dealt in turn, in file order."""
    by_title: dict[str, list[Article]] = {}
    for doc in docs:
        by_title.setdefault(doc.title, []).append(doc)
    return {
        doc.key: number % 2
        for paragraphs in by_title.values()
        if len(paragraphs) > 1
        for number, doc in enumerate(paragraphs)
    }


def measured(
    settings: Settings,
    direction: Direction,
    base: Path,
    *,
    sample_size: int | None = None,
    maps: Path | None = None,
) -> list[dict]:
    """The near-topic records of a direction (``near_topic`` set, unanswerable), each
    question asked with the question maps of its article's fold in ``maps`` where given
    (``--maps-by-fold``); cached in ``base`` like ``evaluation.measured``."""
    docs = evaluation.load_documents(direction.docs)
    questions = evaluation.sample(
        evaluation.load_questions(direction.questions, direction.field), sample_size
    )
    titles = {d.key: d.title for d in docs}
    records = []
    for path, asked in evaluation.maps_by_fold(maps, questions, titles).items():
        fold_settings = settings.model_copy(update={"question_maps": path}) if maps else settings
        records += _cached(fold_settings, direction, docs, asked, base)
    return records


def _cached(
    settings: Settings, direction: Direction, docs: list[Article], questions: list[Question], base
) -> list[dict]:
    name = f"{direction.name} near-topic"
    return evaluation.cached(
        evaluation.records_file(base, name, settings, docs, questions, "near topic"),
        lambda: [
            {**r, "direction": direction.name, "near_topic": True}
            for r in _measure(settings, docs, questions, Path(base))
        ],
    )


def _measure(
    settings: Settings, docs: list[Article], questions: list[Question], base: Path
) -> list[dict]:
    """Each part's questions asked over every document but that part's."""
    settings = settings.model_copy(update={"seed_sample": False})
    root = evaluation.index_dir(settings, docs, base)
    whole = root / "all"
    evaluation.build_store(settings, docs, whole).close()  # (there already after the eval's)
    part_of = parts(docs)
    records = []
    for part in (0, 1):
        asked = [
            Question(q.id, q.question, q.doc_id, q.golds, answerable=False)
            for q in questions
            if part_of.get(q.doc_id) == part
        ]
        if not asked:
            continue
        data_dir = root / f"near-topic-{part}"
        if not (data_dir / CACHE_FILE).exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(whole / CACHE_FILE, data_dir / CACHE_FILE)
        kept = [d for d in docs if part_of.get(d.key) != part]
        records += evaluation.ask_over(settings, docs, kept, asked, data_dir)
    return records

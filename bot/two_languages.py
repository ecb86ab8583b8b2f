"""A store of two languages, made from an evaluation suite's parallel sets.

Every set of a suite holds its documents in one language. A reader who follows news in
Arabic and English has both in one store, where a question finds text in its own language
closer than the text in the other that answers it (docs/eval.md, "Articles in two
languages"). Where a suite holds the same documents in an Arabic-script set and in a
Latin-script one (same keys), this makes that store: the documents of half of the articles
(by title) in Arabic and of the other half in English; and asks every question about them
in each language it is asked in, one direction per script of the questions.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path

from index.language import dominant_script
from index.types import Article

from .evaluation import (
    TWO_LANGUAGES,
    Direction,
    Question,
    load_documents,
    load_questions,
    title_folds,
    write_questions,
)

SCRIPTS = ("arabic", "latin")


def scripts_of(direction: Direction) -> tuple[str, str]:
    """The script of a direction's questions and of its documents (their first twenty)."""
    docs = load_documents(direction.docs)[:20]
    questions = load_questions(direction.questions, direction.field)[:20]
    return (
        dominant_script(" ".join(q.question for q in questions)),
        dominant_script(" ".join(a.text[:200] for a in docs)),
    )


def halves(
    directions: list[Direction],
) -> tuple[list[Article], dict[str, list[Question]]]:
    """The documents of the two-language store (none if the suite has no parallel sets), and
    the questions about them by the script they are asked in (each question id once a
    script)."""
    docs: dict[str, dict[str, Article]] = defaultdict(dict)
    asked: dict[str, dict[str, Question]] = defaultdict(dict)
    for d in directions:
        question_script, doc_script = scripts_of(d)
        for a in load_documents(d.docs):
            docs[doc_script].setdefault(a.key, a)
        for q in load_questions(d.questions, d.field):
            asked[question_script].setdefault(q.id, q)
    both = sorted(set(docs["arabic"]) & set(docs["latin"]))
    if not both:
        return [], {}
    half = title_folds((docs["latin"][k].title for k in both), 2)
    stored = [docs[SCRIPTS[half[docs["latin"][k].title]]][k] for k in both]
    keys = set(both)
    questions = {s: [q for q in asked[s].values() if q.doc_id in keys] for s in SCRIPTS}
    return stored, {s: qs for s, qs in questions.items() if qs}


def directions(suite: list[Direction], base: Path) -> list[Direction]:
    """The two-language store's directions, one per script of the questions, their files
    written under ``base`` (none if the suite has no parallel sets)."""
    stored, questions = halves(suite)
    if not stored:
        return []
    lines = [
        json.dumps(
            {"id": a.key, "title": a.title, "text": a.text, "lang": a.lang}, ensure_ascii=False
        )
        for a in stored
    ]
    digest = hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:12]
    folder = Path(base) / f"two-languages-{digest}"
    folder.mkdir(parents=True, exist_ok=True)
    docs = folder / "docs.jsonl"
    docs.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    found = []
    for script, asked in questions.items():
        path = folder / f"questions-{script}.jsonl"
        write_questions(path, asked)
        found.append(Direction(f"{TWO_LANGUAGES}, {script} questions", docs, path))
    return found

"""`articlebot eval`: retrieval and answer quality on a JSONL set of articles and questions.

Documents are one JSON object a line (``id``, ``title``, ``text``, ``lang``); questions are
one a line (``id``, ``question``, ``doc_id``, ``answers`` and optionally ``answers_ar``).
Every question goes through the chain the bot uses (``build_answerer`` -> ``Answerer.ask``)
over a throwaway index of the documents.

Unanswerable questions are made from the same files: index half of the articles (grouped by
title, so that sibling paragraphs do not give answers away) and ask the questions of the
other half. The bot should refuse those.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from index.language import ARABIC_DIACRITICS, ARABIC_DIGITS
from index.readers import Limits, read_file
from index.store import ArticleStore
from index.types import Article

from .answering import Answerer
from .settings import Settings

# A citation quoting more than this is a chunk, not an answer: it does not count.
MAX_QUOTE_CHARS = 400
HIT_KS = (1, 3, 5, 10)

# (settings, store) -> the answer chain to evaluate; the bot's own is core.build_answerer.
AnswererFactory = Callable[[Settings, ArticleStore], Answerer]


# ---- normalization ----------------------------------------------------------------------

_ARABIC_LETTERS = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ئ": "ي",
        "ؤ": "و",
        "ة": "ه",
        "ک": "ك",
        "ی": "ي",
    }
)
_ENGLISH_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize(text: str) -> str:
    """Text for answer matching: case, punctuation, Arabic diacritics and letter variants,
    digits and English articles (as SQuAD does) folded away; spaces collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = ARABIC_DIACRITICS.sub("", text).translate(_ARABIC_LETTERS).translate(ARABIC_DIGITS)
    text = "".join(" " if unicodedata.category(ch)[0] in "PS" else ch for ch in text)
    text = _ENGLISH_ARTICLES.sub(" ", text)
    return " ".join(text.split())


def contains_answer(text: str, golds: Iterable[str]) -> bool:
    """Whether ``text`` holds any of the gold answers, after normalization."""
    haystack = normalize(text)
    return any(g and g in haystack for g in (normalize(gold) for gold in golds))


# ---- data -------------------------------------------------------------------------------


@dataclass
class Question:
    id: str
    question: str
    doc_id: str
    golds: list[str]  # answers and answers_ar together
    answerable: bool = True


def load_documents(path: Path) -> list[Article]:
    """The documents of a JSONL file, read by the same reader as `index add`."""
    big = Limits(max_chars=10_000_000, max_bytes=2 * 1024 * 1024 * 1024)
    articles = read_file(Path(path), big)
    missing = [a.title for a in articles if a.key is None]
    if missing:
        raise ValueError(f"{path}: every document needs an id ({len(missing)} have none)")
    return articles


def load_questions(path: Path) -> list[Question]:
    questions = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        record = json.loads(line)
        try:
            golds = [*record.get("answers", []), *record.get("answers_ar", [])]
            questions.append(
                Question(str(record["id"]), record["question"], str(record["doc_id"]), golds)
            )
        except KeyError as exc:
            raise ValueError(f"{path} line {number}: missing {exc}") from exc
    return questions


def sample(questions: list[Question], n: int | None) -> list[Question]:
    """About ``n`` questions spread evenly over the file (all of them when n is None)."""
    if not n or n >= len(questions):
        return questions
    step = len(questions) / n
    return [questions[int(i * step)] for i in range(n)]


def split_halves(docs: list[Article]) -> tuple[list[Article], list[Article]]:
    """Two halves of the documents, whole articles (same title) on one side, alternating."""
    titles = sorted({d.title for d in docs})
    if len(titles) < 2:  # one title for everything: split the documents themselves
        return docs[::2], docs[1::2]
    first = set(titles[::2])
    return [d for d in docs if d.title in first], [d for d in docs if d.title not in first]


# ---- running ----------------------------------------------------------------------------


def build_store(settings: Settings, docs: list[Article], data_dir: Path) -> ArticleStore:
    """A fresh store in ``data_dir`` holding ``docs`` and nothing else."""
    from .core import indexer, open_store

    settings = settings.model_copy(update={"data_dir": data_dir})
    store = open_store(settings, seed=False)
    indexer(settings, store).add(docs)  # documents already there (a reused workdir) are skipped
    return store


def ask_all(answerer: Answerer, store: ArticleStore, questions: list[Question]) -> list[dict]:
    """One prediction record per question, asked through ``answerer``."""
    keys = {a.id: a.key for a in store.articles()}
    predictions = []
    for q in questions:
        started = time.perf_counter()
        answer = answerer.ask(q.question)
        latency = (time.perf_counter() - started) * 1000
        predictions.append(
            {
                "id": q.id,
                "question": q.question,
                "doc_id": q.doc_id,
                "answerable": q.answerable,
                "retrieved": [
                    {
                        "doc_id": keys.get(h.chunk.article_id),
                        "chunk_id": h.chunk.id,
                        "score": round(h.score, 4),
                    }
                    for h in answer.hits
                ],
                "answer": answer.text,
                "citations": [
                    {"doc_id": keys.get(c.article_id), "quote": c.quote, "score": c.score}
                    for c in answer.citations
                ],
                "cited_titles": sorted({c.title for c in answer.citations}),
                "refused": answer.refused,
                "latency_ms": round(latency, 1),
                "golds": q.golds,
            }
        )
    return predictions


@dataclass
class EvalRun:
    predictions: list[dict]
    metrics: dict[str, float] = field(default_factory=dict)


def evaluate(
    settings: Settings,
    docs: list[Article],
    questions: list[Question],
    *,
    unanswerable: bool = True,
    make_answerer: AnswererFactory | None = None,
    workdir: Path | None = None,
) -> EvalRun:
    """Index ``docs`` in a temp dir, ask every question, and measure; optionally also ask
    the questions of half of the articles over an index of the other half.

    With ``workdir``, the indexes are kept there and reused by later calls with the same
    embedder and chunking (the ablation compares answer chains over one index).
    """
    from .core import build_answerer

    make_answerer = make_answerer or build_answerer
    settings = settings.model_copy(update={"seed_sample": False})
    with tempfile.TemporaryDirectory(prefix="articlebot-eval-") as tmp:
        base = Path(workdir) if workdir else Path(tmp)
        layout = f"{settings.embeddings}-{settings.chunk_size}-{settings.chunk_overlap}"
        base = base / re.sub(r"[^\w.-]+", "_", layout)
        if not unanswerable:
            return _finish(_ask_over(settings, docs, questions, base / "all", make_answerer))
        # Index half of the articles and ask the other half's questions; then add the rest
        # to a copy of that index (embedding each document once) and ask every question.
        indexed, held_out = split_halves(docs)
        held_keys = {d.key for d in held_out}
        asked = [
            Question(q.id, q.question, q.doc_id, q.golds, answerable=False)
            for q in questions
            if q.doc_id in held_keys
        ]
        refusals = _ask_over(settings, indexed, asked, base / "half", make_answerer)
        if not (base / "all").exists():
            shutil.copytree(base / "half", base / "all")
        answers = _ask_over(settings, docs, questions, base / "all", make_answerer)
        return _finish(answers + refusals)


def _finish(predictions: list[dict]) -> EvalRun:
    return EvalRun(predictions, metrics(predictions))


def _ask_over(
    settings: Settings,
    docs: list[Article],
    questions: list[Question],
    data_dir: Path,
    make_answerer: AnswererFactory,
) -> list[dict]:
    store = build_store(settings, docs, data_dir)
    try:
        return ask_all(make_answerer(settings, store), store, questions)
    finally:
        store.close()


# ---- metrics ----------------------------------------------------------------------------


def doc_ranking(prediction: dict) -> list[str]:
    """The retrieved documents, best first, each once."""
    seen: list[str] = []
    for hit in prediction["retrieved"]:
        if hit["doc_id"] not in seen:
            seen.append(hit["doc_id"])
    return seen


def answer_body(prediction: dict) -> str:
    """The answer without the titles it names (a title may hold the answer by chance)."""
    text = prediction["answer"]
    for title in prediction.get("cited_titles", []):
        text = text.replace(title, " ")
    return text


def _quote_has_answer(citation: dict, prediction: dict) -> bool:
    quote = citation["quote"]
    return len(quote) <= MAX_QUOTE_CHARS and contains_answer(quote, prediction["golds"])


def metrics(predictions: list[dict]) -> dict[str, float]:
    """hit@k, MRR, answer and citation accuracy, refusal rates and latency."""
    answerable = [p for p in predictions if p["answerable"]]
    unanswerable = [p for p in predictions if not p["answerable"]]
    out: dict[str, float] = {"questions": len(answerable)}
    if answerable:
        n = len(answerable)
        ranks = []
        for p in answerable:
            docs = doc_ranking(p)
            ranks.append(docs.index(p["doc_id"]) + 1 if p["doc_id"] in docs else None)
        for k in HIT_KS:
            out[f"hit@{k}"] = sum(1 for r in ranks if r and r <= k) / n
        out["mrr"] = sum(1 / r for r in ranks if r) / n
        answered = [p for p in answerable if not p["refused"]]
        out["answer_contains_gold"] = (
            sum(1 for p in answered if contains_answer(answer_body(p), p["golds"])) / n
        )
        out["first_citation_gold"] = (
            sum(1 for p in answered if p["citations"] and _quote_has_answer(p["citations"][0], p))
            / n
        )
        out["top3_citations_gold"] = (
            sum(1 for p in answered if any(_quote_has_answer(c, p) for c in p["citations"][:3])) / n
        )
        out["refused_answerable"] = sum(1 for p in answerable if p["refused"]) / n
    if unanswerable:
        out["unanswerable_questions"] = len(unanswerable)
        out["refused_unanswerable"] = sum(1 for p in unanswerable if p["refused"]) / len(
            unanswerable
        )
    latencies = sorted(p["latency_ms"] for p in predictions)
    if latencies:
        out["latency_p50_ms"] = statistics.median(latencies)
        out["latency_p95_ms"] = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


LABELS = {
    "questions": "answerable questions",
    "hit@1": "hit@1 (doc_id)",
    "hit@3": "hit@3",
    "hit@5": "hit@5",
    "hit@10": "hit@10",
    "mrr": "MRR",
    "answer_contains_gold": "answer contains gold",
    "first_citation_gold": "first citation has gold",
    "top3_citations_gold": "one of first 3 has gold",
    "refused_answerable": "refused, answerable",
    "unanswerable_questions": "unanswerable questions",
    "refused_unanswerable": "refused, unanswerable",
    "latency_p50_ms": "latency p50 (ms)",
    "latency_p95_ms": "latency p95 (ms)",
}


def metrics_table(values: dict[str, float]) -> str:
    width = max(len(label) for label in LABELS.values())
    return "\n".join(f"{LABELS.get(key, key):<{width}}  {value:g}" for key, value in values.items())


# ---- the command ------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--docs", required=True, type=Path, help="documents, JSONL")
    parser.add_argument("--questions", required=True, type=Path, help="questions, JSONL")
    parser.add_argument("--out", type=Path, help="write one prediction a line here (JSONL)")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    parser.add_argument("--sample", type=int, help="ask only about N questions, evenly spread")
    parser.add_argument(
        "--no-unanswerable",
        dest="unanswerable",
        action="store_false",
        help="skip the half-index run that measures refusals",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """measure retrieval and answers on a JSONL set of articles and questions"""
    try:
        docs = load_documents(args.docs)
        questions = sample(load_questions(args.questions), args.sample)
    except (OSError, ValueError) as exc:
        print(f"articlebot eval: {exc}", file=sys.stderr)
        return 2
    result = evaluate(settings, docs, questions, unanswerable=args.unanswerable)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            for p in result.predictions:
                handle.write(json.dumps(p, ensure_ascii=False) + "\n")
    if args.json:
        print(json.dumps(result.metrics, indent=2))
    else:
        print(metrics_table(result.metrics))
    return 0


COMMAND = (add_arguments, run)

"""How the evaluation scores predictions: retrieval, quotes, refusals and confidence bands.

A prediction is one dict a question, as ``articlebot eval --out`` writes them: ``doc_id``
(the gold document), ``answerable``, ``retrieved`` (doc ids, best first), ``answer``,
``citations`` (quotes), ``refused``, ``confidence``, ``latency_ms`` and ``golds``.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from collections.abc import Iterable

from index.language import ARABIC_DIACRITICS, ARABIC_DIGITS

from .types import CONFIDENCE_BANDS

# A citation quoting more than this is a chunk, not an answer: it does not count.
MAX_QUOTE_CHARS = 400
HIT_KS = (1, 3, 5, 10)


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


def quote_has_answer(citation: dict, prediction: dict) -> bool:
    quote = citation["quote"]
    return len(quote) <= MAX_QUOTE_CHARS and contains_answer(quote, prediction["golds"])


def _band(prediction: dict) -> str:
    return prediction.get("confidence") or ("refused" if prediction["refused"] else "confident")


def metrics(predictions: list[dict]) -> dict[str, float]:
    """hit@k, MRR, answer and citation accuracy, refusal rates, bands and latency.

    Quotes count only where the answer was not refused; an "unsure" answer shows them.
    """
    answerable = [p for p in predictions if p["answerable"]]
    unanswerable = [p for p in predictions if not p["answerable"] and not p.get("near_topic")]
    near_topic = [p for p in predictions if p.get("near_topic")]
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
            sum(1 for p in answered if p["citations"] and quote_has_answer(p["citations"][0], p))
            / n
        )
        out["top3_citations_gold"] = (
            sum(1 for p in answered if any(quote_has_answer(c, p) for c in p["citations"][:3])) / n
        )
        out["refused_answerable"] = sum(1 for p in answerable if p["refused"]) / n
        for band in CONFIDENCE_BANDS:
            out[f"answerable_{band}"] = sum(1 for p in answerable if _band(p) == band) / n
    if unanswerable:
        n = len(unanswerable)
        out["unanswerable_questions"] = n
        out["refused_unanswerable"] = sum(1 for p in unanswerable if p["refused"]) / n
        for band in CONFIDENCE_BANDS:
            out[f"unanswerable_{band}"] = sum(1 for p in unanswerable if _band(p) == band) / n
    if near_topic:
        # Asked over their article with their own paragraph withheld (bot/near_topic.py):
        # a confident answer is wrong unless another paragraph held the answer it quotes.
        n = len(near_topic)
        out["near_topic_questions"] = n
        for band in CONFIDENCE_BANDS:
            out[f"near_topic_{band}"] = sum(1 for p in near_topic if _band(p) == band) / n
        out["near_topic_confident_gold"] = (
            sum(
                1
                for p in near_topic
                if _band(p) == "confident" and any(quote_has_answer(c, p) for c in p["citations"])
            )
            / n
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
    "answerable_confident": "answerable: confident",
    "answerable_unsure": "answerable: unsure",
    "answerable_refused": "answerable: refused",
    "unanswerable_questions": "unanswerable questions",
    "refused_unanswerable": "refused, unanswerable",
    "unanswerable_confident": "unanswerable: confident",
    "unanswerable_unsure": "unanswerable: unsure",
    "unanswerable_refused": "unanswerable: refused",
    "near_topic_questions": "near-topic questions",
    "near_topic_confident": "near-topic: confident",
    "near_topic_unsure": "near-topic: unsure",
    "near_topic_refused": "near-topic: refused",
    "near_topic_confident_gold": "near-topic: confident, quoting a gold answer",
    "latency_p50_ms": "latency p50 (ms)",
    "latency_p95_ms": "latency p95 (ms)",
}


def metrics_table(values: dict[str, float]) -> str:
    """One metric a line, labelled."""
    width = max(len(label) for label in LABELS.values())
    return "\n".join(f"{LABELS.get(key, key):<{width}}  {value:g}" for key, value in values.items())


# The suite's columns: (heading, metric keys shown together as a/b/c).
SUITE_COLUMNS = (
    ("questions", ("questions", "unanswerable_questions")),
    ("hit@1", ("hit@1",)),
    ("hit@5", ("hit@5",)),
    ("MRR", ("mrr",)),
    ("1st cit.", ("first_citation_gold",)),
    ("top-3", ("top3_citations_gold",)),
    ("refused ans.", ("refused_answerable",)),
    ("refused unans.", ("refused_unanswerable",)),
    ("ans. conf/unsure/ref", tuple(f"answerable_{b}" for b in CONFIDENCE_BANDS)),
    ("unans. conf/unsure/ref", tuple(f"unanswerable_{b}" for b in CONFIDENCE_BANDS)),
)
# Shown when some row has near-topic questions (``--near-topic``).
NEAR_TOPIC_COLUMNS = (
    ("near-topic", ("near_topic_questions",)),
    ("near-topic conf/unsure/ref", tuple(f"near_topic_{b}" for b in CONFIDENCE_BANDS)),
    ("near-topic conf. quoting gold", ("near_topic_confident_gold",)),
)


def suite_table(rows: dict[str, dict[str, float]]) -> str:
    """One row a direction, as a Markdown table (readable as text too)."""

    def cell(values: dict[str, float], keys: tuple[str, ...]) -> str:
        parts = [values.get(k) for k in keys]
        return "/".join("n/a" if v is None else f"{v:.3f}".rstrip("0").rstrip(".") for v in parts)

    columns = SUITE_COLUMNS
    if any("near_topic_questions" in values for values in rows.values()):
        columns += NEAR_TOPIC_COLUMNS
    headings = ["direction"] + [heading for heading, _ in columns]
    body = [[name] + [cell(values, keys) for _, keys in columns] for name, values in rows.items()]
    widths = [max(len(line[i]) for line in [headings, *body]) for i in range(len(headings))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headings), rule, *(line(cells) for cells in body)])

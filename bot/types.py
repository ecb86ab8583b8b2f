"""The data that flows from the answer chain to the front ends, and the error it stops with."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from index.types import Hit, link_of

# The answer's bands, most sure first: quotes; quotes with a caveat; "the articles do not
# seem to answer".
CONFIDENCE_BANDS = ("confident", "unsure", "refused")


class LLMUnavailable(RuntimeError):
    """A backend that cannot be built: a missing package, model file or setting (bot/llm.py
    raises it; here, so that the front ends catch it without loading LangChain)."""


@dataclass
class Citation:
    """A numbered quote: the exact passage of an article that an answer relies on."""

    number: int
    article_id: str
    title: str
    source: str
    quote: str
    score: float
    chunk_id: int
    start: int  # character offsets of the quote in the article's text
    end: int
    date: str | None = None  # when the article was published (ISO 8601), if known
    added_at: str | None = None  # when it was indexed: what is shown when ``date`` is None
    link: str | None = None  # the article's web address, if it has one
    also_in: list[str] = field(default_factory=list)  # the sources of the article's copies
    # The quote in the question's language, written by the language model (bot/translation.py)
    # when the quote is in another; shown under the quote, marked as a translation. The quote
    # stays the evidence: None when there is none (no model, same language, or it failed).
    translation: str | None = None

    @classmethod
    def of(cls, number: int, hit: Hit, quote: str, score: float, start: int, end: int) -> Citation:
        """Citation ``number``: ``quote``, the text from ``start`` to ``end`` of the article of
        ``hit``'s chunk, with that article's title, source, dates and link."""
        chunk = hit.chunk
        return cls(
            number=number,
            article_id=chunk.article_id,
            title=chunk.title,
            source=chunk.source,
            quote=quote,
            score=round(score, 4),
            chunk_id=chunk.id,
            start=start,
            end=end,
            date=chunk.date,
            added_at=chunk.added_at,
            link=link_of(chunk.source),
        )


@dataclass
class Answer:
    """What the chain returns for a question; front ends render it and never re-derive it."""

    question: str
    lang: str  # the language of the question, and of the fixed text around the quotes
    text: str  # the answer with [n] markers, without the list of sources
    citations: list[Citation]
    hits: list[Hit]
    refused: bool
    mode: str = "extractive"
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # How sure the chain is that the quotes answer (bot/confidence.py): "confident",
    # "unsure" (quotes shown with a caveat) or "refused"; empty means what ``refused`` says.
    confidence: str = ""
    # What the decision weighed: the evidence's measures and the probability that the
    # articles answer, by name (empty when nothing was weighed, e.g. no question).
    evidence: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.confidence:
            self.confidence = "refused" if self.refused else "confident"
        if self.confidence not in CONFIDENCE_BANDS:
            raise ValueError(f"confidence must be one of {CONFIDENCE_BANDS}: {self.confidence!r}")
        if self.refused != (self.confidence == "refused"):
            raise ValueError(f"refused={self.refused} contradicts confidence {self.confidence!r}")

    def to_dict(self) -> dict:
        """A JSON-ready form: what ``ask --json`` prints and chat histories keep.

        Lossless: ``Answer.from_dict(answer.to_dict()) == answer``.
        """
        return {
            "question": self.question,
            "lang": self.lang,
            "answer": self.text,
            "refused": self.refused,
            "mode": self.mode,
            "citations": [asdict(c) for c in self.citations],
            "retrieved": [h.to_dict() for h in self.hits],
            "timings_ms": dict(self.timings),
            "notes": list(self.notes),
            "confidence": self.confidence,
            "evidence": dict(self.evidence),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Answer:
        """The Answer that ``to_dict`` described."""
        return cls(
            question=data["question"],
            lang=data["lang"],
            text=data["answer"],
            citations=[Citation(**c) for c in data["citations"]],
            hits=[Hit.from_dict(h) for h in data["retrieved"]],
            refused=data["refused"],
            mode=data["mode"],
            timings=dict(data["timings_ms"]),
            notes=list(data["notes"]),
            # Answers stored before the bands existed have neither: derived from ``refused``.
            confidence=data.get("confidence", ""),
            evidence=dict(data.get("evidence", {})),
        )

"""The data that flows from the answer chain to the front ends."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from index.types import Hit


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
        )

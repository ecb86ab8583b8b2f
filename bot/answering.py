"""Answering: a LangChain chain from a question to an Answer with numbered citations.

The chain is ``question -> retriever -> generator``. The default generator is extractive:
it needs no language model and never invents; it quotes the sentences of the retrieved
chunks that best answer the question. The LLM generator (bot/llm.py) plugs in with the
same ``generate`` signature, and adds ``condense`` (follow-up -> standalone question, run
before retrieval) and ``stream`` (pieces of text, then the Answer).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from langchain_core.runnables import Runnable, RunnableLambda

from index.dates import DateWindow
from index.language import (
    UNSPACED_SCRIPTS,
    detect_language,
    dominant_script,
    language_script,
    word_count,
)
from index.near_duplicates import folded
from index.store import ArticleStore
from index.types import Hit, Sentence

from . import prompts, translation
from .anchors import anchor_overlap, anchors
from .confidence import ConfidenceModel, measure
from .gloss import glosses_for, passage_gloss
from .render import by_article
from .retrieval import ArticleRetriever
from .settings import Tuning
from .types import Answer, Citation

# One earlier exchange of a chat: (question, answer text).
Turn = tuple[str, str]


class Generator(Protocol):
    """Turns a question and its retrieved chunks into an Answer, as a stream.

    ``stream`` yields pieces of text as they are written (an LLM's; the extractive
    generator writes none), then ends with the Answer. Generators that understand
    follow-up questions also have ``condense(question, history) -> str``. ``searched`` is
    the text whose search found ``hits`` where it is not the question (its translation
    into the articles' language): the quotes are chosen, and the evidence measured, with it.
    """

    mode: str

    def stream(
        self, question: str, hits: list[Hit], lang: str, searched: str | None = None
    ) -> Iterator[str | Answer]: ...


def drain(stream: Iterator[str | Answer], on_text: Callable[[str], None] | None = None) -> Answer:
    """The Answer that ends ``stream``; each piece of text before it goes to ``on_text``."""
    for piece in stream:
        if isinstance(piece, Answer):
            return piece
        if on_text is not None:
            on_text(piece)
    raise RuntimeError("the answer stream ended without an Answer")


def question_language(question: str) -> str:
    """The language of the question, for the fixed text of the answer ("en" if unsure)."""
    script = dominant_script(question)
    if not any(language_script(lang) == script for lang in prompts.TEXTS if lang != "en"):
        # No templates in the question's script but English ones: skip langdetect (about a
        # fifth of an extractive answer's time).
        return "en"
    code = detect_language(question)
    return code if code in prompts.TEXTS else "en"


# ---- the extractive generator -------------------------------------------------------


def quotable(sentence: str, min_chars: int) -> bool:
    """Whether ``sentence`` can be a quote: four words at least, and ``min_chars`` characters
    in a script that spaces its words (a Chinese sentence of four words is a dozen)."""
    if word_count(sentence) < 4:
        return False
    return len(sentence) >= min_chars or dominant_script(sentence) in UNSPACED_SCRIPTS


_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")  # a quote never spans two paragraphs


def _heading(text: str) -> str:
    """``text`` as a title compares: spaces collapsed, case folded, no closing mark."""
    return " ".join(text.split()).casefold().rstrip(".!?؟…:")


@dataclass
class _Context:
    """What ranking learnt about the retrieved chunks, reused to pick neighbour sentences."""

    sentences: dict[int, list[Sentence]] = field(default_factory=dict)  # by chunk id
    similarity: dict[int, float] = field(default_factory=dict)  # by sentence id
    # The similarity the quotes are chosen by where it is not ``similarity``: to the
    # question's moved vector (bot/question_map.py), by sentence id.
    quote_similarity: dict[int, float] = field(default_factory=dict)
    terms: dict[int, float] = field(default_factory=dict)  # latent-term overlap, by sentence id
    quotable: set[int] = field(default_factory=set)  # ids of sentences long enough to quote


@dataclass
class ExtractiveGenerator:
    """Quotes the retrieved sentences that best answer the question, grouped by article."""

    store: ArticleStore
    retriever: ArticleRetriever
    # The refusal decision: a calibrated model fitted per embedder (bot/confidence.py),
    # which build_answerer loads.
    confidence: ConfidenceModel
    max_quotes: int = 3
    # The measured weights (docs/eval.md), one group for the whole chain.
    tuning: Tuning = field(default_factory=Tuning)
    mode: str = "extractive"

    def stream(
        self, question: str, hits: list[Hit], lang: str, searched: str | None = None
    ) -> Iterator[str | Answer]:
        """The whole answer at once: quotes have no pieces to show before they are chosen."""
        yield self.generate(searched or question, hits, lang)

    def generate(self, question: str, hits: list[Hit], lang: str) -> Answer:
        """The quotes that answer ``question`` from ``hits``: confidently, with a caveat
        ("unsure"), or a refusal, as the confidence model decides."""
        context = self._context(question, hits)
        # The sentences' latent terms: the retriever computed them on a close call between
        # articles; otherwise they are computed here when the decision weighs them (a second
        # model pass). The quotes weigh them whenever they are there (docs/eval.md).
        context.terms = {i: v for hit in hits for i, v in (hit.terms or {}).items()}
        if hits and all(hit.terms is None for hit in hits) and self.confidence.weighs_terms:
            ids = list({s.id for sentences in context.sentences.values() for s in sentences})
            context.terms = self.retriever.term_overlap(question, self.store.sentence_terms(ids))
        evidence = self._measure(question, hits, context, context.terms)
        probability = self.confidence.probability(evidence) if evidence else 0.0
        band = self.confidence.band(probability)
        evidence["probability"] = probability
        ranked = self._rank(question, hits, context)
        if not ranked or band == "refused":
            return Answer(
                question=question,
                lang=lang,
                text=prompts.text("cannot_answer", lang),
                citations=[],
                hits=hits,
                refused=True,
                mode=self.mode,
                notes=[
                    f"{prompts.CANNOT_ANSWER}: probability {probability:.4f} < "
                    f"{self.confidence.refuse_below:.4f}"
                    if ranked
                    else f"{prompts.CANNOT_ANSWER}: no quotable sentence"
                ],
                confidence="refused",
                evidence=evidence,
            )
        best = ranked[0][1]
        chosen = [
            (s, score, hit) for s, score, hit in ranked if score >= best - self.tuning.quote_margin
        ]
        citations: list[Citation] = []
        quoted: set[int] = set()
        # The sentences quoted, as compared: a sentence two articles share (a story told
        # by two outlets) is quoted once, however many chunks hold it.
        said: set[str] = set()
        for sentence, score, hit in chosen:
            if len(citations) == self.max_quotes:
                break
            if sentence.id in quoted or folded(sentence.text) in said:
                continue
            quoted.add(sentence.id)
            said.add(folded(sentence.text))
            start, end, text = sentence.start, sentence.end, sentence.text
            neighbour = None
            if self.tuning.quote_neighbours:
                neighbour = self._neighbour(sentence, hit, quoted, said, context)
            if neighbour is not None:
                quoted.add(neighbour.id)
                said.add(folded(neighbour.text))
                start, end = min(start, neighbour.start), max(end, neighbour.end)
                text = hit.chunk.text[start - hit.chunk.start : end - hit.chunk.start]
            citations.append(Citation.of(len(citations) + 1, hit, text, score, start, end))
        with_other_sources(self.store, citations)
        return Answer(
            question=question,
            lang=lang,
            text=render_quotes(citations, lang, band),
            citations=citations,
            hits=hits,
            refused=False,
            mode=self.mode,
            confidence=band,
            evidence=evidence,
        )

    def _measure(
        self, question: str, hits: list[Hit], context: _Context, terms: dict[int, float]
    ) -> dict[str, float]:
        """What the confidence model weighs (bot/confidence.py)."""
        return measure(
            question,
            hits,
            context.sentences,
            context.similarity,
            terms,
            context.quotable,
            evidence_terms_weight=self.tuning.evidence_terms_weight,
            sentence_evidence_discount=self.tuning.sentence_evidence_discount,
        )

    def _context(self, question: str, hits: list[Hit]) -> _Context:
        """The sentences of the hits and their similarity to the question."""
        context = _Context()
        query = self.retriever.query_vector(question) if hits else None
        chunks = [hit.chunk for hit in hits]
        every = self.store.sentences_of(chunks)
        towards = self.retriever.sentence_queries(question, chunks) if hits else []
        for hit, (sentences, vectors), (toward, offset) in zip(hits, every, towards, strict=True):
            if not sentences:
                continue
            context.sentences[hit.chunk.id] = sentences
            for sentence, sim in zip(sentences, vectors @ query, strict=True):
                context.similarity[sentence.id] = float(sim)
            if toward is not query or offset:  # a map's moved question, or the crossing
                for sentence, sim in zip(sentences, vectors @ toward, strict=True):
                    context.quote_similarity[sentence.id] = float(sim) + offset
            title = _heading(hit.chunk.title)
            for sentence in sentences:
                # The article's title line is not quoted: the answer names the article by
                # it above its quotes already ("From ..."), and it states no more.
                if (
                    quotable(sentence.text, self.tuning.min_quote_chars)
                    and _heading(sentence.text) != title
                ):
                    context.quotable.add(sentence.id)
        return context

    def _rank(
        self, question: str, hits: list[Hit], context: _Context
    ) -> list[tuple[Sentence, float, Hit]]:
        """The quotable sentences of the hits, best answer first, with their scores."""
        q_anchors = anchors(question)
        # An Arabic question's words, in English, for the English sentences (bot/gloss.py).
        q_glosses = glosses_for(question, {hit.chunk.lang for hit in hits})
        best: dict[int, tuple[Sentence, float, Hit]] = {}
        for hit in hits:
            for sentence in context.sentences.get(hit.chunk.id, []):
                if sentence.id not in context.quotable:
                    continue
                score = (
                    self.tuning.quote_sentence_weight * self._closeness(sentence.id, context)
                    + (1 - self.tuning.quote_sentence_weight) * hit.rank
                    + self.tuning.anchor_weight * anchor_overlap(q_anchors, sentence.text)
                    + self.tuning.quote_gloss_weight
                    * passage_gloss(q_glosses, sentence.text, hit.chunk.lang)
                )
                if sentence.id not in best or best[sentence.id][1] < score:
                    best[sentence.id] = (sentence, score, hit)
        return sorted(best.values(), key=lambda item: -item[1])

    def _neighbour(
        self, sentence: Sentence, hit: Hit, quoted: set[int], said: set[str], context: _Context
    ) -> Sentence | None:
        """The sentence before or after ``sentence`` in the same chunk that is closer to the
        question, if the two together stay within max_quote_chars and it was not quoted
        (``quoted`` by id, ``said`` by its folded text)."""
        sentences = context.sentences.get(hit.chunk.id, [])
        position = next((i for i, s in enumerate(sentences) if s.id == sentence.id), None)
        if position is None:
            return None
        candidates = [
            s
            for s in sentences[max(0, position - 1) : position + 2]
            if s.id != sentence.id
            and s.id not in quoted
            and folded(s.text) not in said
            and s.start >= hit.chunk.start
            and s.end <= hit.chunk.end
            and max(s.end, sentence.end) - min(s.start, sentence.start)
            <= self.tuning.max_quote_chars
            and not _PARAGRAPH_BREAK.search(
                hit.chunk.text[
                    min(s.end, sentence.end) - hit.chunk.start : max(s.start, sentence.start)
                    - hit.chunk.start
                ]
            )
        ]
        if not candidates or not (
            hit.chunk.start <= sentence.start < sentence.end <= hit.chunk.end
        ):
            return None
        return max(candidates, key=lambda s: self._closeness(s.id, context))

    def _closeness(self, sentence_id: int, context: _Context) -> float:
        """How close a sentence is to the question, for quoting: similarity (to the moved
        question where there is one) plus weighted term overlap."""
        similarity = context.quote_similarity.get(sentence_id)
        if similarity is None:
            similarity = context.similarity.get(sentence_id, -1.0)
        return similarity + self.tuning.quote_terms_weight * context.terms.get(sentence_id, 0.0)


def with_other_sources(store: ArticleStore, citations: list[Citation]) -> None:
    """Name in each citation the sources of its article's copies (the same story elsewhere)."""
    others: dict[str, list[str]] = {}
    for copy in store.copies({c.article_id for c in citations}) if citations else []:
        others.setdefault(copy.of, []).append(copy.article.source)
    for citation in citations:
        citation.also_in = others.get(citation.article_id, [])


def distinct_hits(hits: list[Hit]) -> list[Hit]:
    """The hits without those whose chunk says what an earlier one says word for word (the
    same passage in two copies of a story), best first."""
    seen: set[str] = set()
    kept = []
    for hit in hits:
        text = folded(hit.chunk.text)
        if text not in seen:
            seen.add(text)
            kept.append(hit)
    return kept


def render_quotes(citations: list[Citation], lang: str, confidence: str = "confident") -> str:
    """The answer body: the quotes grouped by article, each with its [n] marker, after an
    introduction that says how sure the answer is."""
    lines = [prompts.text("unsure_intro" if confidence == "unsure" else "intro", lang)]
    for group in by_article(citations):
        lines.append("")
        lines.append(prompts.text("from_article", lang, title=group[0].title))
        for c in group:
            lines.append(f"[{c.number}] “{c.quote}”")
            if c.translation:  # under its quote, marked: a reading aid, not the evidence
                lines.append("    " + prompts.text("translation", lang, text=c.translation))
    return "\n".join(lines)


# ---- the chain ----------------------------------------------------------------------


class Answerer:
    """The answer chain for one store: the only path from a question to an Answer.

    ``stream`` runs the LangChain chain ``condense | retrieve`` and then the generator;
    ``ask`` drains it. Every front end and the evaluation go through here.
    """

    def __init__(
        self,
        store: ArticleStore,
        retriever: ArticleRetriever,
        generator: Generator,
        max_question_chars: int = 500,
    ):
        self.store = store
        self.retriever = retriever
        self.generator = generator
        self.max_question_chars = max_question_chars
        self.prepare = build_prepare(retriever, generator)

    def ask(
        self, question: str, history: list[Turn] | None = None, window: DateWindow | None = None
    ) -> Answer:
        """Answer one question (blocking: embedding, search and generation).

        ``history`` holds the chat's earlier turns, oldest first, for generators that
        understand follow-up questions; the extractive generator ignores it. With a
        ``window``, only articles dated in it are searched (index/dates.py).
        """
        return drain(self.stream(question, history, window))

    def stream(
        self, question: str, history: list[Turn] | None = None, window: DateWindow | None = None
    ) -> Iterator[str | Answer]:
        """Pieces of text as the generator writes them, then the Answer to show.

        The pieces are a model's raw text; the final Answer is what to show (its citations
        checked, or the extractive answer with a note). The extractive generator has no
        pieces: it yields the Answer alone. An answer searched in a ``window`` says so first.
        """
        question = " ".join(question.split())
        if not _WORD.search(question):
            yield not_a_question(question)
            return
        cut = len(question) > self.max_question_chars
        length = len(question)
        if cut:
            question = question[: self.max_question_chars].rsplit(" ", 1)[0]
        inputs = self.prepare.invoke(
            {"question": question, "history": history or [], "window": window}
        )
        started = time.perf_counter()
        first_piece = None
        pieces = self.generator.stream(
            inputs["question"], inputs["hits"], inputs["lang"], searched=inputs["searched"]
        )
        for piece in pieces:
            if isinstance(piece, Answer):
                answer = finish(inputs, piece, started)
                if cut:
                    notice = prompts.text(
                        "question_cut",
                        answer.lang,
                        length=str(length),
                        limit=str(self.max_question_chars),
                    )
                    answer.text = f"{notice}\n\n{answer.text}"
                    answer.notes.append(f"question cut from {length} characters")
                if window:
                    notice = prompts.text(
                        "window_notice", answer.lang, window=prompts.window(window, answer.lang)
                    )
                    answer.text = f"{notice}\n\n{answer.text}"
                    answer.notes.append(f"searched {prompts.window(window, 'en')}")
                if first_piece is not None:
                    answer.timings["first_token"] = first_piece
                yield answer
                return
            if first_piece is None:
                first_piece = (time.perf_counter() - inputs["started"]) * 1000
            yield piece
        raise RuntimeError(f"the {self.generator.mode} generator ended without an Answer")


# A question needs a letter or a digit in some script; emoji and punctuation alone are not one.
_WORD = re.compile(r"[^\W_]")


def not_a_question(question: str) -> Answer:
    """The reply to an empty, blank or wordless message: ask for a question, quote nothing."""
    lang = question_language(question)
    return Answer(
        question=question,
        lang=lang,
        text=prompts.text("not_a_question", lang),
        citations=[],
        hits=[],
        refused=True,
        notes=[prompts.NOT_A_QUESTION],
    )


def build_prepare(retriever: ArticleRetriever, generator: Generator) -> Runnable:
    """{question, history} -> {asked, question (standalone), lang, search, searched, hits,
    timings}.

    ``question`` comes with its white space folded already (``Answerer.stream`` does it).
    A generator with a model may translate the question into the language of articles in
    another script (``search_question``): ``search``, searched beside the question;
    ``searched`` is whichever of the two found the ``hits``.
    """
    rewrite = getattr(generator, "condense", None)
    # A generator with a model offers the question's translation, unless turned off.
    translates = getattr(generator, "translate_questions", False)
    translate = getattr(generator, "search_question", None) if translates else None

    def condense(inputs: dict) -> dict:
        started = time.perf_counter()
        asked = inputs["question"]
        question = asked
        if inputs.get("history") and rewrite is not None:
            question = " ".join(rewrite(asked, inputs["history"]).split()) or asked
        return {
            **inputs,
            "asked": asked,
            "question": question,
            # The user's language is that of what they typed, not of the rewrite.
            "lang": question_language(asked),
            "started": started,
            "condense_ms": (time.perf_counter() - started) * 1000,
        }

    def translated(inputs: dict) -> dict:
        if translate is None:
            return inputs
        language = translation.search_language(inputs["question"], retriever.languages())
        if language is None:
            return inputs
        started = time.perf_counter()
        search = translate(inputs["question"], language)
        elapsed = (time.perf_counter() - started) * 1000
        return {**inputs, "search": search, "translate_ms": elapsed}

    def retrieve(inputs: dict) -> dict:
        started = time.perf_counter()
        questions = [inputs["question"], *filter(None, [inputs.get("search")])]
        searched, hits = retriever.strongest(questions, inputs.get("window"))
        return {
            **inputs,
            "searched": searched,
            "hits": hits,
            "retrieval_ms": (time.perf_counter() - started) * 1000,
        }

    return (
        RunnableLambda(condense, name="condense")
        | RunnableLambda(translated, name="translate")
        | RunnableLambda(retrieve, name="retrieve")
    )


def finish(inputs: dict, answer: Answer, generation_started: float) -> Answer:
    """The Answer as the user asked it, with the standalone question noted and timings."""
    done = time.perf_counter()
    answer.question = inputs["asked"]
    if inputs["question"] != inputs["asked"]:
        answer.notes.append(f"standalone question: {inputs['question']}")
    if inputs.get("search"):
        answer.notes.append(f"searched in translation too: {inputs['search']}")
    timings = {
        "retrieval": inputs["retrieval_ms"],
        "answer": (done - generation_started) * 1000,
        "total": (done - inputs["started"]) * 1000,
    }
    if inputs.get("history") and "condense_ms" in inputs:
        timings["condense"] = inputs["condense_ms"]
    if "translate_ms" in inputs:
        timings["translate"] = inputs["translate_ms"]
    answer.timings = timings
    return answer

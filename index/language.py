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

"""Every user-facing template string, by language, in one place.

English is the fallback for languages without a translation here.
"""

from __future__ import annotations

# The sentinel that code and tests use to recognise a refusal, whatever the language.
CANNOT_ANSWER = "cannot-answer"

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "intro": "Here is what the articles say:",
        "cannot_answer": "The articles do not seem to answer this question.",
        "from_article": "From “{title}”:",
        "sources": "Sources",
        "no_articles": "No articles are indexed yet. Add some with: articlebot index add PATH",
        "no_sources": "Ask a question first; /sources then shows the passages behind the answer.",
    },
    "ar": {
        "intro": "هذا ما تقوله المقالات:",
        "cannot_answer": "لا يبدو أن المقالات تجيب عن هذا السؤال.",
        "from_article": "من «{title}»:",
        "sources": "المصادر",
        "no_articles": "لم تُضف أي مقالات بعد. أضفها بالأمر: articlebot index add PATH",
        "no_sources": "اطرح سؤالًا أولًا؛ ثم يعرض /sources المقاطع التي بُنيت عليها الإجابة.",
    },
}


def text(key: str, lang: str, **values: str) -> str:
    """The template ``key`` in ``lang`` (or English), filled with ``values``."""
    table = TEXTS.get(lang, TEXTS["en"])
    return table.get(key, TEXTS["en"][key]).format(**values)

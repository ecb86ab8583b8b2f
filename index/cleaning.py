"""Text hygiene: the characters an article may not carry into the index or onto a terminal.

An article is data from anyone. Terminal escape sequences in it could recolour, retitle or
rewrite a user's terminal; bidi overrides (U+202E makes "txt.exe" show as "exe.txt") and
invisible characters make the text read differently from what it holds, and break exact
matching of quotes and names. ``clean_text`` takes them out when an article is read, and the
terminal renderer passes everything it prints through it as well (bot/render.py).

Kept: newlines and tabs; ZWJ and ZWNJ (U+200D, U+200C), which Persian, Arabic, Indic scripts
and emoji sequences need; variation selectors; the tag characters of a subdivision flag
(England's 🏴 and its tags). Taken out as well: the left-to-right, right-to-left and Arabic
letter marks (U+200E, U+200F, U+061C). They only nudge how neutral characters display, are
invisible, and a question typed by a person never holds them, so a quote or name carrying one
would not match; display direction is the renderer's business, not the stored text's.
"""

from __future__ import annotations

import re

# Terminal escape sequences, removed whole so that no parameters are left behind as text:
# CSI (ESC [ ... final byte, or the 8-bit CSI U+009B), OSC / DCS / APC / PM / SOS strings
# (ended by BEL or ST; without an end only the opener goes, so no article text is lost), and
# two-character escapes (ESC and one byte, e.g. ESC c resets the terminal).
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]{0,4096}(?:\x07|\x1b\\|\x9c)"
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]?"
)
# Line breaks written other ways become \n (a PDF's page feed, an old Mac's \r, U+2028/9).
_LINE_BREAK = re.compile(r"\r\n|[\r\x0b\x0c\x85\u2028\u2029]")
# A subdivision flag: the black flag, tag letters, the cancel tag. Its tags are kept.
_FLAG_TAGS = re.compile(r"\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f")
_UNWANTED = re.compile(
    "["
    "\x00-\x08\x0b-\x1f\x7f-\x9f"  # C0 and C1 controls but \t and \n; DEL
    "\u00ad"  # soft hyphen: invisible, splits a word for search
    "\u061c\u200e\u200f"  # Arabic letter, left-to-right and right-to-left marks
    "\u200b\u2060\ufeff"  # zero-width space, word joiner, zero-width no-break space (BOM)
    "\u202a-\u202e"  # bidi embeddings and overrides
    "\u2061-\u2064"  # invisible mathematical operators
    "\u2066-\u2069"  # bidi isolates
    "\u206a-\u206f"  # deprecated format characters
    "\ufff9-\ufffb"  # interlinear annotation
    "\U000e0000-\U000e007f"  # tag characters (ASCII smuggled past a reader; flags aside)
    "]"
)


def clean_text(text: str) -> str:
    """``text`` without escape sequences, control, bidi-override and invisible characters.

    Line breaks of any kind become ``\\n``; tabs stay. Nothing else changes.
    """
    if text.isascii() and text.isprintable():
        return text  # the common case for titles and most English text: nothing to do
    text = _ESCAPE_SEQUENCE.sub("", text)
    text = _LINE_BREAK.sub("\n", text)
    flags = _FLAG_TAGS.findall(text)
    if not flags:
        return _UNWANTED.sub("", text)
    # Keep each flag's tags: strip around the flags, then put them back in order.
    parts = _FLAG_TAGS.split(text)
    cleaned = [_UNWANTED.sub("", part) for part in parts]
    out = [cleaned[0]]
    for flag, part in zip(flags, cleaned[1:], strict=True):
        out += [flag, part]
    return "".join(out)


def clean_line(text: str) -> str:
    """``clean_text`` for one-line fields (titles, sources, dates): whitespace runs become one
    space, so a title cannot start a new line of a listing."""
    return " ".join(clean_text(text).split())

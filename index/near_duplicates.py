"""Near-duplicate articles: the same story from several outlets, or re-posted with another
header or footer, recognised by the words they share.

An article's signature is a MinHash (datasketch) of its word 3-grams ("shingles"), folded
for case and Unicode form and blind to punctuation. The share of equal values in two
signatures estimates the Jaccard similarity of the two sets of shingles: 1 for the same
words in the same order, near 0 for different stories, even on the same subject.
Texts that pass the threshold are copies only if they also give the same figures
(``same_figures``): the same words around other numbers are another report of a series
(a daily market report, a station's field reports), not a copy.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np

# Values a signature: the estimate's standard error is about sqrt(J(1-J)/128), under 0.045.
NUM_PERM = 128
SEED = 1  # fixed: signatures computed in different processes and versions must compare
SHINGLE_WORDS = 3
# Fewer shingles than this is a line, not a story: two such posts are compared by their
# exact text only (the article id), or a shared sign-off would merge them.
MIN_SHINGLES = 10
# Estimated Jaccard similarity from which an article is taken for a copy of another
# (ARTICLEBOT_NEAR_DUPLICATE_THRESHOLD). Measured on the paragraphs of ../shared/eval
# (tests/test_near_duplicates.py keeps the measurement): no two distinct XQuAD paragraphs
# reached 0.04, while every paragraph re-posted with a header, a footer or both adding up
# to a third of its length stayed at 0.55 or above (99.8% stay at 0.5 with half its length
# added). ARCD's paragraphs that repeat an earlier one with more text after it (0.59-0.86)
# are merged: they are one text posted twice. Lower values would also merge posts that share
# a template (daily market reports) and differ only in their figures.
DEFAULT_THRESHOLD = 0.5

_WORD = re.compile(r"\w+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def words(text: str) -> list[str]:
    """The words of ``text``, case-folded and in Unicode form NFKC, without punctuation."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def folded(text: str) -> str:
    """``text`` as compared for sameness: its words() with one space between them."""
    return " ".join(words(text))


def shingles(text: str) -> set[bytes]:
    """The word 3-grams of ``text`` (its words()), as bytes."""
    found = words(text)
    if len(found) < SHINGLE_WORDS:
        return {" ".join(found).encode()} if found else set()
    return {
        " ".join(found[i : i + SHINGLE_WORDS]).encode()
        for i in range(len(found) - SHINGLE_WORDS + 1)
    }


def signature(text: str) -> np.ndarray | None:
    """The MinHash signature of ``text`` (NUM_PERM uint64 values); None if the text is too
    short to be compared (fewer than MIN_SHINGLES shingles)."""
    found = shingles(text)
    if len(found) < MIN_SHINGLES:
        return None
    # Imported here, by what indexes: datasketch loads scipy (half a second), and every
    # process reads this module's settings and folding.
    from datasketch import MinHash

    minhash = MinHash(num_perm=NUM_PERM, seed=SEED)
    minhash.update_batch(sorted(found))
    return np.asarray(minhash.digest(), dtype=np.uint64)


# A store finds the articles a new text may copy without reading every signature: each
# signature is cut into BANDS bands of BAND_ROWS values, and a store keeps each band's key
# (``bands``); articles sharing a key with the new text are its candidates, compared on
# their whole signatures as before. Two texts of similarity J share a band with probability
# 1 - (1 - J^2)^64: 0.99999 at 0.4, 1 - 1e-8 at the default threshold of 0.5, and rarely
# below 0.1 (0.47 at 0.1, 0.03 at 0.02: different stories cost little). Thresholds below
# BANDED_FROM compare with every stored signature (index/ingest.py).
BAND_ROWS = 2
BANDS = NUM_PERM // BAND_ROWS
BANDED_FROM = 0.4
# The banding stores record (meta "signature_bands"): another scheme's keys are made anew.
BAND_SCHEME = f"{BANDS}x{BAND_ROWS}"
_BAND_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F], dtype=np.uint64)


def bands(sig: np.ndarray) -> list[int]:
    """The keys of a signature's bands (signed 64-bit integers, as databases store them):
    equal for two signatures that agree on every value of a band, and differing by band."""
    values = np.asarray(sig, dtype=np.uint64).reshape(BANDS, BAND_ROWS)
    with np.errstate(over="ignore"):
        mixed = (values * _BAND_MIX).sum(axis=1, dtype=np.uint64)
        mixed ^= np.arange(BANDS, dtype=np.uint64) * np.uint64(0xFF51AFD7ED558CCD)
        mixed ^= mixed >> np.uint64(29)
    return mixed.view(np.int64).tolist()


def band_rows(article_id: str, sig: np.ndarray) -> list[tuple[int, str]]:
    """The (band key, article id) rows a store keeps for an article's signature."""
    return [(key, article_id) for key in bands(sig)]


def same_figures(a: str, b: str) -> bool:
    """Whether two texts give the same figures: at least half the numbers of the one with
    fewer are in the other (a footer may add a year or a phone number to a copy). True when
    either has none."""
    ours = set(_NUMBER.findall(unicodedata.normalize("NFKC", a)))
    theirs = set(_NUMBER.findall(unicodedata.normalize("NFKC", b)))
    if not ours or not theirs:
        return True
    return len(ours & theirs) * 2 >= min(len(ours), len(theirs))


def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The estimated Jaccard similarity of signature ``a`` with each row of ``b``."""
    return (np.atleast_2d(b) == a).mean(axis=1)


@dataclass(frozen=True)
class Match:
    """The article a text copies and how similar the two are (estimated Jaccard)."""

    article_id: str
    similarity: float


class Signatures:
    """The signatures of a set of articles, to find the one a new text copies."""

    def __init__(self, signatures: dict[str, np.ndarray], threshold: float) -> None:
        self.threshold = threshold
        self._ids = list(signatures)
        self._matrix = (
            np.vstack(list(signatures.values()))
            if signatures
            else np.zeros((0, NUM_PERM), np.uint64)
        )

    def matches(self, sig: np.ndarray | None) -> list[Match]:
        """The articles at or above the threshold, most similar first."""
        if sig is None or not self._ids:
            return []
        found = similarity(sig, self._matrix)
        order = np.argsort(-found, kind="stable")
        return [Match(self._ids[i], float(found[i])) for i in order if found[i] >= self.threshold]

    def add(self, article_id: str, sig: np.ndarray | None) -> None:
        """Compare later texts with this article too."""
        if sig is not None:
            self._ids.append(article_id)
            self._matrix = np.vstack([self._matrix, sig])

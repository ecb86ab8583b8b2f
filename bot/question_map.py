"""The question's vector made ready to meet the text of another script's language.

A multilingual embedder places an Arabic question farther from the English sentence that
answers it than the question asked in English: the two languages do not line up exactly.
Part of what they do not share is a direction that every question in one language has,
whatever it asks (the mean direction of that language's questions): it meets each text of
the other language with a bias of its own, so that an English paragraph that happens to lie
along it beats the one that answers. A question map takes away part of the question's
component along that direction (the matrix I - s m m^T, m the mean direction of the dev
sets' questions in the map's source script, s chosen on held-out folds of articles:
``bench/question_map.py``). No answer is read to fit it: the mean is of the questions alone.
The retriever searches the chunks of the other script with the moved vector and compares
their sentences with it, and their quotes are chosen by it (bot/retrieval.py,
bot/answering.py); chunks in the question's own script meet the question as asked. In a
store of Arabic and English articles, the question as asked finds text in its own language
closer than the text in the other that answers it (docs/eval.md, "Articles in two
languages").

The moved vector is not made unit length again: its inner products with texts are its
similarities, spread as cosines are. They are lower than the question's with text in its
own language, by what the centring took away and what the languages do not share. Each
map therefore carries an ``offset``, measured on the dev sets' questions asked in both
languages (the mean, over them, of the question's cosine with its paragraph in its own
language less the moved question's similarity with the paragraph in the other), which is
added to every similarity of a moved vector, so that the chunks of both scripts are ranked,
and the evidence of an answer measured, on one scale.

Maps are kept per embedder and pair of scripts (Arabic to Latin, Latin to Arabic) in
``question_maps.npz`` beside this module (or the file ARTICLEBOT_QUESTION_MAPS names); an
embedder without them compares every passage with the question's own vector.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from index.language import dominant_script

SHIPPED = Path(__file__).with_name("question_maps.npz")


@dataclass(frozen=True)
class QuestionMap:
    """Moves the vector of a question written in ``source`` script for the text of
    ``target`` script: ``matrix`` centres it, ``offset`` puts its similarities on the scale
    of its own language's."""

    matrix: np.ndarray  # (dim, dim): moved = vector @ matrix
    source: str = "arabic"  # index/language.py's script names
    target: str = "latin"
    offset: float = 0.0  # added to the similarity of the moved vector with any text

    def applies_to(self, question: str) -> bool:
        """Whether ``question`` is written in the script the map moves from."""
        return dominant_script(question) == self.source

    def targets(self, passage: str) -> bool:
        """Whether ``passage`` is in the script the map moves toward (its first letters tell:
        cheap enough for every candidate chunk)."""
        return _leading_script(passage[:300]) == self.target

    def moved(self, vector: np.ndarray) -> np.ndarray:
        """``vector`` (the question's, unit length) moved. Not made unit length again: its
        inner product with a text's vector is the similarity, on the scale of cosines."""
        return np.asarray(vector, dtype=np.float32) @ self.matrix


@lru_cache(maxsize=4096)
def _leading_script(start: str) -> str:
    """``dominant_script`` of a passage's first letters, kept: the same candidates come back
    question after question (about 25 microseconds each time otherwise)."""
    return dominant_script(start)


def key(embeddings: str, source: str, target: str) -> str:
    """The name of an embedder's map from ``source`` to ``target`` script in the file (npz
    names are plain words)."""
    return _prefix(embeddings) + f"{source}__{target}"


_OFFSET = "__offset"  # the name of a map's offset in the file: the map's, and this


def _prefix(embeddings: str) -> str:
    return re.sub(r"\W", "_", embeddings) + "__"


def load_maps(embeddings: str, path: Path | None = None) -> tuple[QuestionMap, ...]:
    """The maps fitted for ``embeddings`` in ``path`` (the shipped file by default)."""
    path = Path(path) if path else SHIPPED
    if not path.exists():
        return ()
    prefix, found = _prefix(embeddings), []
    with np.load(path, allow_pickle=False) as maps:
        for name in maps.files:
            scripts = name.removeprefix(prefix).split("__")
            if name.startswith(prefix) and len(scripts) == 2:
                offset = maps.get(name + _OFFSET)
                found.append(
                    QuestionMap(
                        maps[name].astype(np.float32),
                        *scripts,
                        offset=0.0 if offset is None else float(offset),
                    )
                )
    return tuple(found)


def save_map(embeddings: str, qmap: QuestionMap, path: Path) -> None:
    """Write ``qmap`` for ``embeddings`` into ``path``, beside the maps already there (half
    precision: the map moves a vector by a few hundredths)."""
    path = Path(path)
    maps = {}
    if path.exists():
        with np.load(path, allow_pickle=False) as old:
            maps = {name: old[name] for name in old.files}
    name = key(embeddings, qmap.source, qmap.target)
    maps[name] = np.asarray(qmap.matrix, dtype=np.float16)
    maps[name + _OFFSET] = np.asarray(qmap.offset, dtype=np.float32)
    with path.open("wb") as out:
        np.savez(out, **maps)

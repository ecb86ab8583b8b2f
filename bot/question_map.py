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

A question in a script no map moves from (Russian, Greek, Chinese...), or text in a
script its maps do not move toward, meets the text as asked, and its similarities are
lower by what the two languages do not share: such a question was refused where the same
question in English was answered. For these pairs the file holds one more number, the
``crossing`` offset: the mean, over the dev sets' questions asked in both scripts, of a
question's cosine with its paragraph in its own script less its cosine with the paragraph in
the other, as asked (no map): 0.082 from Arabic to English text and 0.086 from English to
Arabic, close enough that one number serves for scripts no data here holds
(``crossing_map``; measured with each direction's map taken away: docs/eval.md).

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

    matrix: np.ndarray | None  # (dim, dim): moved = vector @ matrix; None: not moved
    source: str = "arabic"  # index/language.py's script names
    target: str = "latin"  # or OTHER: any script but the source's and ``besides``
    offset: float = 0.0  # added to the similarity of the moved vector with any text
    besides: frozenset[str] = frozenset()  # the scripts OTHER leaves to other maps

    def applies_to(self, question: str) -> bool:
        """Whether ``question`` is written in the script the map moves from."""
        return dominant_script(question) == self.source

    def targets(self, passage: str) -> bool:
        """Whether ``passage`` is in the script the map moves toward (its first letters tell:
        cheap enough for every candidate chunk)."""
        script = _leading_script(passage[:300])
        if self.target == OTHER:
            return script not in self.besides | {self.source, "other"}
        return script == self.target

    def moved(self, vector: np.ndarray) -> np.ndarray:
        """``vector`` (the question's, unit length) moved. Not made unit length again: its
        inner product with a text's vector is the similarity, on the scale of cosines."""
        vector = np.asarray(vector, dtype=np.float32)
        return vector if self.matrix is None else vector @ self.matrix


OTHER = "*"  # a crossing map's target: every script but the question's and the maps'


def crossing_map(
    offset: float, question: str, maps: tuple[QuestionMap, ...], scripts: set[str | None]
) -> QuestionMap | None:
    """The map for the text ``question`` meets in a script none of ``maps`` (those that
    apply to it) moves toward: the question as asked, its similarities raised by the
    crossing ``offset`` (the module's doc); None if the store's ``scripts`` (None: articles
    of unknown language) hold no such text."""
    source = dominant_script(question)
    besides = frozenset(m.target for m in maps)
    if not scripts - besides - {source} or source == "other":
        return None
    return QuestionMap(None, source, OTHER, offset, besides)


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


_CROSSING = "crossing__offset"  # the name of the crossing offset in the file, after the prefix


def load_crossing_offset(embeddings: str, path: Path | None = None) -> float | None:
    """The crossing offset measured for ``embeddings`` in ``path`` (the shipped file by
    default); None if there is none."""
    path = Path(path) if path else SHIPPED
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as maps:
        offset = maps.get(_prefix(embeddings) + _CROSSING)
    return None if offset is None else float(offset)


def save_crossing_offset(embeddings: str, offset: float, path: Path) -> None:
    """Write the crossing offset of ``embeddings`` into ``path``, beside what is there."""
    _save(path, {_prefix(embeddings) + _CROSSING: np.asarray(offset, dtype=np.float32)})


def load_maps(embeddings: str, path: Path | None = None) -> tuple[QuestionMap, ...]:
    """The maps fitted for ``embeddings`` in ``path`` (the shipped file by default)."""
    path = Path(path) if path else SHIPPED
    if not path.exists():
        return ()
    prefix, found = _prefix(embeddings), []
    with np.load(path, allow_pickle=False) as maps:
        for name in maps.files:
            if name == prefix + _CROSSING:
                continue
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
    name = key(embeddings, qmap.source, qmap.target)
    _save(
        path,
        {
            name: np.asarray(qmap.matrix, dtype=np.float16),
            name + _OFFSET: np.asarray(qmap.offset, dtype=np.float32),
        },
    )


def _save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` into the npz file ``path``, beside (or over) the ones there."""
    path = Path(path)
    kept = {}
    if path.exists():
        with np.load(path, allow_pickle=False) as old:
            kept = {name: old[name] for name in old.files}
    with path.open("wb") as out:
        np.savez(out, **{**kept, **arrays})

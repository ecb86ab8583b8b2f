"""The chunks a reader of a FAISS store keeps in memory, text included (index/faiss_store.py).

A search returns chunks by id, with their text and their article's title, source, language
and dates, read from SQLite: the text is cut from the article's, which SQLite reads whole
(about 10 microseconds a hit at 1,000 chunks, more than the vector search itself). A chunk
id names the same row for as long as the chunk lives (ids are never given twice, and no row
of a chunk or an article is ever changed), so a reader keeps the rows its searches read, the
most recently used up to ``limit``, and a store of at most ``limit`` live chunks has them all
read at once, at its first search (one query: about 10 ms for 1,000 chunks).

A reader also keeps the sentences of the chunks it last read them for, with their vectors
(``KeptSentences``): an answer reads those of its candidates to rank them, then those of the
chunks it quotes from, which are among them (bench/answer_work.py: about 0.5 ms an answer).
A chunk's sentences never change either: an article's sentences are written with it.

Kept rows are dropped when a change may have taken chunks away (``still_valid``): a change
that only added segments keeps them; one that removed a segment or marked vectors dead
drops them all.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping

import numpy as np

from .types import Chunk, Sentence

CHUNKS_KEPT = 4096  # about 10 MB of chunks of 1,000 characters
SENTENCES_KEPT = 256  # chunks' sentences: about 2 MB (float32 vectors of 384 dimensions)


class _RecentlyUsed:
    """Values by key, up to ``limit`` of them, the most recently used kept."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._rows: OrderedDict = OrderedDict()

    def __len__(self) -> int:
        return len(self._rows)

    def _get(self, key):
        """The value kept under ``key`` (now the most recently used), or None."""
        value = self._rows.get(key)
        if value is not None:
            self._rows.move_to_end(key)
        return value

    def _put(self, key, value) -> None:
        self._rows[key] = value
        self._rows.move_to_end(key)
        while len(self._rows) > self.limit:
            self._rows.popitem(last=False)

    def clear(self) -> None:
        self._rows.clear()


class KeptChunks(_RecentlyUsed):
    """The rows of up to ``limit`` chunks, by id, the most recently used kept."""

    def __init__(self, limit: int = CHUNKS_KEPT) -> None:
        super().__init__(limit)
        self.complete = False  # every live chunk was read in at once (``fill``)

    def take(self, ids: Iterable[int]) -> tuple[dict[int, Chunk], list[int]]:
        """The kept chunks among ``ids``, and the ids not kept (to be read and ``keep``-t)."""
        found, missing = {}, []
        for i in ids:
            chunk = self._get(i)
            if chunk is None:
                missing.append(i)
            else:
                found[i] = chunk
        return found, missing

    def keep(self, chunks: Iterable[Chunk]) -> None:
        for chunk in chunks:
            self._put(chunk.id, chunk)

    def fill(self, chunks: Iterable[Chunk]) -> None:
        """Keep every live chunk of the store (read at once: at most ``limit`` of them)."""
        self.keep(chunks)
        self.complete = True

    def clear(self) -> None:
        super().clear()
        self.complete = False


Span = tuple[str, int, int]  # article id, start, end


def span_of(chunk: Chunk) -> Span:
    return (chunk.article_id, chunk.start, chunk.end)


class KeptSentences(_RecentlyUsed):
    """The sentences of the spans of up to ``limit`` chunks, with their vectors, the most
    recently used kept. By span (article, start, end), not chunk id: what a store reads them
    by (a migration asks for a whole article's under a made-up chunk). The vectors are
    read-only: every reader of a span shares them."""

    def __init__(self, limit: int = SENTENCES_KEPT) -> None:
        super().__init__(limit)

    def take(self, chunks: Iterable[Chunk]) -> dict[Span, tuple[list[Sentence], np.ndarray]]:
        """The kept sentences of those of ``chunks`` whose span has them, by span."""
        found = {}
        for span in map(span_of, chunks):
            kept = self._get(span)
            if kept is not None:
                found[span] = kept
        return found

    def keep(self, chunk: Chunk, sentences: list[Sentence], vectors: np.ndarray) -> None:
        vectors.flags.writeable = False
        self._put(span_of(chunk), (sentences, vectors))


def still_valid(
    before: Mapping[int, object],
    dead_before: Mapping[int, int],
    after: Mapping[int, object],
    dead_after: Mapping[int, int],
) -> bool:
    """Whether chunks kept while the chunk segments ``before`` were live (number -> segment;
    ``dead_before``: number -> how many of its vectors were dead) are still all live after a
    change to ``after``: every segment is still there, the same, with as many dead."""
    return all(
        after.get(n) is s and dead_after.get(n, 0) == dead_before.get(n, 0)
        for n, s in before.items()
    )

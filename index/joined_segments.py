"""The chunk vectors of a small FAISS store joined in one exact index (index/faiss_store.py).

A store keeps its vectors in several segments (index/segments.py), and a search goes
through each: at 1,000 chunks in four segments, the per-segment calls and the dead vectors'
checks cost more than the vectors' inner products. A reader of a store of at most
``JOIN_UP_TO`` live chunks, all in exact segments, joins them here, the dead left out: one
FAISS call a search, the same ids and inner products (tests/test_store_compact.py). A copy of the
vectors in float32: 6 MB at most.
"""

from __future__ import annotations

from collections.abc import Mapping

import faiss
import numpy as np

from .segments import Segment, Skipped

JOIN_UP_TO = 4096  # live chunks


class JoinedSegments:
    """Every live vector of some exact chunk segments, in one exact index."""

    def __init__(self, segments: Mapping[int, Segment], skipped: Mapping[int, Skipped]) -> None:
        ids, vectors = [np.zeros(0, np.int64)], []
        dim = 0
        for number, segment in sorted(segments.items()):  # the segments' order: ties keep it
            array = segment.array
            dim = array.dim
            dead = skipped.get(number)
            live = np.arange(array.count)
            if dead is not None and dead.count:
                live = live[~dead.holds(live)]
            ids.append(array.ids[live])
            vectors.append(np.asarray(array.vectors[live], dtype=np.float32))
        self.ids = np.concatenate(ids)
        self._index = faiss.IndexFlatIP(dim)
        if len(self.ids):
            self._index.add(np.concatenate(vectors))

    @classmethod
    def of(
        cls, segments: Mapping[int, Segment], skipped: Mapping[int, Skipped]
    ) -> JoinedSegments | None:
        """The segments joined, or None if a search should go through them one by one: an
        approximate one among them, or more live chunks than ``JOIN_UP_TO`` (or none)."""
        if not segments or any(s.search is None or s.approximate for s in segments.values()):
            return None
        dead = sum(s.count for n, s in skipped.items() if n in segments)
        if sum(s.array.count for s in segments.values()) - dead > JOIN_UP_TO:
            return None
        return cls(segments, skipped)

    def nearest(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k (id, inner product) nearest to a query (one row), best first."""
        k = min(k, len(self.ids))
        if not k:
            return []
        scores, rows = self._index.search(query, k)
        keep = rows[0] >= 0
        return list(zip(self.ids[rows[0][keep]].tolist(), scores[0][keep].tolist(), strict=True))

"""A FaissStore's vectors on disk: immutable FAISS segment files, merged as they multiply.

Each kind of vector (chunks, sentences) lives in segments. ``chunks-<n>.faiss`` holds an
``IndexIDMap2`` over an exact inner-product index (FAISS id = chunk id), written by the
change numbered n and never modified after: an add writes one small segment of the new
vectors instead of rewriting every vector. The store's database names the live segments
(a manifest, with each file's SHA-256) and the segment of every chunk and sentence.

So that a search need not visit many segments, segments of one size tier (sizes within a
factor MERGE_FACTOR) are merged when there are MERGE_FACTOR of them: a new segment takes
in its tier's others, and the result may fill the next tier up. Every vector is rewritten
about log_MERGE_FACTOR(n) times over its life, and there are at most MERGE_FACTOR - 1
segments a tier. A file is written under a temporary name, fsynced and renamed: it is
whole or absent; its checksum tells a damaged one from a good one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from .store import StoreError

KINDS = ("chunks", "sentences")
MERGE_FACTOR = 8
REBUILD = "articlebot index rebuild"


@dataclass(frozen=True)
class Segment:
    """A loaded segment: its vectors and the checksum of its file (None: not written yet)."""

    index: faiss.Index
    sha256: str | None = None


def tier(vectors: int) -> int:
    """The size tier of a segment: 0 below MERGE_FACTOR vectors, 1 below its square..."""
    level = 0
    while vectors >= MERGE_FACTOR:
        vectors //= MERGE_FACTOR
        level += 1
    return level


def new_index(dim: int, vectors: np.ndarray | None = None, ids: np.ndarray | None = None):
    """An empty segment index, or one holding ``vectors`` under ``ids``."""
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    if ids is not None and len(ids):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
    return index


def merged(indexes: list[faiss.Index], dim: int) -> faiss.Index:
    """One index holding the vectors of all of these, in their order."""
    out = new_index(dim)
    for index in indexes:
        if index.ntotal:
            vectors = index.index.reconstruct_n(0, index.ntotal)  # in id_map's order
            out.add_with_ids(vectors, faiss.vector_to_array(index.id_map))
    return out


def without(index: faiss.Index, ids: Iterable[int]) -> faiss.Index:
    """A copy of a segment index without these ids."""
    copy = faiss.clone_index(index)
    copy.remove_ids(np.array(list(ids), dtype=np.int64))
    return copy


# The live segments of each kind by number: {"chunks": {n: Segment}, "sentences": {...}}.
Live = dict[str, dict[int, Segment]]


def add_segment(segments: dict[int, Segment], index: faiss.Index, number: int) -> list[int]:
    """Make ``index`` the live segment ``number`` of its kind, merged with the others of its
    tier when they are MERGE_FACTOR; returns the numbers of the segments it took in."""
    absorbed: list[int] = []
    while True:
        peers = sorted(n for n, s in segments.items() if tier(s.index.ntotal) == tier(index.ntotal))
        if len(peers) + 1 < MERGE_FACTOR:
            break
        index = merged([segments.pop(n).index for n in peers] + [index], index.d)
        absorbed += peers
    segments[number] = Segment(index)
    return absorbed


def drop_ids(segments: dict[int, Segment], held: list[int], ids: list[int], number: int) -> bool:
    """Take ``ids`` out of the segments ``held`` (numbers) that hold them: what remains of
    those becomes segment ``number``. Returns whether anything remained."""
    dim = segments[held[0]].index.d
    rest = merged([without(segments.pop(n).index, ids) for n in held], dim)
    if rest.ntotal:
        segments[number] = Segment(rest)
    return bool(rest.ntotal)


def search(
    indexes: Iterable[faiss.Index], query: np.ndarray, k: int, allowed: np.ndarray | None = None
) -> list[tuple[int, float]]:
    """The k (id, inner product) nearest to a query across segments, best first; only ids
    in ``allowed`` (int64) when it is given: the k nearest of those, exactly."""
    params = selector = None
    if allowed is not None:
        selector = faiss.IDSelectorBatch(allowed)  # referenced here while the search uses it
        params = faiss.SearchParameters(sel=selector)
    found: list[tuple[int, float]] = []
    for index in indexes:
        if index.ntotal:
            scores, ids = index.search(query, min(k, index.ntotal), params=params)
            found += [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
    found.sort(key=lambda pair: -pair[1])  # stable: ties keep the segments' order
    return found[:k]


class SegmentFiles:
    """The segment files of one data directory, for vectors of ``dim`` dimensions."""

    def __init__(self, directory: Path, dim: int) -> None:
        self.directory = directory
        self.dim = dim

    def path(self, kind: str, number: int) -> Path:
        return self.directory / f"{kind}-{number}.faiss"

    def read(self, kind: str, number: int, sha256: str | None) -> Segment:
        """A segment from its file; StoreError if the file is missing or damaged.

        ``sha256`` is the checksum recorded when the file was written (None: not recorded).
        """
        file = self.path(kind, number)
        try:
            data = file.read_bytes()
        except FileNotFoundError:
            raise StoreError(
                f"{file} is missing: the index's vectors are lost; make them again from the "
                f"articles: {REBUILD}"
            ) from None
        try:
            if sha256 and hashlib.sha256(data).hexdigest() != sha256:
                raise RuntimeError("checksum mismatch")
            return Segment(faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8)), sha256)
        except RuntimeError:  # FAISS's error for a file it cannot parse
            raise StoreError(
                f"{file} is damaged: make the index's vectors again from the articles: {REBUILD}"
            ) from None

    @staticmethod
    def write(index: faiss.Index, file: Path) -> str:
        """Write an index durably (temporary name, fsync, rename); returns its SHA-256."""
        data = faiss.serialize_index(index).tobytes()
        tmp = file.with_suffix(".faiss.tmp")
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, file)
        return hashlib.sha256(data).hexdigest()

    def delete_all_but(self, live: set[Path]) -> None:
        """Delete every segment file (temporary ones too) but the ``live`` ones.

        Only a writer may call this, after committing the manifest that names ``live``: no
        reader can then be loading any other (see index/faiss_store.py).
        """
        for kind in KINDS:
            for file in self.directory.glob(f"{kind}-*.faiss*"):
                if file not in live:
                    file.unlink(missing_ok=True)

    def problems(
        self, kind: str, number: int, sha256: str | None, recorded_dim: str | None, rows: set
    ) -> list[str]:
        """What disagrees between one segment file and the database: whether the file is
        there and whole, its dimensions, and its ids against the ``rows`` it should hold."""
        try:
            index = self.read(kind, number, sha256).index
        except StoreError as exc:
            return [str(exc)]
        name = self.path(kind, number).name
        found = []
        if str(index.d) != recorded_dim:
            found.append(
                f"{name} holds vectors of {index.d} dimensions; the index records {recorded_dim}"
            )
        id_map = getattr(index, "id_map", None)
        if id_map is None:
            return [*found, f"{name} is not an index of vectors by id"]
        ids = faiss.vector_to_array(id_map).tolist()
        if len(ids) != len(rows):
            found.append(f"{name} holds {len(ids)} vectors; the database has {len(rows)} {kind}")
        if len(set(ids)) != len(ids):
            found.append(f"{name} holds {len(ids) - len(set(ids))} vectors twice")
        for what, stray in (
            (f"{kind} in the database have no vector in {name}", rows - set(ids)),
            (f"vectors in {name} belong to none of the database's {kind}", set(ids) - rows),
        ):
            if stray:
                sample = ", ".join(map(str, sorted(stray)[:5]))
                found.append(f"{len(stray)} {what} (ids {sample}{'...' if len(stray) > 5 else ''})")
        return found

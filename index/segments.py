"""A FaissStore's vectors on disk: immutable segment files, merged as they multiply.

Each kind of vector (chunks, sentences) lives in segments. ``chunks-<n>.vec`` holds the
chunk vectors that the change numbered n wrote, by id, in half precision
(index/vector_arrays.py), and is never modified after: an add writes one small segment of
the new vectors instead of rewriting every vector. The store's database names the live
segments (a manifest, with each file's SHA-256) and the segment of every chunk and sentence.

Sentence segments are only looked up by id, their rows read from the file when a question
needs them. Chunk segments are searched: a small one is loaded into an exact inner-product
index (FAISS ``IndexFlatIP``); one of ``approximate_from`` vectors or more also gets
``chunks-<n>.ivf``, an approximate index (FAISS ``IVF<nlist>,SQ8``: 384 bytes a vector in
memory instead of 1,536), whose candidates are scored again with their exact vectors from
the ``.vec`` file. So every index smaller than ``approximate_from`` chunks is searched
exactly, and a large one keeps in memory one byte a dimension plus what its small, recent
segments hold.

So that a search need not visit many segments, segments of one size tier (sizes within a
factor MERGE_FACTOR) are merged when there are MERGE_FACTOR of them: a new segment takes
in its tier's others, and the result may fill the next tier up. Every vector is rewritten
about log_MERGE_FACTOR(n) times over its life, and there are at most MERGE_FACTOR - 1
segments a tier. A file is written under a temporary name, fsynced and renamed: it is
whole or absent; its checksum tells a damaged one from a good one. Opening checks every
file's size and header, and the checksums of files up to VERIFY_ON_OPEN bytes (larger ones
would cost start-up seconds); ``index check`` verifies every checksum.

Removing an article does not rewrite its segments: its vectors stay in their files as dead
vectors (the store's database lists them by segment), which a search drops from what it
finds (Segment.nearest) and a lookup by id never asks for. A merge leaves them out of the segment
it writes, and a segment whose dead vectors reach COMPACT_SHARE of it is written anew
without them by the removal that gets it there.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import faiss
import numpy as np

from .store import StoreError
from .vector_arrays import DamagedFile, VectorArray, file_sha256, read_array, write_array

KINDS = ("chunks", "sentences")
# No ids and no scores: what a segment gives for a search that finds nothing in it.
NOTHING = (np.zeros(0, np.int64), np.zeros(0, np.float32))
MERGE_FACTOR = 8
REBUILD = "articlebot index rebuild"
VERIFY_ON_OPEN = 64 * 1024 * 1024
# The default of ARTICLEBOT_APPROXIMATE_FROM, measured (docs/performance.md): at 5,000
# chunks the approximate index is no faster than the exact one (0.5 against 0.7 ms), at
# 20,000 it is 6 to 10 times faster (recall@10 0.96), and flat float32 vectors cost four
# times the memory of its 8-bit codes.
APPROXIMATE_FROM = 10_000
# The approximate index: nlist = LISTS_PER_ROOT * sqrt(vectors) lists, probes(nlist) of
# them searched, and RERANK * k candidates scored again exactly. A constant number of
# probes searches a shrinking share of a growing segment's lists: 64 gave recall@10 0.93
# for one segment of 100,000 vectors and 0.91 for one of 1M. PROBES_PER_ROOT * sqrt(nlist)
# keeps it at 0.97-0.98 from 10,000 to 1M vectors a segment (71 to 224 probes), and at
# 0.976 and 0.984 for the segments a store of 100k and 1M chunks holds; at 1M, 5.7/7.9 ms
# p50/p95 a search against 3.1/4.0 with 64 probes. Measured with bench/ivf_probes.py on
# vectors generated near real ones (docs/performance.md): 4 lists a root were a fifth
# faster for the same recall but trained three times longer, and scoring 4k candidates
# again found no more than 2k.
LISTS_PER_ROOT = 2
PROBES_PER_ROOT = 5
RERANK = 2
TRAIN_PER_LIST = 40  # training points per list (FAISS warns under 39)
# A segment with dead vectors is first searched for more vectors than asked for, of which
# the dead are dropped (Segment.nearest): as many more as its share of dead ones would take
# away, plus SKIP_SPARE of them and SKIP_EXTRA more, so that a search seldom needs the
# slower selector (dead vectors lie together: an article's chunks are each other's
# neighbours). Measured at 1M chunks, a fifth of them dead: docs/performance.md, session 11.
SKIP_SPARE = 0.2
SKIP_EXTRA = 4
# The rows of a date window are scored one by one, read from the segment's file, when they
# are at most this share of its vectors; else searched through the index with a selector
# (Segment.nearest). Reading and scoring a row costs about 1.5 us, the index 6 ns a vector it
# passes over and 0.2 us one it scores (a 220,000-vector segment at 1M chunks): a hundredth
# is about where they cost the same (docs/performance.md, session 12).
ONE_BY_ONE = 0.01
# A segment is written anew without its dead vectors once they are this share of it. Until
# then a search of it scans them and skips them, and they take their room in memory: at
# most COMPACT_SHARE / (1 - COMPACT_SHARE) = a third more than the live vectors need. Each
# rewrite clears a quarter of the segment, so a removed vector costs on average four
# vectors rewritten, instead of the whole segment (docs/performance.md, session 11).
COMPACT_SHARE = 0.25


def probes(lists: int) -> int:
    """The lists searched in an approximate index of ``lists`` lists."""
    return min(lists, math.ceil(PROBES_PER_ROOT * math.sqrt(lists)))


def window_probes(probed: int, lists: int, share: float) -> int:
    """The lists to probe for the nearest of a ``share`` of a segment's vectors (a date
    window's), spread like the others: as many more than ``probed`` as it takes to scan as
    many of them as a search of all scans, up to every list."""
    return min(lists, math.ceil(probed / share))


def needs_rewrite(vectors: int, dead: int) -> bool:
    """Whether a segment of ``vectors`` vectors, ``dead`` of them dead, is written anew."""
    return dead >= COMPACT_SHARE * vectors


class Skipped:
    """The dead vectors of one chunk segment, as a FAISS selector that lets a search pass
    every other row (FAISS ids are the segment's rows)."""

    def __init__(self, array: VectorArray, dead: np.ndarray) -> None:
        self.rows = array.rows_among(np.unique(dead))  # ascending
        self.count = len(self.rows)
        self._batch = faiss.IDSelectorBatch(self.rows)  # kept: the selector points to it
        self.selector = faiss.IDSelectorNot(self._batch)

    def holds(self, rows: np.ndarray) -> np.ndarray:
        """Which of these rows are dead (a boolean a row)."""
        at = np.minimum(np.searchsorted(self.rows, rows), max(self.count - 1, 0))
        return (self.rows[at] == rows) if self.count else np.zeros(len(rows), bool)


@dataclass(frozen=True)
class Segment:
    """A loaded segment: its vectors, the checksum of its file (None: not written yet) and,
    for chunks, the index a search goes through (exact, or approximate with ``.ivf``)."""

    array: VectorArray
    sha256: str | None = None
    search: faiss.Index | None = None
    search_sha256: str | None = None

    @property
    def approximate(self) -> bool:
        return isinstance(self.search, faiss.IndexIVF)

    def nearest(
        self,
        query: np.ndarray,
        k: int,
        within: np.ndarray | None = None,
        skipped: Skipped | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ids (int64) of this segment nearest to a query (one row) and their inner
        products (float32): the k nearest (an approximate index's RERANK * k candidates,
        scored exactly, in its order; ``search`` sorts them); only rows
        in ``within`` (int64, ascending: a date window's, FaissStore) when it is given, and
        never the ``skipped`` (dead) ones.

        FAISS checks a selector at every vector it scans (a third slower at a million chunks
        with a fifth of them dead), so the dead are first dropped from somewhat more than
        the k nearest, and passed over through a selector only when too few of those live.
        Rows ``within`` are scored one by one, exactly, when they are few (ONE_BY_ONE);
        else searched through a selector over them: exactly by an exact index, by an
        approximate one probing as many more lists as it takes to scan as many of them as
        a search scans of all its vectors (``window_probes``)."""
        count = self.array.count
        if not count or self.search is None:
            return NOTHING
        if within is not None:
            return self._nearest_within(query, k, within, skipped)
        if skipped is None or not skipped.count:
            return self._ids(*self._rows(query, min(count, k)))
        dead_share = skipped.count / count
        wanted = min(count, math.ceil((1 + SKIP_SPARE) * k / (1 - dead_share)) + SKIP_EXTRA)
        rows, scores = self._rows(query, wanted)
        live = ~skipped.holds(rows)
        # As many live candidates as a search through the selector would give (an approximate
        # one scores RERANK * k again), or every vector: nothing nearer is left out.
        if live.sum() >= (RERANK * k if self.approximate else k) or wanted == count:
            return self._ids(rows[live], scores[live])
        if count <= skipped.count:
            return NOTHING
        return self._ids(*self._rows(query, min(count - skipped.count, k), skipped.selector))

    def _nearest_within(
        self, query: np.ndarray, k: int, within: np.ndarray, skipped: Skipped | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``nearest`` among the rows ``within``."""
        rows = within[~skipped.holds(within)] if skipped is not None and skipped.count else within
        if not len(rows):
            return NOTHING
        if len(rows) <= ONE_BY_ONE * self.array.count:
            # Read from the file and scored exactly. (Through the approximate index with
            # the usual probes, a few rows are mostly in lists it does not probe: recall@10
            # 0.51 for a day's articles of a 100,000-chunk store.)
            scores = np.asarray(self.array.vectors[rows], dtype=np.float32) @ query[0]
            best = np.argsort(-scores, kind="stable")[:k]
            return self._ids(rows[best], scores[best])
        bits = np.zeros(self.array.count, bool)
        bits[rows] = True
        packed = np.packbits(bits, bitorder="little")
        selector = faiss.IDSelectorBitmap(self.array.count, faiss.swig_ptr(packed))
        probed = None  # an exact index scans every vector
        if self.approximate:
            share = len(rows) / self.array.count
            probed = window_probes(self.search.nprobe, self.search.nlist, share)
        return self._ids(*self._rows(query, min(len(rows), k), selector, probed))

    def _rows(
        self,
        query: np.ndarray,
        k: int,
        selector: faiss.IDSelector | None = None,
        probed: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The rows nearest to a query and their inner products (exact: an approximate
        index's RERANK * k candidates are scored again with their stored vectors); with a
        selector, an approximate index probes ``probed`` lists (its own number if None)."""
        params = None
        if selector is not None:
            if self.approximate:  # parameters given replace the index's own: nprobe too
                nprobe = probed or self.search.nprobe
                params = faiss.SearchParametersIVF(sel=selector, nprobe=nprobe)
            else:
                params = faiss.SearchParameters(sel=selector)
        if self.approximate:
            _, found = self.search.search(query, RERANK * k, params=params)
            rows = found[0][found[0] >= 0]
            return rows, np.asarray(self.array.vectors[rows], dtype=np.float32) @ query[0]
        found_scores, found = self.search.search(query, k, params=params)
        keep = found[0] >= 0
        return found[0][keep], found_scores[0][keep]

    def _ids(self, rows: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.array.ids[rows], scores


def tier(vectors: int) -> int:
    """The size tier of a segment: 0 below MERGE_FACTOR vectors, 1 below its square..."""
    level = 0
    while vectors >= MERGE_FACTOR:
        vectors //= MERGE_FACTOR
        level += 1
    return level


def exact_index(array: VectorArray) -> faiss.Index:
    """An exact inner-product index of an array's vectors (FAISS ids = rows)."""
    index = faiss.IndexFlatIP(array.dim)
    if array.count:
        index.add(array.floats())
    return index


def approximate_index(array: VectorArray) -> faiss.Index:
    """An IVF index with 8-bit scalar quantization of an array's vectors (ids = rows)."""
    lists = max(1, min(int(LISTS_PER_ROOT * math.sqrt(array.count)), array.count // 39))
    index = faiss.index_factory(array.dim, f"IVF{lists},SQ8", faiss.METRIC_INNER_PRODUCT)
    sample = min(array.count, TRAIN_PER_LIST * lists)
    rows = np.sort(np.random.default_rng(0).choice(array.count, sample, replace=False))
    index.train(np.asarray(array.vectors[rows], dtype=np.float32))
    for start in range(0, array.count, 65_536):  # float32 a batch at a time, not all at once
        index.add(np.asarray(array.vectors[start : start + 65_536], dtype=np.float32))
    index.nprobe = probes(lists)
    return index


def segment(kind: str, array: VectorArray, approximate_from: int) -> Segment:
    """A new, unwritten segment of ``kind`` holding ``array``, searchable if it is chunks."""
    if kind != "chunks":
        return Segment(array)
    if array.count >= approximate_from:
        return Segment(array, search=approximate_index(array))
    return Segment(array, search=exact_index(array))


# The live segments of each kind by number: {"chunks": {n: Segment}, "sentences": {...}}.
Live = dict[str, dict[int, Segment]]


def add_segment(
    kind: str,
    segments: dict[int, Segment],
    array: VectorArray,
    number: int,
    approximate_from: int,
    dead: Callable[[int], np.ndarray] | None = None,
) -> list[int]:
    """Make ``array`` the live segment ``number`` of its kind, merged with the others of its
    tier when they are MERGE_FACTOR; returns the numbers of the segments it took in, whose
    ``dead(number)`` ids (dead vectors) the merged segment leaves out."""
    absorbed: list[int] = []
    while True:
        peers = sorted(n for n, s in segments.items() if tier(s.array.count) == tier(array.count))
        if len(peers) + 1 < MERGE_FACTOR:
            break
        parts = [segments.pop(n).array for n in peers]
        if dead is not None:
            parts = [part.without(dead(n)) for part, n in zip(parts, peers, strict=True)]
        array = VectorArray.joined([*parts, array], array.dim)
        absorbed += peers
    segments[number] = segment(kind, array, approximate_from)
    return absorbed


def drop_ids(
    kind: str,
    segments: dict[int, Segment],
    held: list[int],
    ids: list[int],
    number: int,
    approximate_from: int,
) -> bool:
    """Take ``ids`` out of the segments ``held`` (numbers) that hold them: what remains of
    those becomes segment ``number``. Returns whether anything remained."""
    dim = segments[held[0]].array.dim
    rest = VectorArray.joined([segments.pop(n).array.without(ids) for n in held], dim)
    if rest.count:
        segments[number] = segment(kind, rest, approximate_from)
    return bool(rest.count)


def search(
    segments: Iterable[tuple[Segment, Skipped | None, np.ndarray | None]],
    query: np.ndarray,
    k: int,
) -> list[tuple[int, float]]:
    """The k (id, inner product) nearest to a query across segments, each with its dead
    vectors (or None) and the rows a search keeps to (or None: all), best first."""
    found = [s.nearest(query, k, within, skipped) for s, skipped, within in segments]
    if not found:
        return []
    ids = np.concatenate([i for i, _ in found])
    scores = np.concatenate([s for _, s in found]).astype(np.float32, copy=False)
    best = np.argsort(-scores, kind="stable")[:k]  # stable: ties keep the segments' order
    return list(zip(ids[best].tolist(), scores[best].tolist(), strict=True))


class SegmentFiles:
    """The segment files of one data directory, for vectors of ``dim`` dimensions."""

    def __init__(self, directory: Path, dim: int) -> None:
        self.directory = directory
        self.dim = dim

    def path(self, kind: str, number: int, suffix: str = ".vec") -> Path:
        return self.directory / f"{kind}-{number}{suffix}"

    def _missing(self, file: Path) -> StoreError:
        return StoreError(
            f"{file} is missing: the index's vectors are lost; make them again from the "
            f"articles: {REBUILD}"
        )

    def _damaged(self, file: Path) -> StoreError:
        return StoreError(
            f"{file} is damaged: make the index's vectors again from the articles: {REBUILD}"
        )

    def read(
        self,
        kind: str,
        number: int,
        sha256: str | None,
        search_sha256: str | None = None,
        verify: bool = False,
    ) -> Segment:
        """A segment from its files; StoreError if one is missing or damaged.

        The checksums are the ones recorded when the files were written (None: not
        recorded); they are verified for files up to VERIFY_ON_OPEN bytes, or all with
        ``verify``. ``search_sha256`` names the approximate index of a chunk segment.
        """
        file = self.path(kind, number)
        try:
            array = read_array(file, self._to_verify(file, sha256, verify))
        except FileNotFoundError:
            raise self._missing(file) from None
        except DamagedFile:
            raise self._damaged(file) from None
        if array.dim != self.dim and not verify:  # ``problems`` says what is wrong instead
            raise self._damaged(file)
        loaded = Segment(array, sha256, search_sha256=search_sha256)
        if kind != "chunks":
            return loaded
        if search_sha256 is None:
            return replace(loaded, search=exact_index(array))
        ivf = self.path(kind, number, ".ivf")
        try:
            expected = self._to_verify(ivf, search_sha256, verify)
            if expected and file_sha256(ivf) != expected:
                raise RuntimeError("checksum mismatch")
            index = faiss.read_index(str(ivf))
        except FileNotFoundError:
            raise self._missing(ivf) from None
        except RuntimeError:  # FAISS's error for a file it cannot parse
            raise self._damaged(ivf) from None
        if not isinstance(index, faiss.IndexIVF) or index.ntotal != array.count:
            raise self._damaged(ivf)
        index.nprobe = probes(index.nlist)
        return replace(loaded, search=index)

    @staticmethod
    def _to_verify(file: Path, sha256: str | None, verify: bool) -> str | None:
        if not sha256:
            return None
        return sha256 if verify or file.stat().st_size <= VERIFY_ON_OPEN else None

    def write_segment(self, kind: str, number: int, s: Segment, written: list[Path]) -> Segment:
        """Write a new segment's files (each path goes in ``written`` before it is written,
        to be deleted if the change fails); returns it with their checksums."""
        written.append(self.path(kind, number))
        # Mapped from its file from now on: a writer that stays up (the bot) does not keep
        # the vectors of a merge in memory.
        s = replace(s, sha256=self.write(s.array, written[-1]), array=read_array(written[-1]))
        if s.approximate:
            written.append(self.path(kind, number, ".ivf"))
            s = replace(s, search_sha256=self.write(s.search, written[-1]))
        return s

    @staticmethod
    def write(data: VectorArray | faiss.Index, file: Path) -> str:
        """Write a vector array or a FAISS index durably (temporary name, fsync, rename);
        returns the file's SHA-256. Every segment file is written through here."""
        if isinstance(data, VectorArray):
            return write_array(data, file)
        tmp = file.with_name(file.name + ".tmp")
        faiss.write_index(data, str(tmp))
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, file)
        return file_sha256(file)

    def files(self, kind: str, number: int, s: Segment) -> set[Path]:
        """The files of a live segment."""
        if s.search_sha256 or s.approximate:
            return {self.path(kind, number), self.path(kind, number, ".ivf")}
        return {self.path(kind, number)}

    def delete_all_but(self, live: set[Path]) -> None:
        """Delete every segment file (temporary ones, and .faiss files of schema 2, too)
        but the ``live`` ones.

        Only a writer may call this, after committing the manifest that names ``live``: no
        reader can then be loading any other (see index/faiss_store.py).
        """
        for kind in KINDS:
            for file in self.directory.glob(f"{kind}-*"):
                if file not in live:
                    file.unlink(missing_ok=True)

    def problems(
        self,
        kind: str,
        number: int,
        sha256: str | None,
        search_sha256: str | None,
        recorded_dim: str | None,
        rows: set,
    ) -> list[str]:
        """What disagrees between one segment's files and the database: whether they are
        there and whole, their dimensions, and their ids against the ``rows`` it should hold."""
        try:
            s = self.read(kind, number, sha256, search_sha256, verify=True)
        except StoreError as exc:
            return [str(exc)]
        name = self.path(kind, number).name
        found = []
        if str(s.array.dim) != recorded_dim:
            found.append(
                f"{name} holds vectors of {s.array.dim} dimensions; "
                f"the index records {recorded_dim}"
            )
        ids = np.asarray(s.array.ids)
        if len(ids) != len(rows):
            found.append(f"{name} holds {len(ids)} vectors; the database has {len(rows)} {kind}")
        twice = int((np.diff(ids) == 0).sum())
        if twice:
            found.append(f"{name} holds {twice} vectors twice")
        held = set(ids.tolist())
        for what, stray in (
            (f"{kind} in the database have no vector in {name}", rows - held),
            (f"vectors in {name} belong to none of the database's {kind}", held - rows),
        ):
            if stray:
                sample = ", ".join(map(str, sorted(stray)[:5]))
                found.append(f"{len(stray)} {what} (ids {sample}{'...' if len(stray) > 5 else ''})")
        return found

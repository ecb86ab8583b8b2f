"""Vectors by id in one file, half precision, read row by row: what a segment holds.

A ``.vec`` file is a 64-byte header (magic, dimensions, count), the ids (int64, ascending),
then the vectors (float16, one row per id). Opening one reads its header and its ids
(8 bytes a vector); its vectors stay on disk, and a lookup reads the rows it returns
(``pread``, one read a run of neighbouring rows). Not memory-mapped: pages of a mapped
file count in the process's resident memory once touched, in whole large folios, and a
few dozen questions brought nearly a whole sentence file in (measured: 91 of 95 MB after
42 answers, with MADV_RANDOM too). Sentence vectors are only ever looked up (the few of the
chunks a search found), so an index of millions of sentences costs their ids in memory,
nothing more. float16 keeps three significant digits: cosines move by under 0.001
(docs/performance.md), far below the margins answers are decided by.
"""

from __future__ import annotations

import hashlib
import os
import struct
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

MAGIC = b"ABVEC01\n"
HEADER = struct.Struct("<8sIQ")  # magic, dimensions, count
HEADER_BYTES = 64  # the header padded, so the arrays after it are aligned


class DamagedFile(ValueError):
    """A vector file that is not whole: wrong magic, size or checksum."""


@dataclass(frozen=True)
class VectorArray:
    """Vectors by id: ``ids`` ascending (int64), ``vectors`` one float16 row per id."""

    ids: np.ndarray
    vectors: np.ndarray

    @property
    def count(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    @classmethod
    def of(cls, ids: np.ndarray, vectors: np.ndarray, dim: int) -> VectorArray:
        """An array holding ``vectors`` (any float type) under ``ids`` (any order)."""
        ids = np.asarray(ids, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        rows = np.asarray(vectors, dtype=np.float16).reshape(len(ids), dim)
        return cls(ids[order], rows[order])

    @classmethod
    def joined(cls, arrays: Iterable[VectorArray], dim: int) -> VectorArray:
        """One array holding the vectors of all of these."""
        arrays = list(arrays)
        ids = np.concatenate([np.zeros(0, np.int64), *(a.ids for a in arrays)])
        vectors = np.vstack([np.zeros((0, dim), np.float16), *(a.vectors for a in arrays)])
        return cls.of(ids, vectors, dim)

    def without(self, ids: Iterable[int]) -> VectorArray:
        """A copy without these ids."""
        keep = ~np.isin(self.ids, np.fromiter(ids, dtype=np.int64))
        return VectorArray(np.array(self.ids[keep]), np.array(self.vectors[keep]))

    def rows_held(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each of ``ids`` (int64), the row it has here (a binary search) and whether it
        is held here at all (where it is not, the row means nothing)."""
        rows = np.searchsorted(self.ids, ids)
        held = rows < self.count
        held[held] = self.ids[rows[held]] == ids[held]
        return rows, held

    def rows_among(self, ids: np.ndarray) -> np.ndarray:
        """The rows (int64, ascending) of those of ``ids`` (int64, ascending) held here: a
        binary search for each id within this array's range, not a pass over its ids."""
        if not self.count:
            return np.zeros(0, np.int64)
        first, last = np.searchsorted(ids, [self.ids[0], self.ids[-1]], side="left")
        rows, held = self.rows_held(ids[first : last + 1])
        return rows[held].astype(np.int64)

    def positions(self, ids: Iterable[int]) -> np.ndarray:
        """The rows of these ids; KeyError if one is not here."""
        wanted = np.fromiter(ids, dtype=np.int64)
        rows, held = self.rows_held(wanted)
        if not held.all():
            raise KeyError(f"ids not in this segment: {wanted[~held][:5].tolist()}")
        return rows

    def take(self, ids: Iterable[int]) -> np.ndarray:
        """The vectors of these ids, float32, one row each in the order asked."""
        return np.asarray(self.vectors[self.positions(ids)], dtype=np.float32)

    def floats(self) -> np.ndarray:
        """Every vector as float32, in id order (reads the whole file)."""
        return np.asarray(self.vectors, dtype=np.float32)


def write_array(array: VectorArray, file: Path) -> str:
    """Write an array durably (temporary name, fsync, rename); returns the file's SHA-256."""
    header = HEADER.pack(MAGIC, array.dim, array.count).ljust(HEADER_BYTES, b"\0")
    digest = hashlib.sha256()
    tmp = file.with_name(file.name + ".tmp")
    with open(tmp, "wb") as handle:
        for part in (
            header,
            np.ascontiguousarray(array.ids, dtype="<i8"),
            np.ascontiguousarray(array.vectors, dtype="<f2"),
        ):
            data = memoryview(part).cast("B")
            digest.update(data)
            handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, file)
    return digest.hexdigest()


def file_sha256(file: Path) -> str:
    with open(file, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def read_array(file: Path, sha256: str | None = None) -> VectorArray:
    """Map an array's file; DamagedFile if its header or size is wrong, or if ``sha256`` is
    given and the file's checksum is another (FileNotFoundError if it is missing)."""
    size = file.stat().st_size
    with open(file, "rb") as handle:
        header = handle.read(HEADER.size)
    if len(header) < HEADER.size:
        raise DamagedFile(f"{file} is too short")
    magic, dim, count = HEADER.unpack(header)
    if magic != MAGIC or dim == 0 or size != HEADER_BYTES + count * (8 + 2 * dim):
        raise DamagedFile(f"{file} is not a whole vector file")
    if sha256 and file_sha256(file) != sha256:
        raise DamagedFile(f"{file} does not match its checksum")
    if count == 0:
        return VectorArray(np.zeros(0, np.int64), np.zeros((0, dim), np.float16))
    ids = np.fromfile(file, dtype="<i8", count=count, offset=HEADER_BYTES)
    return VectorArray(ids, FileRows(file, HEADER_BYTES + 8 * count, count, dim))


class FileRows:
    """The float16 rows of a vector file, read from it when indexed (``rows[i]``,
    ``rows[a:b]``, ``rows[array of rows or mask]``); ``numpy.asarray`` reads them all.

    The file stays open: a writer may delete it once a newer manifest is committed, and
    this reader still reads what it opened (index/faiss_store.py).
    """

    dtype = np.dtype("<f2")

    def __init__(self, file: Path, offset: int, count: int, dim: int) -> None:
        self._handle = open(file, "rb")  # noqa: SIM115 (lives as long as the rows)
        weakref.finalize(self, self._handle.close)
        self._offset, self.shape = offset, (count, dim)
        self._row_bytes = 2 * dim

    def __len__(self) -> int:
        return self.shape[0]

    def _read(self, start: int, stop: int) -> np.ndarray:
        size = (stop - start) * self._row_bytes
        data = os.pread(self._handle.fileno(), size, self._offset + start * self._row_bytes)
        if len(data) != size:
            raise DamagedFile(f"{self._handle.name} ends early")
        return np.frombuffer(data, self.dtype).reshape(stop - start, self.shape[1])

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            rows = self._read(start, max(start, stop))
            return rows[::step] if step != 1 else rows
        if np.ndim(key) == 0:
            return self[[key]][0]
        wanted = np.asarray(key)
        if wanted.dtype == bool:
            wanted = np.flatnonzero(wanted)
        wanted = wanted.astype(np.int64).reshape(-1)
        out = np.empty((len(wanted), self.shape[1]), self.dtype)
        order = np.argsort(wanted, kind="stable")
        ordered = wanted[order]
        # One read for each run of neighbouring rows (a chunk's sentences are one run).
        bounds = [0, *(np.flatnonzero(np.diff(ordered) > 1) + 1).tolist(), len(ordered)]
        for a, b in pairwise(bounds):
            if b > a:
                first, last = int(ordered[a]), int(ordered[b - 1])
                block = self._read(first, last + 1)
                out[order[a:b]] = block[ordered[a:b] - first]
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        rows = self._read(0, len(self))
        return rows if dtype is None else rows.astype(dtype)

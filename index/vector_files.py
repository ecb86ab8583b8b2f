"""The FAISS files that hold a FaissStore's vectors: one a kind and generation, checksummed.

``chunks-<gen>.faiss`` and ``sentences-<gen>.faiss`` hold an ``IndexIDMap2`` over an
exact inner-product index: FAISS id = chunk or sentence id. A file is written under a
temporary name, fsynced and renamed, so it is either whole or absent; its SHA-256, kept
in the store's database, tells a damaged file from a good one. Generation 0 has no files.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import faiss
import numpy as np

from .store import StoreError

KINDS = ("chunks", "sentences")
REBUILD = "articlebot index rebuild"


class VectorFiles:
    """The vector files of one data directory, for vectors of ``dim`` dimensions."""

    def __init__(self, directory: Path, dim: int) -> None:
        self.directory = directory
        self.dim = dim

    def path(self, kind: str, generation: int) -> Path:
        return self.directory / f"{kind}-{generation}.faiss"

    def empty(self) -> faiss.Index:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    def read(self, kind: str, generation: int, sha256: str | None) -> faiss.Index:
        """A generation's vectors of one kind; StoreError if its file is missing or damaged.

        ``sha256`` is the checksum recorded when the file was written (None: not recorded).
        """
        if generation == 0:
            return self.empty()
        file = self.path(kind, generation)
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
            return faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
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

    def delete(self, generation: int) -> None:
        """Delete one generation's files (what a failed write left)."""
        for kind in KINDS:
            self.path(kind, generation).unlink(missing_ok=True)

    def delete_all_but(self, generation: int) -> None:
        """Delete the files of every generation but ``generation``, temporary ones too.

        Only a writer may call this, after committing ``generation``: no reader can then be
        loading any other (see index/faiss_store.py).
        """
        keep = {self.path(kind, generation).name for kind in KINDS}
        for kind in KINDS:
            for file in self.directory.glob(f"{kind}-*.faiss*"):
                if file.name not in keep:
                    file.unlink(missing_ok=True)

    def problems(
        self, kind: str, generation: int, sha256: str | None, recorded_dim: str | None, rows: set
    ) -> list[str]:
        """What disagrees between a generation's file of one kind and the database: whether
        the file is there and whole, its dimensions, and its ids against ``rows``."""
        try:
            index = self.read(kind, generation, sha256)
        except StoreError as exc:
            return [str(exc)]
        name = self.path(kind, generation).name if generation else f"the {kind}' vectors"
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

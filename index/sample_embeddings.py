"""The bundled sample's vectors, shipped beside it so that the first run calls no model.

``python -m index.sample_embeddings`` indexes ``corpus/`` with the default embedder and
chunking into a scratch directory and keeps the embedding cache that this fills, compacted,
as ``sample_embeddings.sqlite``: what every new data directory's cache starts as
(index/embedding_cache.py). Run it again after changing the model, the chunking or the
sample; tests/test_embedding_cache.py fails until then.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from contextlib import closing
from importlib import resources
from pathlib import Path

from .chunking import Chunking
from .embedding_cache import BUNDLED, FILE_NAME, EmbeddingCache
from .embeddings import DEFAULT_EMBEDDINGS, load_embeddings
from .faiss_store import FaissStore
from .ingest import Indexer
from .readers import load


def sample_corpus() -> Path:
    """The folder of articles bundled with articlebot, indexed on first run."""
    return Path(str(resources.files("index") / "corpus"))


def write(path: Path = BUNDLED) -> int:
    """Write the sample's vectors and terms to ``path``; returns how many texts it holds."""
    embeddings = load_embeddings(DEFAULT_EMBEDDINGS)
    articles = [a for loaded in load([str(sample_corpus())]) for a in loaded.articles]
    with tempfile.TemporaryDirectory(prefix="articlebot-sample-") as scratch:
        store = FaissStore(scratch, embeddings.identity)
        cache = EmbeddingCache(scratch, start=None)  # from nothing: only what the sample needs
        Indexer(store, embeddings, Chunking(), cache, near_duplicates=None).add(articles)
        store.close()
        cache.close()
        path.unlink(missing_ok=True)
        with closing(sqlite3.connect(Path(scratch) / FILE_NAME)) as db:
            # 1 KB pages: a row (a vector, 1.5 KB; terms, 2 KB) fills two or three of them
            # where 4 KB pages would leave half of each empty: 175 KB instead of 373 KB.
            db.execute("PRAGMA page_size = 1024")
            db.execute("VACUUM")
            db.execute("VACUUM INTO ?", (str(path),))
    with closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT count(*) FROM vectors").fetchone()[0]


if __name__ == "__main__":
    count = write(Path(sys.argv[1]) if len(sys.argv) > 1 else BUNDLED)
    print(f"{count} vectors of the bundled sample written")

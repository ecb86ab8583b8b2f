"""Copying the articles of one store into another without embedding them again.

Everything is read through the store interface (index/store.py), so any backend copies
into any other: the articles, their chunks' and sentences' spans, vectors and latent terms,
their near-duplicate signatures and the copies recorded of them.
Chunk vectors come from ``article_chunks``, sentence vectors from ``sentences_of``, both
as stored (float16 sentence vectors in PostgreSQL come back as the float32 they widen to).
"""

from __future__ import annotations

from collections.abc import Callable

from .store import AddResult, ArticleStore, StoreError
from .types import Article, Chunk, PreparedArticle, Span, Terms

ProgressFn = Callable[[int, int], None]  # (done, total) steps


def stored_articles(
    store: ArticleStore, progress: ProgressFn | None = None
) -> list[PreparedArticle]:
    """Every article of ``store`` as it is stored, ready for another store's ``add``: the
    same spans, vectors, terms and times added, oldest first."""
    stored = store.every_article()
    signatures = store.signatures()
    prepared = []
    for done, (article, added_at) in enumerate(stored, start=1):
        prepared.append(_prepared(store, article, added_at))
        prepared[-1].signature = signatures.get(article.id)
        if progress:
            progress(done, len(stored))
    return prepared


def _prepared(store: ArticleStore, article: Article, added_at: str) -> PreparedArticle:
    chunks, chunk_vectors = store.article_chunks(article.id)
    # A "chunk" that spans the whole text holds every sentence of the article.
    whole = Chunk(id=0, article_id=article.id, ordinal=0, start=0, end=len(article.text), text="")
    ((sentences, sentence_vectors),) = store.sentences_of([whole])
    chunk_ids, sentence_ids = [c.id for c in chunks], [s.id for s in sentences]
    return PreparedArticle(
        article=article,
        chunks=[Span(c.start, c.end) for c in chunks],
        sentences=[Span(s.start, s.end) for s in sentences],
        chunk_vectors=chunk_vectors,
        sentence_vectors=sentence_vectors,
        chunk_terms=_all_or_none(store.chunk_terms(chunk_ids), chunk_ids, article),
        sentence_terms=_all_or_none(store.sentence_terms(sentence_ids), sentence_ids, article),
        added_at=added_at,
    )


def _all_or_none(terms: dict[int, Terms], ids: list[int], article: Article) -> list[Terms] | None:
    """The pieces' terms in order; None where the store keeps none (an embedder without a
    sparse head). Some but not all would be a damaged store."""
    if not terms:
        return None
    missing = [i for i in ids if i not in terms]
    if missing:
        raise StoreError(
            f"article {article.id}: {len(missing)} pieces have no latent terms "
            "(articlebot index check; articlebot index rebuild mends it)"
        )
    return [terms[i] for i in ids]


def copy_store(
    source: ArticleStore, target: ArticleStore, progress: ProgressFn | None = None
) -> AddResult:
    """Add every article of ``source`` to ``target``, vectors and all, in one step; ones
    ``target`` holds already are skipped. The stores must be of the same embedder."""
    if source.identity != target.identity:
        raise StoreError(
            f"the stores hold vectors of different embedders ({source.identity.spec!r}, "
            f"{target.identity.spec!r}): copy with the same ARTICLEBOT_EMBEDDINGS"
        )
    prepared = stored_articles(source, progress)
    copies = source.copies()
    added = target.add(prepared, copies)
    added_ids = {a.id for a in added}
    return AddResult(
        added=[a for a in added if a.id not in {c.article.id for c in copies}],
        skipped=[p.article for p in prepared if p.article.id not in added_ids],
        chunks=sum(len(p.chunks) for p in prepared if p.article.id in added_ids),
        copies=[c for c in copies if c.article.id in added_ids],
    )

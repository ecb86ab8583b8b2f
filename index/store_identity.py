"""The embedder and schema a store records in its meta rows, and the refusal when another is
asked for.

Every backend keeps the same meta keys, so the same message tells the user how to fix a
mismatch whatever holds the vectors.
"""

from __future__ import annotations

from collections.abc import Sequence

from .store import StoreError, StoreMismatchError
from .types import EmbedderIdentity, PreparedArticle

REBUILD = "articlebot index rebuild"


def identity_meta(identity: EmbedderIdentity) -> dict[str, str]:
    """The meta rows that record an embedder."""
    return {
        "embed_backend": identity.backend,
        "embed_model": identity.model,
        "embed_dim": str(identity.dim),
        "sentence_role": identity.sentence_role,
    }


def check_identity(meta: dict[str, str], identity: EmbedderIdentity, where: str) -> None:
    """Raise StoreMismatchError, saying how to fix it, if the index ``where`` (its meta rows
    ``meta``) holds vectors of another embedder than ``identity``."""
    ours = identity_meta(identity)
    # Indexes made before sentence roles existed embedded sentences as passages.
    theirs = {k: meta.get(k, "passage" if k == "sentence_role" else "?") for k in ours}
    if ours == theirs:
        return
    if ours | {"sentence_role": ""} == theirs | {"sentence_role": ""}:
        raise StoreMismatchError(
            f"The index in {where} was built by an earlier version of articlebot "
            f"(sentences embedded in the {theirs['sentence_role']} role; this version "
            f"embeds them in the {ours['sentence_role']} role, which answers better). "
            f"Re-embed every article once: {REBUILD}"
        )
    backend, model = theirs["embed_backend"], theirs["embed_model"]
    built = backend if backend == model else f"{backend}:{model}"
    raise StoreMismatchError(
        f"The index in {where} was built with embeddings {built!r} "
        f"({theirs['embed_dim']} dimensions), but the settings ask for "
        f"{identity.spec!r} ({identity.dim} dimensions). Vectors of "
        "different models cannot be mixed. Either set ARTICLEBOT_EMBEDDINGS="
        f"{built}, or re-embed every article with the new model: {REBUILD}"
    )


def meta_problems(
    meta: dict[str, str], identity: EmbedderIdentity, where: str, schema: str
) -> list[str]:
    """What ``index check`` says of a store's meta rows: another schema (nothing else is worth
    checking then), or vectors of another embedder than ``identity``; empty if neither."""
    if meta.get("schema") != schema:
        return [
            f"the index has schema {meta.get('schema', '?')}; this version of "
            f"articlebot reads schema {schema} ({REBUILD} converts it)"
        ]
    try:
        check_identity(meta, identity, where)
    except StoreMismatchError as exc:
        return [str(exc)]
    return []


def check_vectors(identity: EmbedderIdentity, articles: Sequence[PreparedArticle]) -> None:
    """Raise StoreMismatchError if any prepared article's vectors are not ``identity``'s size."""
    for prepared in articles:
        for vectors in (prepared.chunk_vectors, prepared.sentence_vectors):
            if vectors.ndim != 2 or vectors.shape[1] != identity.dim:
                raise StoreMismatchError(
                    f"article {prepared.article.id} has vectors of {vectors.shape[-1]} "
                    f"dimensions; this store holds {identity.dim} ({identity.spec})"
                )


def verify_meta(meta: dict[str, str], identity: EmbedderIdentity, where: str, schema: str) -> None:
    """Refuse a store of another schema (StoreError) or of another embedder
    (StoreMismatchError), saying how to fix it."""
    if meta.get("schema") != schema:
        raise StoreError(
            f"The index in {where} has the layout of another version of articlebot "
            f"(schema {meta.get('schema', '?')}; this version reads schema "
            f"{schema}): convert it with {REBUILD}"
        )
    check_identity(meta, identity, where)


# The highest id a chunk or a sentence holds (0 if none), in SQL both SQLite and PostgreSQL read.
LAST_PIECE_ID = (
    "SELECT coalesce(max(id), 0) FROM "
    "(SELECT id FROM chunks UNION ALL SELECT id FROM sentences) AS pieces"
)


def next_id_problems(last: int, next_id: int) -> list[str]:
    """What ``index check`` says when the id a store would give next is already in use."""
    return [f"the next id ({next_id}) is one in use ({last})"] if last >= next_id else []

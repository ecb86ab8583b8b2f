"""Putting the parts together from Settings: the store, the retriever and the answer chain."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from index.chunking import Chunking
from index.embedding_cache import EmbeddingCache
from index.embeddings import load_embeddings
from index.faiss_store import DB_NAME, FaissStore
from index.feed_registry import FeedRegistry
from index.ingest import Indexer, ProgressFn
from index.readers import Limits, load
from index.sample_embeddings import sample_corpus
from index.store import ArticleStore, StoreError

from .settings import Settings

if TYPE_CHECKING:
    from index.feed_polling import PollLimits
    from index.jobs import JobQueue  # psycopg is the postgres extra: imported only when used

    from .answering import Answerer
    from .confidence import ConfidenceModel

SAMPLE_SOURCE = "bundled sample"  # the sample's source reads "bundled sample: FILE"


def is_sample(source: str) -> bool:
    """Whether an article of this source is the bundled sample, which listings mark and
    the user's first own article replaces (Indexer.placeholder)."""
    return source.startswith(f"{SAMPLE_SOURCE}:")


def limits(settings: Settings) -> Limits:
    return Limits(
        max_chars=settings.max_article_chars,
        max_bytes=settings.max_file_bytes,
        fetch_timeout=settings.fetch_timeout,
        allow_private_urls=settings.allow_private_urls,
    )


def poll_limits(settings: Settings) -> PollLimits:
    """How feeds are polled: every fetch as ``limits``, and the feed settings."""
    from index.feed_polling import PollLimits

    return PollLimits(
        read=limits(settings),
        interval=timedelta(minutes=settings.feed_interval),
        max_entries=settings.feed_max_entries,
        retention_days=settings.retention_days,
    )


def open_feeds(settings: Settings) -> FeedRegistry:
    """The followed feeds, in feeds.sqlite of the data directory."""
    return FeedRegistry(settings.data_dir)


def open_store(
    settings: Settings,
    *,
    seed: bool = False,
    verify: bool = True,
    progress: Callable[[], ProgressFn] | None = None,
) -> ArticleStore:
    """The store the settings choose (ARTICLEBOT_STORE): FAISS in the data directory or
    PostgreSQL.

    With ``seed`` (a user is about to ask), an empty store first gets the bundled sample
    article, unless ARTICLEBOT_SEED_SAMPLE is off; ``progress`` makes the callback that shows
    it being indexed (called only then). Seeding is one atomic add, so an interrupted first
    run leaves the store empty and the next one seeds again. ``verify=False`` opens a store
    even if it is of another embedder or schema or its vector files are damaged: for
    ``check`` and ``indexer(...).rebuild``.
    """
    identity = load_embeddings(settings.embeddings).identity
    store: ArticleStore
    if settings.store == "postgres":
        url = postgres_url(settings)
        store = _postgres_module("index.postgres_store").PostgresStore(
            url,
            identity,
            verify=verify,
            write_lock_timeout=settings.write_lock_timeout,
            ef_search=settings.postgres_ef_search,
        )
    else:
        store = FaissStore(
            settings.data_dir,
            identity,
            verify=verify,
            write_lock_timeout=settings.write_lock_timeout,
            approximate_from=settings.approximate_from,
        )
    if seed and settings.seed_sample and len(store) == 0:
        articles = [a for loaded in load([str(sample_corpus())]) for a in loaded.articles]
        for article in articles:
            article.source = f"{SAMPLE_SOURCE}: {Path(article.source).name}"
        indexer(settings, store).add(articles, progress() if progress else None)
    return store


def open_jobs(settings: Settings) -> JobQueue:
    """The ingestion jobs (index/jobs.py), in the PostgreSQL database of the store."""
    if settings.store != "postgres":
        raise StoreError(
            "ingestion jobs are kept in PostgreSQL: set ARTICLEBOT_STORE=postgres and "
            "ARTICLEBOT_POSTGRES_URL (workers and the bot share that database)"
        )
    return _postgres_module("index.jobs").JobQueue(
        postgres_url(settings), max_attempts=settings.job_attempts
    )


def postgres_url(settings: Settings) -> str:
    """ARTICLEBOT_POSTGRES_URL, for ARTICLEBOT_STORE=postgres; StoreError if it is not set."""
    if settings.postgres_url is None:
        raise StoreError(
            "ARTICLEBOT_STORE=postgres needs ARTICLEBOT_POSTGRES_URL "
            "(e.g. postgresql://user:password@localhost:5432/articlebot)"
        )
    return settings.postgres_url.get_secret_value()


def _postgres_module(name: str) -> ModuleType:
    """A module of the postgres backend, or a StoreError saying which extra to install."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise StoreError(
            f"ARTICLEBOT_STORE=postgres needs the postgres extra ({exc.name} is missing): "
            "pip install -e '.[postgres]'"
        ) from None


def store_exists(settings: Settings) -> bool:
    """Whether the store the settings choose holds an index already (without creating one)."""
    if settings.store == "postgres":
        if settings.postgres_url is None:
            return False
        from index.postgres_schema import store_exists as postgres_store_exists

        return postgres_store_exists(settings.postgres_url.get_secret_value())
    return (Path(settings.data_dir) / DB_NAME).exists()


def indexer(settings: Settings, store: ArticleStore) -> Indexer:
    """What adds articles to ``store``: the settings' embedder and chunk sizes, and the data
    directory's cache of vectors already computed (text embedded before costs no model call)."""
    return Indexer(
        store,
        load_embeddings(settings.embeddings),
        Chunking(settings.chunk_size, settings.chunk_overlap),
        EmbeddingCache(settings.data_dir),
        near_duplicates=settings.near_duplicate_threshold,
        placeholder=f"{SAMPLE_SOURCE}:",
    )


def build_answerer(
    settings: Settings, store: ArticleStore, *, confidence: ConfidenceModel | None = None
) -> Answerer:
    """The answer chain over ``store`` with the generator the settings choose.

    ``confidence`` replaces the refusal decision the settings name (the evaluation fits its
    own); by default the model fitted for the store's embedder (bot/confidence.py).
    """
    # The answer chain loads LangChain's runnables (0.2 s): imported here, not at the top,
    # so that the commands that answer nothing (`index list`, `jobs`...) start without it.
    from .answering import Answerer, ExtractiveGenerator
    from .question_map import load_crossing_offset, load_maps
    from .retrieval import ArticleRetriever

    # The embedder the store was opened for (open_store checked that its vectors are this
    # model's); loaded once per process.
    embeddings = load_embeddings(settings.embeddings)
    retriever = ArticleRetriever(
        store=store,
        embeddings=embeddings,
        k=settings.top_k,
        tuning=settings.tuning,
        question_maps=load_maps(embeddings.spec, settings.question_maps),
        crossing_offset=load_crossing_offset(embeddings.spec, settings.question_maps),
    )
    generator = ExtractiveGenerator(
        store=store,
        retriever=retriever,
        confidence=confidence or confidence_model(settings, embeddings.spec),
        max_quotes=settings.max_quotes,
        tuning=settings.tuning,
    )
    if settings.llm_backend != "extractive":
        from .llm import build_llm_generator  # the llm extra's packages load only when asked

        generator = build_llm_generator(settings, fallback=generator)
    return Answerer(store, retriever, generator, settings.max_question_chars)


def confidence_model(settings: Settings, embeddings: str) -> ConfidenceModel:
    """The refusal decision for ``embeddings``: the shipped model, or the settings' file,
    with the settings' cut-offs if they give any."""
    from .confidence import load_model

    model = load_model(embeddings, settings.confidence_model)
    if settings.confidence_cutoffs:
        refuse_below, confident_from = settings.confidence_cutoffs
        model = replace(model, refuse_below=refuse_below, confident_from=confident_from)
    return model

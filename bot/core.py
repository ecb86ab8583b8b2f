"""Putting the parts together from Settings: the store, the retriever and the answer chain."""

from __future__ import annotations

from dataclasses import replace
from importlib import resources
from pathlib import Path

from index.embeddings import load_embeddings
from index.readers import Limits, load
from index.store import ArticleStore

from .answering import Answerer, ExtractiveGenerator
from .confidence import ConfidenceModel, load_model
from .retrieval import ArticleRetriever
from .settings import Settings


def sample_corpus() -> Path:
    """The folder of articles bundled with articlebot, indexed on first run."""
    return Path(str(resources.files("index") / "corpus"))


def limits(settings: Settings) -> Limits:
    return Limits(
        max_chars=settings.max_article_chars,
        max_bytes=settings.max_file_bytes,
        fetch_timeout=settings.fetch_timeout,
    )


def open_store(settings: Settings, *, seed: bool | None = None) -> ArticleStore:
    """The store in the data directory; a new one gets the bundled sample articles."""
    is_new = not (Path(settings.data_dir) / "store.sqlite").exists()
    store = ArticleStore(
        settings.data_dir,
        load_embeddings(settings.embeddings),
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
    )
    if is_new and (settings.seed_sample if seed is None else seed):
        articles = [a for loaded in load([str(sample_corpus())]) for a in loaded.articles]
        for article in articles:
            article.source = f"bundled sample: {Path(article.source).name}"
        store.add(articles)
    return store


def build_answerer(
    settings: Settings, store: ArticleStore, *, confidence: ConfidenceModel | None = None
) -> Answerer:
    """The answer chain over ``store`` with the generator the settings choose.

    ``confidence`` replaces the refusal decision the settings name (the evaluation fits its
    own); by default the model fitted for the store's embedder (bot/confidence.py).
    """
    retriever = ArticleRetriever(
        store=store, embeddings=store.embeddings, k=settings.top_k, tuning=settings.tuning
    )
    generator = ExtractiveGenerator(
        store=store,
        retriever=retriever,
        confidence=confidence or confidence_model(settings, store.embeddings.spec),
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
    model = load_model(embeddings, settings.confidence_model)
    if settings.confidence_cutoffs:
        refuse_below, confident_from = settings.confidence_cutoffs
        model = replace(model, refuse_below=refuse_below, confident_from=confident_from)
    return model

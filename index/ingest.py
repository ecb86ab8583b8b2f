"""Adding inputs to a store: read every target, then index what was read in one step."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .readers import Limits, Loaded, load
from .store import AddResult, ArticleStore, ProgressFn
from .types import Article


@dataclass
class IngestReport:
    added: list[Article] = field(default_factory=list)
    skipped: list[Article] = field(default_factory=list)  # already indexed
    errors: list[str] = field(default_factory=list)  # one line per input that failed
    chunks: int = 0


def ingest(
    store: ArticleStore,
    targets: list[str],
    limits: Limits | None = None,
    progress: ProgressFn | None = None,
) -> IngestReport:
    """Read the targets (files, folders, URLs) and add their articles to the store.

    An input that cannot be read is reported in ``errors`` and adds nothing; the others
    are still added, all in one atomic step.
    """
    return add_loaded(store, load(targets, limits), progress)


def add_loaded(
    store: ArticleStore, loads: Iterable[Loaded], progress: ProgressFn | None = None
) -> IngestReport:
    """Add what was read (see ``readers.load``) to the store, in one atomic step."""
    report = IngestReport()
    articles: list[Article] = []
    for loaded in loads:
        if loaded.error:
            report.errors.append(loaded.error)
        articles.extend(loaded.articles)
    if articles:
        result: AddResult = store.add(articles, progress)
        report.added, report.skipped, report.chunks = result.added, result.skipped, result.chunks
    return report

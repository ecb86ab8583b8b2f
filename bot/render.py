"""Rendering an Answer as plain text for a terminal."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from index.cleaning import clean_text
from index.dates import day_of
from index.language import RIGHT_TO_LEFT

from . import prompts
from .types import Answer, Citation

if TYPE_CHECKING:  # the postgres extra: imported only where used
    from index.jobs import Job

if TYPE_CHECKING:  # annotations only: the CLI imports this module before any command runs
    from index.ingest import IngestReport, Removal
    from index.store import ArticleInfo


def use_bidi(setting: str, stream=None) -> bool:
    """Whether to reorder right-to-left text for display (terminals mostly do not)."""
    if setting == "on":
        return True
    if setting == "off":
        return False
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def display(text: str, bidi: bool, width: int | None = None) -> str:
    """``text`` as a terminal gets it: without control characters, escape sequences, bidi
    overrides or invisible characters (index/cleaning.py), and in visual order, line by line,
    when ``bidi`` is on. Stored text is never changed.

    Everything printed for a person goes through here: text from articles and models is data,
    and an escape sequence in it must not reach the terminal, which would obey it. Right-to-left
    lines are wrapped to the terminal's width first: a terminal wrapping an already reordered
    line would show its end first.
    """
    text = clean_text(text)
    if not bidi or not RIGHT_TO_LEFT.search(text):
        return text
    import shutil
    import textwrap

    from bidi import get_display

    width = width or shutil.get_terminal_size().columns
    out = []
    for line in text.split("\n"):
        if not RIGHT_TO_LEFT.search(line):
            out.append(line)
            continue
        out.extend(
            get_display(part)
            for part in textwrap.wrap(line, width, break_on_hyphens=False, break_long_words=False)
            or [""]
        )
    return "\n".join(out)


def when(date: str | None, added_at: str | None, lang: str) -> str:
    """An article's day: when it was published, else when it was added, said so ("added
    2026-11-30"); empty if neither is known."""
    if date:
        return day_of(date)
    return prompts.text("added_on", lang, day=day_of(added_at)) if added_at else ""


def by_article(citations: list[Citation]) -> list[list[Citation]]:
    """The citations grouped by the article they quote, in the order first cited."""
    groups: dict[str, list[Citation]] = {}
    for c in citations:
        groups.setdefault(c.article_id, []).append(c)
    return list(groups.values())


def answer_text(answer: Answer) -> str:
    """The answer followed by its numbered sources, each with its day and source (a link)."""
    lines = [answer.text]
    if answer.citations:
        lines += ["", prompts.text("sources", answer.lang) + ":"]
        for group in by_article(answer.citations):
            numbers = "".join(f"[{c.number}]" for c in group)
            c = group[0]
            day = when(c.date, c.added_at, answer.lang)
            line = f"{numbers} {c.title} — {_dated(c.source, day)} (id {c.article_id[:8]})"
            lines.append(line + also_in(c.also_in, answer.lang))
    return "\n".join(lines)


def counted(count: int, noun: str = "article", plural: str | None = None) -> str:
    """``count`` of a thing in words ("1 article", "3 articles", "1 entry", "2 entries"): the
    command line's English."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def _dated(source: str, day: str) -> str:
    return f"{day}, {source}" if day else source


def also_in(sources: list[str], lang: str) -> str:
    """ "; also in: A, B" after a source, naming the other sources of its story; "" if none."""
    return f"; {prompts.text('also_in', lang, sources=', '.join(sources))}" if sources else ""


def article_notes(info: ArticleInfo, sample: bool, lang: str = "en") -> str:
    """What follows an article in a listing: that it is the sample, and where else its story
    was found (source and date of each copy)."""
    notes = f" {prompts.text('sample_mark', lang)}" if sample else ""
    others = [f"{s.source} ({s.date})" if s.date else s.source for s in info.also_in]
    return notes + also_in(others, lang)


def report_lines(report: IngestReport, lang: str = "en") -> list[str]:
    """The lines about copies kept as sources and the sample made way, for any front end."""
    lines = [
        prompts.text("copy_kept", lang, title=c.article.title, id=c.of[:8]) for c in report.copies
    ]
    if report.retired:
        lines.append(prompts.text("sample_retired", lang))
    return lines


def removal_lines(removal: Removal, lang: str = "en") -> list[str]:
    """What a removal did besides removing: the copy that took the article's place."""
    p = removal.promoted
    return [prompts.text("copy_promoted", lang, title=p.title, id=p.id[:8])] if p else []


def sources_text(answer: Answer | None) -> str:
    """The full passages behind an answer, for /sources."""
    if answer is None:
        return prompts.text("no_sources", "en")
    if not answer.hits:
        return prompts.text("cannot_answer", answer.lang)
    cited = {c.chunk_id for c in answer.citations}
    lines = []
    # Each passage once, with the numbers of every citation quoting it.
    by_chunk: dict[int | None, list] = {}
    for c in answer.citations:
        by_chunk.setdefault(c.chunk_id, []).append(c)
    for chunk_id, group in by_chunk.items():
        hit = next((h for h in answer.hits if h.chunk.id == chunk_id), None)
        if hit is None:
            continue
        numbers = "".join(f"[{c.number}]" for c in group)
        day = when(group[0].date, group[0].added_at, answer.lang)
        head = f"{numbers} {group[0].title} — {_dated(group[0].source, day)}"
        lines += [head + also_in(group[0].also_in, answer.lang), hit.chunk.text.strip(), ""]
    others = [h for h in answer.hits if h.chunk.id not in cited]
    if others and not cited:
        for n, hit in enumerate(others, start=1):
            chunk = hit.chunk
            day = when(chunk.date, chunk.added_at, answer.lang)
            lines += [
                f"({n}) {chunk.title} — {_dated(chunk.source, day)} — score {hit.score:.3f}",
                hit.chunk.text.strip(),
                "",
            ]
    return "\n".join(lines).rstrip()


def progress_bar(description: str):
    """A progress callback drawing a tqdm bar on a terminal (nothing when piped)."""
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=description, unit="piece", disable=None, file=sys.stderr)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return update


def seeding_progress():
    """What a terminal shows while the bundled sample is indexed on a first run."""
    print("Indexing the bundled sample article (first run only)...", file=sys.stderr, flush=True)
    return progress_bar("sample")


def print_indexed(added, skipped=(), errors=(), indent: str = "", notes=()) -> None:
    """What ``index add`` and ``feeds poll`` print for the articles they added, the ones
    already indexed, ``notes`` (report_lines), and the inputs they could not read (on
    stderr), cleaned for a terminal."""
    for a in added:
        print(clean_text(f"{indent}added   {a.id}  [{a.lang}] {a.title}  ({a.source})"))
    for a in skipped:
        print(clean_text(f"{indent}skipped {a.id}  already indexed: {a.title}"))
    for note in notes:
        print(clean_text(f"{indent}{note}"))
    for error in errors:
        print(clean_text(f"{indent}error   {error}"), file=sys.stderr)


def job_line(job: Job) -> str:
    """One ingestion job (index/jobs.py) for `articlebot jobs`: id, status, tries, what it
    is, and what it did or why it failed."""
    head = f"{job.id:>6}  {job.status:<7}  try {job.attempts}  {job.name}"
    if job.status == "running":
        percent = f"{100 * job.done // job.total}%" if job.total else "starting"
        return f"{head}  ({job.worker}, {percent})"
    if job.status == "failed":
        return f"{head}\n        error: {job.error}"
    if job.status == "done" and job.result:
        result = job.result
        line = (
            f"{head}  ({len(result['added'])} added, {result['chunks']} chunks, "
            f"{len(result['skipped'])} already indexed)"
        )
        for error in result["errors"][:5]:
            line += f"\n        failed: {error}"
        return line
    return head

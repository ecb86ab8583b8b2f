"""Rendering an Answer as plain text for a terminal."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from index.cleaning import clean_text
from index.language import _ARABIC

from . import prompts
from .types import Answer

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
    if not bidi or not _ARABIC.search(text):
        return text
    import shutil
    import textwrap

    from bidi import get_display

    width = width or shutil.get_terminal_size().columns
    out = []
    for line in text.split("\n"):
        if not _ARABIC.search(line):
            out.append(line)
            continue
        out.extend(
            get_display(part)
            for part in textwrap.wrap(line, width, break_on_hyphens=False, break_long_words=False)
            or [""]
        )
    return "\n".join(out)


def answer_text(answer: Answer) -> str:
    """The answer followed by its numbered sources."""
    lines = [answer.text]
    if answer.citations:
        lines += ["", prompts.text("sources", answer.lang) + ":"]
        by_article: dict[str, list] = {}
        for c in answer.citations:
            by_article.setdefault(c.article_id, []).append(c)
        for group in by_article.values():
            numbers = "".join(f"[{c.number}]" for c in group)
            c = group[0]
            line = f"{numbers} {c.title} — {c.source} (id {c.article_id[:8]})"
            lines.append(line + also_in(c.also_in, answer.lang))
    return "\n".join(lines)


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
        head = f"{numbers} {group[0].title} — {group[0].source}"
        lines += [head + also_in(group[0].also_in, answer.lang), hit.chunk.text.strip(), ""]
    others = [h for h in answer.hits if h.chunk.id not in cited]
    if others and not cited:
        for n, hit in enumerate(others, start=1):
            lines += [
                f"({n}) {hit.chunk.title} — score {hit.score:.3f}",
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

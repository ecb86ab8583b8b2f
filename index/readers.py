"""Turning files, folders and URLs into Articles: text, Markdown, HTML, PDF and JSONL."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from .cleaning import clean_line, clean_text
from .dates import html_date, normalize_date
from .fetch import FetchError, fetch
from .language import word_count
from .types import Article

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
log = logging.getLogger(__name__)
SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | {".pdf", ".jsonl"}

DEFAULT_MAX_CHARS = 1_000_000
DEFAULT_MAX_BYTES = 20 * 1024 * 1024

# trafilatura says "discarding data: None" or "empty HTML tree" on stderr for a page without
# article text, and pypdf "EOF marker not found" for a broken PDF: the ReadError says so
# already, in words a person understands.
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
logging.getLogger("pypdf").setLevel(logging.ERROR)


# An HTML page's text holds a sentence at least: a line of four words or more (a quote's
# least, bot/answering.py) that ends as a sentence does (the full stops of the Latin, Arabic,
# Urdu, Devanagari, Armenian, Ethiopic, Burmese, Khmer and CJK scripts...), or a line of
# PROSE_WORDS (Thai marks no sentence's end). A menu or a footer is neither.
_SENTENCE_END = re.compile(r"[.!?…؟。！？।॥۔։።။។;]['\")\]’”»]*\s*$")
PROSE_WORDS = 12


class ReadError(ValueError):
    """An input could not be turned into an article; the message says why, for a person."""


@dataclass
class Limits:
    """Bounds on what one input may hold."""

    max_chars: int = DEFAULT_MAX_CHARS
    max_bytes: int = DEFAULT_MAX_BYTES
    fetch_timeout: float = 20.0
    allow_private_urls: bool = False  # ARTICLEBOT_ALLOW_PRIVATE_URLS; see index/fetch.py


@dataclass
class Loaded:
    """The outcome of reading one input: articles, or an error for that input (for a JSONL
    file, its good lines give one Loaded and each bad line another, with its error)."""

    source: str
    articles: list[Article]
    error: str | None = None


# What an input gives before it is parsed: its bytes, its suffix and a title to fall back on.
Content = tuple[bytes, str, str]


def is_url(target: str) -> bool:
    return urlparse(target).scheme in ("http", "https")


def load(targets: list[str], limits: Limits | None = None) -> Iterator[Loaded]:
    """Read each target (file, folder or http(s) URL); one bad input does not stop the rest."""
    limits = limits or Limits()
    for target in targets:
        if is_url(target):
            yield from _load(target, lambda t=target: _fetched(t, limits), limits)
            continue
        scheme = urlparse(target).scheme
        if "://" in target and len(scheme) > 1:  # (not a Windows drive, C:\\)
            error = f"{target}: only http:// and https:// addresses are read, not {scheme}://"
            yield Loaded(target, [], error)
            continue
        path = Path(target).expanduser()
        if path.is_dir():
            files = files_in(path)
            if not files:
                yield Loaded(str(path), [], f"{path}: no {', '.join(sorted(SUFFIXES))} files")
            for file in files:
                yield from _load(str(file), lambda f=file: file_content(f, limits), limits)
        else:
            yield from _load(str(path), lambda p=path: file_content(p, limits), limits)


def load_bytes(
    data: bytes, suffix: str, source: str, fallback_title: str, limits: Limits | None = None
) -> list[Loaded]:
    """What the content of a file of the given suffix holds (an upload, say), as ``load``
    gives it: the bad lines of a JSONL file are reported one by one and the good ones kept."""
    return _load(source, lambda: (data, suffix, fallback_title), limits or Limits())


def files_in(folder: Path) -> list[Path]:
    """The files of a folder (and its subfolders) that articlebot reads, in order."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and _wanted(p))


def _wanted(path: Path) -> bool:
    return path.suffix.lower() in SUFFIXES and not path.name.startswith(".")


def _load(source: str, get: Callable[[], Content], limits: Limits) -> list[Loaded]:
    try:
        data, suffix, fallback_title = get()
        articles, problems = _parse(data, suffix, source, fallback_title, limits)
    except ReadError as exc:
        return [Loaded(source, [], f"{source}: {exc}")]
    loads = [Loaded(source, articles)] if articles else []
    return loads + [Loaded(source, [], f"{source}: {problem}") for problem in problems]


def read_file(path: Path, limits: Limits | None = None) -> list[Article]:
    """Articles from one file, chosen by its suffix."""
    limits = limits or Limits()
    data, suffix, fallback_title = file_content(path, limits)
    return read_bytes(data, suffix, str(path), fallback_title, limits)


def read_url(url: str, limits: Limits | None = None) -> list[Article]:
    """The article at an http(s) URL: HTML pages, PDFs and plain text (see ``index.fetch``)."""
    limits = limits or Limits()
    data, suffix, fallback_title = _fetched(url, limits)
    return read_bytes(data, suffix, url, fallback_title, limits)


def read_bytes(
    data: bytes, suffix: str, source: str, fallback_title: str, limits: Limits | None = None
) -> list[Article]:
    """Articles from the content of a file of the given suffix; ReadError if any of it (any
    line of a JSONL file) cannot be read. ``load_bytes`` keeps the good lines instead."""
    articles, problems = _parse(data, suffix, source, fallback_title, limits or Limits())
    if problems:
        raise ReadError("; ".join(problems))
    return articles


def file_content(path: Path, limits: Limits) -> Content:
    """A file's bytes, suffix and fallback title; ReadError if it is missing, empty, too big
    or of a type articlebot does not read."""
    if not path.exists():
        raise ReadError("no such file")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ReadError(
            f"unsupported file type {suffix or '(none)'}; use {', '.join(sorted(SUFFIXES))}"
        )
    size = path.stat().st_size
    if size == 0:
        raise ReadError("the file is empty")
    if size > limits.max_bytes:
        raise ReadError(f"the file is {size:,} bytes; the limit is {limits.max_bytes:,}")
    return path.read_bytes(), suffix, path.stem


def _fetched(url: str, limits: Limits) -> Content:
    try:
        page = fetch(
            url,
            max_bytes=limits.max_bytes,
            timeout=limits.fetch_timeout,
            allow_private=limits.allow_private_urls,
        )
    except FetchError as exc:
        raise ReadError(str(exc)) from exc
    path_suffix = Path(urlparse(page.url).path).suffix.lower()
    if page.content_type == "application/pdf" or path_suffix == ".pdf":
        suffix = ".pdf"
    elif page.content_type in ("text/plain", "text/markdown"):
        suffix = ".txt"
    elif path_suffix == ".jsonl":
        suffix = ".jsonl"
    else:
        suffix = ".html"
    return page.data, suffix, Path(urlparse(url).path).stem or urlparse(url).netloc


def _parse(
    data: bytes, suffix: str, source: str, fallback_title: str, limits: Limits
) -> tuple[list[Article], list[str]]:
    """The articles in ``data`` and, for JSONL, a problem for each line that gave none."""
    if not data.strip():
        raise ReadError("the file is empty")
    if suffix == ".jsonl":
        return _jsonl_articles(_decode(data), source, limits)
    if suffix in TEXT_SUFFIXES:
        article = _text_article(_decode(data), source, fallback_title)
    elif suffix in HTML_SUFFIXES:
        article = _html_article(_decode(data), source, fallback_title)
    elif suffix == ".pdf":
        article = _pdf_article(data, source, fallback_title)
    else:
        raise ReadError(f"unsupported file type {suffix}")
    _check_text(article.text, limits)
    return [article], []


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise ReadError("this is a binary file, not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReadError(f"not UTF-8 text (bad byte at offset {exc.start})") from exc
    # Terminal escapes (ESC ... BEL) are text that clean_text tidies, not signs of a binary file.
    controls = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\n\r\t\f\x1b\x07")
    if controls > 0.01 * min(len(text), 8192):
        raise ReadError("this looks like a binary file, not text")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _check_text(text: str, limits: Limits) -> None:
    if not text.strip():
        raise ReadError("no article text found in it")
    if len(text) > limits.max_chars:
        raise ReadError(
            f"the text is {len(text):,} characters; the limit is {limits.max_chars:,} "
            "(ARTICLEBOT_MAX_ARTICLE_CHARS)"
        )


def _text_article(text: str, source: str, fallback_title: str) -> Article:
    text = clean_text(text).strip()  # before the title is taken from its first line
    first_line = next((line for line in text.split("\n") if line.strip()), "")
    title = re.sub(r"^#+\s*", "", first_line).strip()[:200] or fallback_title
    return _article(text, title, source)


def _html_article(html: str, source: str, fallback_title: str) -> Article:
    import trafilatura

    # Cleaned first: the HTML parser drops an escape character but keeps what follows it.
    extracted = trafilatura.bare_extraction(
        clean_text(html),
        url=source if is_url(source) else None,
        include_comments=False,
        with_metadata=True,
    )
    text = (getattr(extracted, "text", None) or "").strip() if extracted else ""
    if not any(_is_prose(line) for line in text.splitlines()):
        # What is left of a page of links (a menu, a footer: "Home | About"), not an article.
        raise ReadError("no article text found in this HTML page")
    title = getattr(extracted, "title", None) or fallback_title
    # The page's own statement of when it was published, not trafilatura's date, which
    # may be guessed from the address or the text.
    return _article(text, title, source, html_date(html))


def _is_prose(line: str) -> bool:
    """Whether a line of a page's text is a sentence or more (its words have letters)."""
    words = word_count(" ".join(w for w in line.split() if any(c.isalpha() for c in w)))
    return words >= PROSE_WORDS or (words >= 4 and _SENTENCE_END.search(line) is not None)


def _pdf_article(data: bytes, source: str, fallback_title: str) -> Article:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
        meta = reader.metadata
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ReadError(f"not a readable PDF ({exc})") from exc
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    if not text:
        raise ReadError("the PDF has no extractable text (a scan? run OCR first)")
    title = (meta.title if meta and meta.title else "") or fallback_title
    date = None
    if meta and meta.creation_date:
        date = meta.creation_date.date().isoformat()
    return _article(text, title, source, date)


def _jsonl_articles(content: str, source: str, limits: Limits) -> tuple[list[Article], list[str]]:
    articles, problems = [], []
    for number, line in enumerate(content.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            article = _jsonl_article(line, number, source)
            _check_text(article.text, limits)
        except ReadError as exc:
            problems.append(f"line {number}: {exc}")
            continue
        articles.append(article)
    if not articles and not problems:
        raise ReadError("no articles in this JSONL file")
    return articles, problems


def _jsonl_article(line: str, number: int, source: str) -> Article:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        where = "the end" if exc.pos >= len(line.rstrip()) else f"character {exc.pos + 1}"
        raise ReadError(f"not JSON ({exc.msg} at {where})") from exc
    if not isinstance(record, dict):
        raise ReadError(f'not a JSON object with a "text" string (a {type(record).__name__})')
    if not isinstance(record.get("text"), str):
        raise ReadError('no "text" string')
    key = record.get("id")
    title = str(record.get("title") or key or f"{source} line {number}")
    line_source = str(record.get("source") or f"{source}#{key if key is not None else number}")
    article = _article(record["text"], title, line_source, record.get("date"), record.get("lang"))
    if not article.text:
        raise ReadError('the "text" is empty')
    if key is not None:
        article.key = clean_line(str(key))
    return article


def _article(
    text: str, title: str, source: str, date: str | None = None, lang: str | None = None
) -> Article:
    """An Article with every field cleaned (index/cleaning.py): nothing from an input reaches
    the index with terminal escapes, bidi overrides or invisible characters."""
    from .language import detect_language

    text = clean_text(text).strip()
    given = clean_line(str(date)) if date else ""
    published = normalize_date(given)
    if given and not published:
        log.warning("%s: %r is not a date (YYYY-MM-DD or ISO 8601): it is left out", source, given)
    return Article(
        text=text,
        title=clean_line(title),
        source=clean_line(source),
        date=published,
        lang=(clean_line(str(lang)) if lang else "") or detect_language(text),
    )

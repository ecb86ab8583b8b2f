"""Turning files, folders and URLs into Articles: text, Markdown, HTML, PDF and JSONL."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import httpx

from .types import Article

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | {".pdf", ".jsonl"}

DEFAULT_MAX_CHARS = 1_000_000
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
USER_AGENT = "articlebot/0.1 (+https://github.com/articlebot)"


class ReadError(ValueError):
    """An input could not be turned into an article; the message says why, for a person."""


@dataclass
class Limits:
    """Bounds on what one input may hold."""

    max_chars: int = DEFAULT_MAX_CHARS
    max_bytes: int = DEFAULT_MAX_BYTES
    fetch_timeout: float = 20.0


@dataclass
class Loaded:
    """The outcome of reading one input: articles, or an error for that input."""

    source: str
    articles: list[Article]
    error: str | None = None


def is_url(target: str) -> bool:
    return urlparse(target).scheme in ("http", "https")


def load(targets: list[str], limits: Limits | None = None) -> Iterator[Loaded]:
    """Read each target (file, folder or http(s) URL); one bad input does not stop the rest."""
    limits = limits or Limits()
    for target in targets:
        if is_url(target):
            yield _guard(target, lambda t=target: read_url(t, limits))
            continue
        path = Path(target).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and _wanted(p))
            if not files:
                yield Loaded(str(path), [], f"{path}: no {', '.join(sorted(SUFFIXES))} files")
            for file in files:
                yield _guard(str(file), lambda f=file: read_file(f, limits))
        else:
            yield _guard(str(path), lambda p=path: read_file(p, limits))


def _wanted(path: Path) -> bool:
    return path.suffix.lower() in SUFFIXES and not path.name.startswith(".")


def _guard(source: str, read) -> Loaded:
    try:
        return Loaded(source, read())
    except ReadError as exc:
        return Loaded(source, [], f"{source}: {exc}")


def read_file(path: Path, limits: Limits | None = None) -> list[Article]:
    """Articles from one file, chosen by its suffix."""
    limits = limits or Limits()
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
    return read_bytes(path.read_bytes(), suffix, str(path), path.stem, limits)


def read_bytes(
    data: bytes, suffix: str, source: str, fallback_title: str, limits: Limits | None = None
) -> list[Article]:
    """Articles from the content of a file of the given suffix (used for uploads and URLs too)."""
    limits = limits or Limits()
    if not data.strip():
        raise ReadError("the file is empty")
    if suffix in TEXT_SUFFIXES:
        articles = [_text_article(_decode(data), source, fallback_title)]
    elif suffix in HTML_SUFFIXES:
        articles = [_html_article(_decode(data), source, fallback_title)]
    elif suffix == ".pdf":
        articles = [_pdf_article(data, source, fallback_title)]
    elif suffix == ".jsonl":
        articles = _jsonl_articles(_decode(data), source)
    else:
        raise ReadError(f"unsupported file type {suffix}")
    for article in articles:
        _check_text(article.text, limits)
    return articles


def read_url(url: str, limits: Limits | None = None) -> list[Article]:
    """The article at an http(s) URL: HTML pages, PDFs and plain text."""
    limits = limits or Limits()
    try:
        with (
            httpx.Client(
                follow_redirects=True,
                timeout=limits.fetch_timeout,
                headers={"User-Agent": USER_AGENT},
            ) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code >= 400:
                raise ReadError(f"the server answered HTTP {response.status_code}")
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limits.max_bytes:
                    raise ReadError(f"the page is over the {limits.max_bytes:,}-byte limit")
                chunks.append(chunk)
            content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    except httpx.HTTPError as exc:
        raise ReadError(f"could not fetch it ({type(exc).__name__}: {exc or 'no answer'})") from exc
    data = b"".join(chunks)
    path_suffix = Path(urlparse(url).path).suffix.lower()
    if content_type == "application/pdf" or path_suffix == ".pdf":
        suffix = ".pdf"
    elif content_type in ("text/plain", "text/markdown"):
        suffix = ".txt"
    elif path_suffix == ".jsonl":
        suffix = ".jsonl"
    else:
        suffix = ".html"
    fallback = Path(urlparse(url).path).stem or urlparse(url).netloc
    return read_bytes(data, suffix, url, fallback, limits)


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise ReadError("this is a binary file, not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReadError(f"not UTF-8 text (bad byte at offset {exc.start})") from exc
    controls = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\n\r\t\f")
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
    text = text.strip()
    first_line = next((line for line in text.split("\n") if line.strip()), "")
    title = re.sub(r"^#+\s*", "", first_line).strip()[:200] or fallback_title
    return _article(text, title, source)


def _html_article(html: str, source: str, fallback_title: str) -> Article:
    import trafilatura

    extracted = trafilatura.bare_extraction(
        html, url=source if is_url(source) else None, include_comments=False, with_metadata=True
    )
    text = (getattr(extracted, "text", None) or "").strip() if extracted else ""
    if not text:
        raise ReadError("no article text found in this HTML page")
    title = getattr(extracted, "title", None) or fallback_title
    date = getattr(extracted, "date", None)
    return _article(text, title, source, date)


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


def _jsonl_articles(content: str, source: str) -> list[Article]:
    articles = []
    for number, line in enumerate(content.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ReadError(f"line {number} is not JSON ({exc.msg})") from exc
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise ReadError(f'line {number} needs a "text" string')
        text = record["text"].strip()
        if not text:
            raise ReadError(f'line {number} has an empty "text"')
        title = str(record.get("title") or record.get("id") or f"{source} line {number}")
        line_source = str(record.get("source") or f"{source}#{record.get('id', number)}")
        article = _article(text, title, line_source, record.get("date"), record.get("lang"))
        if record.get("id") is not None:
            article.key = str(record["id"])
        articles.append(article)
    if not articles:
        raise ReadError("no articles in this JSONL file")
    return articles


def _article(
    text: str, title: str, source: str, date: str | None = None, lang: str | None = None
) -> Article:
    from .language import detect_language

    return Article(
        text=text,
        title=" ".join(title.split()),
        source=source,
        date=str(date) if date else None,
        lang=lang or detect_language(text),
    )

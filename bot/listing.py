"""The articles a listing shows (/articles in the REPL and Telegram), a page at a time.

A bot that keeps indexing has thousands of articles: listed whole, /articles would send a
Telegram chat hundreds of messages (and read every article's row: 4.6 s at 1M chunks). A
listing shows PAGE_SIZE articles, newest first, says how many there are, and "/articles N"
shows the N-th page; the store reads only the articles of the page's days
(``ArticleStore.newest``).
"""

from __future__ import annotations

from dataclasses import dataclass

from index.store import ArticleInfo, ArticleStore

PAGE_SIZE = 20  # a page is one Telegram message: 20 lines of about 100 characters


@dataclass
class Listing:
    """A page of the indexed articles, newest first."""

    articles: list[ArticleInfo]
    page: int  # 1 for the newest
    pages: int  # how many pages the articles make (0 if there is none)
    total: int  # how many articles are indexed
    # How many there were when the listing's first page was shown: the pages after it keep
    # to that listing while articles arrive (``listing``).
    counted: int = 0
    # Whether articles follow this page's (None: whenever it is not the last page).
    more: bool | None = None

    @property
    def next_page(self) -> int | None:
        """The page after this one, if there is one."""
        more = self.page < self.pages if self.more is None else self.more
        return self.page + 1 if more else None

    @property
    def past_end(self) -> bool:
        """Whether the page asked for is past the last (there are articles, none on it)."""
        return self.page > max(self.pages, 1)


def page_number(argument: str) -> int | None:
    """The page a user asked for ("" is the first; Arabic-Indic digits read too); None if it
    is not a page number."""
    argument = argument.strip()
    if not argument:
        return 1
    if not argument.isdecimal() or len(argument) > 9 or int(argument) < 1:
        return None
    return int(argument)


def listing(
    store: ArticleStore, page: int = 1, counted: int | None = None, after: str | None = None
) -> Listing:
    """The ``page``-th page of the articles; none on it when it is past the last.

    ``after``: the id of the last article of the page before (Telegram's button carries it):
    the page starts with the article that follows it now, wherever articles arrived or went
    since (a feed's entries of last week come in below the newest). If it is gone, or not
    given: ``counted``, how many articles there were when the first page was shown. Articles
    that arrived since are taken for newer than those shown, so the page starts as many
    places further down; fewer (removed since) move it up as many."""
    total = len(store)
    place = store.position(after) if after is not None else None
    if place is not None:
        start = place + 1
        on_page = store.newest(PAGE_SIZE, start) if start < total else []
        page = start // PAGE_SIZE + 1
        pages = max(page, -(-total // PAGE_SIZE))
        return Listing(on_page, page, pages, total, total, start + len(on_page) < total)
    counted = total if counted is None else counted
    pages = -(-counted // PAGE_SIZE)
    offset = max(0, (page - 1) * PAGE_SIZE + total - counted)
    on_page = store.newest(PAGE_SIZE, offset) if page <= pages else []
    return Listing(on_page, page, pages, total, counted)

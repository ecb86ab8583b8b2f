"""The `articlebot feeds` command: follow RSS and Atom feeds, and poll them (from cron).

A thin layer over index/feed_registry.py and index/feed_polling.py, registered by bot/cli.py.
"""

from __future__ import annotations

import argparse
import json
import sys

from index.feed_registry import FeedError, NoSuchFeed

from . import render
from .settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(required=True, metavar="ACTION")
    p = actions.add_parser("add", help=add.__doc__)
    p.add_argument("url")
    p.set_defaults(action=add)
    p = actions.add_parser("list", help=list_feeds.__doc__)
    p.add_argument("--json", action="store_true")
    p.set_defaults(action=list_feeds)
    p = actions.add_parser("remove", help=remove.__doc__)
    p.add_argument("id")
    p.set_defaults(action=remove)
    p = actions.add_parser("poll", help=poll.__doc__)
    p.add_argument("ids", nargs="*", metavar="ID", help="poll these feeds now, due or not")
    p.set_defaults(action=poll)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """follow RSS and Atom feeds; poll them (for cron)"""
    return args.action(args, settings)


def add(args: argparse.Namespace, settings: Settings) -> int:
    """follow a feed (its entries are indexed when polled)"""
    from index.feed_polling import follow
    from index.fetch import FetchError

    from .core import open_feeds, poll_limits

    try:
        feed, parsed = follow(open_feeds(settings), args.url, poll_limits(settings))
    except (FetchError, FeedError) as exc:
        print(f"articlebot: {args.url}: {exc}", file=sys.stderr)
        return 1
    entries = render.counted(len(parsed.entries), "entry", "entries")
    print(f"following {feed.id}  {feed.title}  ({feed.url}): {entries} now")
    print("`articlebot feeds poll` indexes them (run it from cron)")
    return 0


def list_feeds(args: argparse.Namespace, settings: Settings) -> int:
    """the followed feeds and how their polls went"""
    from dataclasses import asdict

    from .core import open_feeds, poll_limits

    feeds, interval = open_feeds(settings).feeds(), poll_limits(settings).interval
    if args.json:
        print(json.dumps([asdict(f) for f in feeds], ensure_ascii=False, indent=2, default=str))
        return 0
    for f in feeds:
        print(f"{f.id}  {f.title}  ({f.url})")
        taken = render.counted(f.entries, "entry", "entries")
        print(f"    {taken} taken; last read {_when(f.last_ok)}; ", end="")
        print(f"next poll {_when(f.next_poll(interval)) if f.last_polled else 'due now'}")
        if f.failures:
            print(f"    failed {render.counted(f.failures, 'time')} in a row: {f.last_error}")
    if not feeds:
        print("no feeds followed; `articlebot feeds add URL` follows one")
    return 0


def remove(args: argparse.Namespace, settings: Settings) -> int:
    """stop following a feed (an id, a unique id prefix or the URL)"""
    from .core import open_feeds

    try:
        feed = open_feeds(settings).remove(args.id)
    except NoSuchFeed as exc:
        print(f"articlebot: {exc}; `articlebot feeds list` shows them", file=sys.stderr)
        return 2
    print(f"stopped following {feed.id}  {feed.title}; its articles stay indexed")
    return 0


def poll(args: argparse.Namespace, settings: Settings) -> int:
    """index what is new in every due feed (for cron); status 1 if a feed failed"""
    from datetime import UTC, datetime

    from index.feed_polling import poll_due, poll_feeds

    from .core import indexer, open_feeds, open_store, poll_limits

    registry, limits, now = open_feeds(settings), poll_limits(settings), datetime.now(UTC)
    if not args.ids and not registry.due(now, limits.interval):
        print("no feed is due")  # and the embedding model need not load
        return 0
    from .render import progress_bar

    store, bar = open_store(settings), progress_bar("embedding")
    adder = indexer(settings, store)
    if args.ids:
        report = poll_feeds(adder, registry, args.ids, limits, now=now, progress=bar)
    else:
        report = poll_due(adder, registry, limits, now=now, progress=bar)
    for poll in report.polled:
        head = f"feed {poll.feed.id}  {poll.feed.title}:"
        if poll.error:
            retry = _when(poll.feed.next_poll(limits.interval))
            print(f"{head} failed: {poll.error}; next try {retry}")
            continue
        if poll.not_modified:
            print(f"{head} not modified")
            continue
        left = f", {poll.deferred} left for the next poll" if poll.deferred else ""
        print(f"{head} {len(poll.added)} added, {len(poll.skipped)} already indexed{left}")
        render.print_indexed(poll.added, errors=poll.errors, indent="  ")
        for note in poll.from_feed:
            print(f"  from the feed's own text (the page could not be read): {note}")
    for note in render.report_lines(report.stored):
        print(render.display(note, bidi=False))
    print(
        f"{render.counted(len(report.polled), 'feed')} polled: "
        f"{render.counted(len(report.added))} added, {render.counted(len(report.failed), 'feed')} "
        f"failed; {len(report.waiting)} not due yet"
    )
    return 1 if report.failed else 0


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


COMMAND = (add_arguments, run)

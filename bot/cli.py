"""The `articlebot` command: a thin layer that parses arguments and calls the library."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sqlite3
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from index.dates import DateWindow, parse_day
from index.embeddings import EmbeddingError
from index.feed_registry import FeedError
from index.store import StoreError

from . import prompts, render
from .redaction import hide_secrets
from .settings import Settings
from .startup import data_dir_problem
from .types import LLMUnavailable

# Subcommands register here: name -> (add_arguments, run). Keeps this module thin.
Command = tuple[
    Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace, Settings], int]
]


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser(argv if argv is not None else sys.argv[1:])
    except CommandUnavailable as exc:
        print(f"articlebot: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings: Settings | None = None
    try:
        settings = Settings(data_dir=args.data_dir) if args.data_dir else Settings()
        hide_secrets(settings)
        status = args.run(args, settings)
        sys.stdout.flush()  # a reader gone away shows here, where it is handled, not at exit
        return status
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        print(f"articlebot: bad setting: {problems}", file=sys.stderr)
        return 2
    except (StoreError, EmbeddingError, LLMUnavailable, FeedError) as exc:
        print(f"articlebot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `articlebot ask ... | head -1`: the reader has what it wanted. Stop quietly, with
        # stdout pointed at /dev/null so that Python's flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # as a program stopped by SIGPIPE
    except (OSError, sqlite3.Error) as exc:  # most often, a data directory that cannot be used
        logging.getLogger(__name__).debug("start-up failed", exc_info=True)
        data_dir = settings.data_dir if settings else Path(args.data_dir or "data")
        print(f"articlebot: {data_dir_problem(exc, data_dir)}", file=sys.stderr)
        return 2


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every command; given ``argv``, the front ends in their own modules are
    loaded only if ``argv`` may name one of them (``articlebot index list`` need not load
    Telegram), and all of them for help, a mistyped command or no ``argv``."""
    parser = argparse.ArgumentParser(
        prog="articlebot",
        description="Ask questions about a folder of news articles; answers quote their sources.",
    )
    parser.add_argument("--data-dir", help="where the index lives (ARTICLEBOT_DATA_DIR)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    index = sub.add_parser("index", help="add, list, remove articles; index stats")
    index_sub = index.add_subparsers(required=True, metavar="ACTION")
    p = index_sub.add_parser("add", help="index files, folders and http(s) URLs")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument(
        "--queue",
        action="store_true",
        help="queue them as jobs for `articlebot worker`s instead (PostgreSQL store)",
    )
    p.set_defaults(run=cmd_index_add)
    p = index_sub.add_parser("list", help="the indexed articles, newest first")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--limit",
        type=positive_int,
        metavar="N",
        help="the N newest only (read without reading the others: fast on a large index)",
    )
    p.set_defaults(run=cmd_index_list)
    p = index_sub.add_parser("remove", help="remove an article by id (or unique id prefix)")
    p.add_argument("id")
    p.set_defaults(run=cmd_index_remove)
    p = index_sub.add_parser(
        "prune", help="remove articles older than ARTICLEBOT_RETENTION_DAYS (for cron)"
    )
    p.add_argument("--days", type=positive_int, help="this many days instead of the setting")
    p.add_argument("--dry-run", action="store_true", help="list them; remove nothing")
    p.set_defaults(run=cmd_index_prune)
    p = index_sub.add_parser("stats", help="counts, languages, model and size")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_index_stats)
    p = index_sub.add_parser(
        "rebuild", help="re-chunk and re-embed every article with the configured model"
    )
    p.set_defaults(run=cmd_index_rebuild)
    p = index_sub.add_parser("check", help="check that the vector files and the database agree")
    p.set_defaults(run=cmd_index_check)
    p = index_sub.add_parser(
        "migrate", help="copy the index into another store (ARTICLEBOT_STORE), without re-embedding"
    )
    p.add_argument("--to", required=True, choices=["postgres", "faiss"])
    p.set_defaults(run=cmd_index_migrate)

    p = sub.add_parser("jobs", help="the ingestion jobs of the queue and how they went")
    p.add_argument("--status", choices=["queued", "running", "done", "failed"])
    p.add_argument("--limit", type=int, default=50, help="the latest N jobs (default 50)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_jobs)

    p = sub.add_parser("ask", help="answer one question")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="answer, citations, chunks, timings")
    p.add_argument(
        "--since", type=day, metavar="DATE", help="only articles dated DATE (YYYY-MM-DD) or later"
    )
    p.add_argument(
        "--until", type=day, metavar="DATE", help="only articles dated DATE (YYYY-MM-DD) or earlier"
    )
    p.set_defaults(run=cmd_ask)

    p = sub.add_parser("repl", help="ask questions interactively")
    p.set_defaults(run=cmd_repl)

    for name, (add_arguments, run) in extra_commands(_named_command(argv)).items():
        p = sub.add_parser(name, help=run.__doc__)
        add_arguments(p)
        p.set_defaults(run=run)
    return parser


def day(text: str) -> date:
    """A date argument (YYYY-MM-DD); argparse prints the error and the usage."""
    try:
        return parse_day(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_int(text: str) -> int:
    """A count argument, 1 or more; argparse prints the error and the usage."""
    if not text.strip().isdecimal() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, not {text!r}")
    return int(text)


class CommandUnavailable(RuntimeError):
    """A command's module failed to import: articlebot is installed incompletely."""


# Front ends that live in their own modules: command name -> module.
EXTRA_COMMANDS = {
    "telegram": "bot.telegram",
    "eval": "bot.evaluation",
    "feeds": "bot.feeds",
    "worker": "bot.worker",
}
BUILT_IN = {"index", "jobs", "ask", "repl"}


def _named_command(argv: list[str] | None) -> str | None:
    """The command ``argv`` names after the global options, or None if that is not clear."""
    if argv is None:
        return None
    rest = list(argv)
    while rest and (rest[0] in ("-v", "--verbose") or rest[0].startswith("--data-dir")):
        rest = rest[2:] if rest[0] == "--data-dir" else rest[1:]
    return rest[0] if rest else None


def extra_commands(named: str | None = None) -> dict[str, Command]:
    """The front ends that live in their own modules (Telegram, evaluation, feeds, worker):
    only ``named`` if it is one of them, none if it is a built-in command, else all.

    A module that fails to import is an error that names it, not a command that silently
    disappears from ``articlebot --help``.
    """
    if named in BUILT_IN:
        return {}
    modules = EXTRA_COMMANDS.items()
    if named in EXTRA_COMMANDS:
        modules = [(named, EXTRA_COMMANDS[named])]
    commands: dict[str, Command] = {}
    for name, module in modules:
        try:
            commands[name] = importlib.import_module(module).COMMAND
        except ImportError as exc:
            raise CommandUnavailable(
                f"the {name!r} command cannot load ({module}: {exc}); "
                "reinstall articlebot: pip install -e ."
            ) from exc
    return commands


# ---- index ----------------------------------------------------------------------------


def cmd_index_add(args: argparse.Namespace, settings: Settings) -> int:
    from index.ingest import ingest

    from .core import indexer, limits, open_store

    if args.queue:
        return queue_index_add(args.paths, settings)
    store = open_store(settings)
    report = ingest(
        indexer(settings, store), args.paths, limits(settings), render.progress_bar("embedding")
    )
    render.print_indexed(
        report.added, report.skipped, report.errors, notes=render.report_lines(report)
    )
    print(
        f"{len(report.added)} added ({render.counted(report.chunks, 'chunk')}), "
        f"{len(report.skipped)} already indexed, {len(report.errors)} failed; "
        f"{render.counted(len(store))} in {store_place(settings)}"
    )
    return 1 if report.errors else 0


def queue_index_add(targets: list[str], settings: Settings) -> int:
    """`index add --queue`: a job for each URL and file, for the workers to index."""
    from index.jobs import queue_targets

    from .core import limits, open_jobs

    queue = open_jobs(settings)
    jobs, errors = queue_targets(queue, targets, limits(settings))
    for job in jobs:
        print(f"queued job {job.id}: {job.name}")
    for error in errors:
        print(f"failed: {error}", file=sys.stderr)
    print(
        f"{len(jobs)} queued, {len(errors)} failed; `articlebot worker` indexes them, "
        "`articlebot jobs` shows how they went"
    )
    return 1 if errors else 0


def cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    from .core import open_jobs

    queue = open_jobs(settings)
    jobs = queue.jobs(args.limit, args.status)
    if args.json:
        print(json.dumps([job.to_dict() for job in jobs], ensure_ascii=False, indent=2))
        return 0
    counts = queue.counts()
    print(", ".join(f"{n} {status}" for status, n in counts.items()))
    for job in jobs:
        print(render.job_line(job))
    return 0


def cmd_index_list(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import asdict

    from index.store import newest_first

    from .core import is_sample, open_store

    # Not verified: the articles are listed from the database even when vector files are
    # damaged (index check says what is wrong, index rebuild mends it).
    store = open_store(settings, verify=False)
    articles = store.newest(args.limit) if args.limit else newest_first(store.articles())
    if args.json:
        listed = [asdict(a) | {"sample": is_sample(a.source)} for a in articles]
        print(json.dumps(listed, ensure_ascii=False, indent=2))
        return 0
    print_articles(articles, settings)
    if not articles:
        print("no articles indexed")
    return 0


def print_articles(articles: list, settings: Settings) -> None:
    """One line an article: id, day (published, else added), language, chunks, title, source,
    and what else there is to know of it (the sample, its other sources)."""
    from .core import is_sample
    from .render import article_notes, display, use_bidi, when

    bidi = use_bidi(settings.bidi)
    for a in articles:
        day = when(a.date, a.added_at, "en")
        line = f"{a.id}  {day:<16} [{a.lang}] {a.chunks:>4} chunks  {a.title}  ({a.source})"
        print(display(line + article_notes(a, is_sample(a.source)), bidi))


def cmd_index_prune(args: argparse.Namespace, settings: Settings) -> int:
    from index.retention import prune, too_old

    from .core import open_store

    days = args.days if args.days is not None else settings.retention_days
    if not days or days < 1:
        print(
            "articlebot: retention is off: set ARTICLEBOT_RETENTION_DAYS (or pass --days N) "
            "to remove the articles older than N days",
            file=sys.stderr,
        )
        return 2
    store = open_store(settings)
    old = too_old(store, days) if args.dry_run else prune(store, days)
    print_articles(old, settings)
    verb = "would remove" if args.dry_run else "removed"
    print(
        f"{verb} {render.counted(len(old))} older than {days} days; "
        f"{render.counted(len(store))} in the index"
    )
    return 0


def cmd_index_remove(args: argparse.Namespace, settings: Settings) -> int:
    from .core import indexer, open_store

    store = open_store(settings)
    removal = indexer(settings, store).remove(args.id)
    article = removal.removed
    print(f"removed {article.id}  {article.title}; {render.counted(len(store))} left")
    for line in render.removal_lines(removal):
        print(render.display(line, bidi=False))
    return 0


def cmd_index_stats(args: argparse.Namespace, settings: Settings) -> int:
    from .core import open_store

    stats = open_store(settings, verify=False).stats()  # (as ``index list``)
    if args.json:
        print(json.dumps(stats, ensure_ascii=False, indent=2))
    else:
        for key, value in stats.items():
            print(f"{key:>14}: {value}")
    return 0


def cmd_index_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    from .core import indexer, open_store

    # Not verified: a rebuild is how a store of another model or schema, or with damaged
    # vector files, is made whole again.
    store = open_store(settings, verify=False)
    count = indexer(settings, store).rebuild(render.progress_bar("re-embedding"))
    print(f"rebuilt {render.counted(count)} with {settings.embeddings}")
    return 0


def cmd_index_check(args: argparse.Namespace, settings: Settings) -> int:
    from .core import open_store

    store = open_store(settings, verify=False)
    problems = store.check()
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    if problems:
        print(
            f"articlebot: the index in {store_place(settings)} has {len(problems)} problem(s); "
            "articlebot index rebuild makes it again from its articles",
            file=sys.stderr,
        )
        return 1
    agree = (
        "vectors and rows agree"
        if settings.store == "postgres"
        else "vector files and database agree"
    )
    print(f"OK: {render.counted(len(store))}; {agree} ({store_place(settings)})")
    return 0


def cmd_index_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from index.store_migration import copy_store

    from .core import open_store, store_exists

    source = settings.model_copy(update={"store": "faiss" if args.to == "postgres" else "postgres"})
    target = settings.model_copy(update={"store": args.to})
    if not store_exists(source):
        raise StoreError(f"there is no {source.store} index to copy ({store_place(source)})")
    result = copy_store(
        open_store(source, seed=False),
        open_store(target, seed=False),
        render.progress_bar("reading"),
    )
    print(
        f"copied {render.counted(len(result.added))} ({render.counted(result.chunks, 'chunk')}) "
        f"into {store_place(target)}; {len(result.skipped)} were there already"
    )
    return 0


def store_place(settings: Settings) -> str:
    """Where the settings' store is, for messages (without a password)."""
    if settings.store == "postgres":
        from index.postgres_schema import redacted

        url = settings.postgres_url
        return "ARTICLEBOT_POSTGRES_URL " + (redacted(url.get_secret_value()) if url else "(unset)")
    return str(settings.data_dir)


# ---- questions ----------------------------------------------------------------------


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from .core import build_answerer, open_store
    from .render import answer_text, display, use_bidi

    try:
        window = DateWindow(args.since, args.until)
    except ValueError as exc:
        print(f"articlebot: --since and --until: {exc}", file=sys.stderr)
        return 2
    store = open_store(settings, seed=True, progress=render.seeding_progress)
    answerer = build_answerer(settings, store)
    answer = answerer.ask(args.question, window=window or None)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(display(answer_text(answer), use_bidi(settings.bidi)))
    return 2 if prompts.NOT_A_QUESTION in answer.notes else 0  # a question of no words


def cmd_repl(args: argparse.Namespace, settings: Settings) -> int:
    from .repl import run_repl

    return run_repl(settings)


if __name__ == "__main__":
    sys.exit(main())

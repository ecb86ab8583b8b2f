"""Searches in a date window, and retention's lookup of expired articles, on a built store.

    python bench/date_windows.py --dir STORE \\
        --questions ../shared/eval/xquad-ar-en-dev/questions.jsonl [--spread-days 365]

STORE is a FAISS data directory, e.g. one that bench/performance.py's build worker made
(``--worker build ... --dir STORE``). Its generated articles carry no date, so every one
falls on the day it was added; ``--spread-days N`` first dates them over the N days up to
``--today``, article after article in turn (by their row in SQLite, written directly:
a benchmark's set-up, not something the bot does). Then, as the bot opens the store
(bot.core.open_store), it searches the questions' vectors (SERVING_K chunks, after one
warm-up) in windows of the last 1, 7, 30 and 365 days before ``--today``, in a window that
holds no article, and in none, and times ``index.retention.too_old`` (what the bot runs
every hour with ARTICLEBOT_RETENTION_DAYS): with 30 days, and with as many days as expire
the oldest day's articles only (its steady state, once a first run removed the rest).
With ``--recall``, each window's recall@10 against an exact search of the window's chunk
vectors in the segment files (dead ones left out), as bench/performance.py's recall worker
measures it. Then the listing: a page of /articles (``store.newest``), the first and the
101st, against every article (``store.articles``, what ``index list`` reads). Prints one
JSON line.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Its OpenMP defaults come with it (index), before FAISS loads; the same figures' measures.
from bench.performance import (  # noqa: E402
    QUESTIONS,
    SERVING_K,
    exact_best,
    percentiles,
    share_as_near,
)


def spread_dates(directory: Path, days: int, today: date) -> None:
    """Date the store's articles over the ``days`` days up to ``today``, in turn. The days
    the store keeps of its chunk segments are dropped with the dates they came from: it
    reads them from the articles until its next change writes them again."""
    with sqlite3.connect(directory / "store.sqlite") as db:
        db.execute(
            "UPDATE articles SET date = date(?, '-' || (rowid % ?) || ' days')",
            (today.isoformat(), days),
        )
        if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'segment_days'").fetchone():
            db.execute("DELETE FROM segment_days")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--spread-days", type=int, default=0)
    parser.add_argument("--today", type=date.fromisoformat, default=date(2026, 12, 1))
    parser.add_argument("--recall", action="store_true", help="each window's recall@10 too")
    args = parser.parse_args(argv)
    if args.spread_days:
        spread_dates(args.dir, args.spread_days, args.today)

    import numpy as np

    from bot.core import open_store
    from bot.evaluation import load_questions
    from bot.settings import Settings
    from index.dates import DateWindow
    from index.embeddings import load_embeddings
    from index.retention import too_old

    store = open_store(Settings(_env_file=None, data_dir=args.dir, seed_sample=False))
    embeddings = load_embeddings()
    questions = [q.question for q in load_questions(args.questions)][: QUESTIONS + 1]
    vectors = [embeddings.encode_query(q) for q in questions]
    windows = {"none": None}
    for days in (1, 7, 30, 365):
        windows[f"last {days} days"] = DateWindow(since=args.today - timedelta(days=days - 1))
    windows["no article"] = DateWindow(until=date(1990, 1, 1))
    result: dict = {"articles": len(store)}
    for name, window in windows.items():
        store.search(vectors[0], SERVING_K, window)  # warm-up
        times, found = [], []
        for vector in vectors[1:]:
            started = time.perf_counter()
            hits = store.search(vector, SERVING_K, window)
            times.append((time.perf_counter() - started) * 1000)
            found.append(len(hits))
        p50, p95 = percentiles(times)
        result[name] = {"p50_ms": round(p50, 2), "p95_ms": round(p95, 2), "hits": min(found)}
        if args.recall and window is not None:
            found_scores = [
                [h.similarity for h in store.search(v, SERVING_K, window)] for v in vectors[1:]
            ]
            result[name]["recall_at_10"] = window_recall(
                args.dir, np.vstack(vectors[1:]), window, found_scores
            )
    # Retention: its first run (30 days: most of a year's articles expire), and the hourly
    # run after it (a retention that expires the oldest day's articles only).
    oldest = date.fromisoformat(min(a.date or a.added_at for a in store.articles())[:10])
    for name, days in (("first", 30), ("hourly", (args.today - oldest).days - 1)):
        started = time.perf_counter()
        expired = too_old(store, days, on=args.today)
        seconds = round(time.perf_counter() - started, 3)
        result[f"too_old, {name}"] = {"days": days, "s": seconds, "expired": len(expired)}
    pages = {"page 1": (20, 0), "page 101": (20, 2000)} if hasattr(store, "newest") else {}
    for name, (limit, offset) in pages.items():  # (code before pages had no newest)
        started = time.perf_counter()
        shown = store.newest(limit, offset)
        result[f"listing, {name}"] = {
            "s": round(time.perf_counter() - started, 3),
            "articles": len(shown),
        }
    started = time.perf_counter()
    every = store.articles()
    result["listing, every article"] = {
        "s": round(time.perf_counter() - started, 3),
        "articles": len(every),
    }
    print(json.dumps(result))
    return 0


def window_recall(directory: Path, queries, window, found: list[list[float]]) -> float | None:
    """The share of the hits found that are as near as the window's exact tenth nearest live
    chunk (ties count: the benchmark's articles repeat documents)."""
    import numpy as np

    from index.dates import day_sql

    with sqlite3.connect(directory / "store.sqlite") as db:
        rows = db.execute(
            "SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id "
            f"WHERE {day_sql('a')} BETWEEN ? AND ? ORDER BY c.id",
            window.bounds(),
        )
        inside = np.fromiter((r[0] for r in rows), dtype=np.int64)
    best = exact_best(directory, queries, inside)
    share = share_as_near(found, best, min(SERVING_K, len(inside)))
    return None if share is None else round(share, 4)


if __name__ == "__main__":
    sys.exit(main())

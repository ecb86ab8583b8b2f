"""The quotes' weights chosen on held-out folds of articles, every direction of a suite.

    OMP_NUM_THREADS=1 python bench/quote_cv.py --suite ../shared/eval --folds 5 \\
        --workdir /tmp/eval-work

For each point of a small grid of the two weights that order a chunk's sentences as quotes
(``quote_sentence_weight``: the sentence's own closeness against its chunk's rank;
``quote_terms_weight``: its latent-term overlap), every question of the suite is asked as
``articlebot eval --folds K`` asks it (refusals decided by models fitted on the other
folds). Then, for each fold, the point with the best first-citation rate on the other
folds (averaged over directions) is scored on that fold's questions. Prints, per
direction, the shipped weights' first citation, the held-out one, and each fold's choice.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from bot.confidence import FEATURES, Fit
from bot.evaluation import find_directions, held_out, measured, title_folds
from bot.metrics import metrics
from bot.settings import Settings

SENTENCE_WEIGHTS = (0.35, 0.5, 0.65)
TERMS_WEIGHTS = (0.2, 0.4, 0.6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suite", nargs="+", type=Path, required=True)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args()
    base = Settings(_env_file=None).model_copy(update={"seed_sample": False})
    directions = find_directions(args.suite)
    runs = {}
    for point in itertools.product(SENTENCE_WEIGHTS, TERMS_WEIGHTS):
        tuning = base.tuning.model_copy(
            update={"quote_sentence_weight": point[0], "quote_terms_weight": point[1]}
        )
        settings = base.model_copy(update={"tuning": tuning})
        records = [r for d in directions for r in measured(settings, d, args.workdir)]
        runs[point], _ = held_out(records, args.folds, settings.embeddings, Fit(FEATURES))
        print(f"asked with {point}", flush=True)
    some = next(iter(runs.values()))
    folds = title_folds((p["title"] for p in some), args.folds)
    names = [d.name for d in directions]

    every = set(range(args.folds))

    def first_citation(point, direction: str, kept: set[int] = every) -> tuple[float, int]:
        """The first-citation rate of ``point``'s predictions in ``direction`` on the folds
        ``kept``, and how many answerable questions it is over."""
        chosen = [
            p for p in runs[point] if p["direction"] == direction and folds[p["title"]] in kept
        ]
        return metrics(chosen)["first_citation_gold"], sum(p["answerable"] for p in chosen)

    def mean_over_directions(point, kept: set[int] = every) -> float:
        return sum(first_citation(point, d, kept)[0] for d in names) / len(names)

    held = {d: [0.0, 0] for d in names}
    for k in range(args.folds):
        others = every - {k}
        point = max(runs, key=lambda pt, others=others: mean_over_directions(pt, others))
        print(f"fold {k}: quote_sentence_weight, quote_terms_weight = {point}")
        for d in names:
            rate, n = first_citation(point, d, {k})
            held[d][0] += rate * n
            held[d][1] += n
    shipped = (base.tuning.quote_sentence_weight, base.tuning.quote_terms_weight)
    print("\n| direction | shipped weights | held-out |\n|---|---|---|")
    for d in names:
        print(f"| {d} | {first_citation(shipped, d)[0]:.3f} | {held[d][0] / held[d][1]:.3f} |")
    print(f"\nchosen on every question: {max(runs, key=mean_over_directions)}")


if __name__ == "__main__":
    main()

"""Near-topic questions and the refusal model, on held-out folds: what the bot does when a
question's article is in the store but the paragraph that answers it is not, and what
fitting the refusal model on such questions would cost the answerable ones.

    articlebot eval --suite ../shared/eval --folds 5 --near-topic --workdir /tmp/eval-work \\
        --out /tmp/eval-near-topic.jsonl
    python bench/near_topic_cv.py /tmp/eval-near-topic.jsonl --budgets 0.15,0.25,0.4

The predictions file holds every question's recorded measures. Three ways of deciding them,
each by a model fitted on the other folds of articles (by title, as ``--folds``):

- ``shipped``: the shipped protocol, near-topic questions decided and never fitted on;
- ``near-topic groups``: near-topic questions fitted on too, an answer counted right when its
  quotes hold a gold answer (another paragraph of the article held it), each direction's
  near-topic questions a group of their own for the cut-offs (so at most the budget of them
  are confident and wrong in training);
- ``near-topic labels``: the same labels, grouped with their direction's questions;
- ``near-topic groups, budget B`` (``--budgets``): as ``near-topic groups``, with the
  cut-offs keeping at most B of each group's wrong answers confident in training (the
  shipped budget is 0.07): the trade between hedged right answers and confident wrong ones.

Prints, a direction a line: the answerable questions' bands, the unanswerable (other
articles') confident and refused shares, and the near-topic questions' confident answers
that quote no gold answer (wrong), that quote one, unsure and refused. The two-language
store's rows are left out (their questions are the other rows' again). docs/eval.md,
"Near-topic questions".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.confidence import FEATURES, Fit, cross_validate  # noqa: E402
from bot.evaluation import TWO_LANGUAGES, title_folds  # noqa: E402
from bot.metrics import quote_has_answer  # noqa: E402
from index.embeddings import DEFAULT_EMBEDDINGS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("predictions", type=Path, help="articlebot eval --near-topic --out FILE")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--budgets",
        default="",
        help="also fit with the near-topic questions in groups of their own at each of these "
        "budgets of confident wrong answers (comma-separated, e.g. 0.15,0.25,0.4)",
    )
    args = parser.parse_args()
    lines = args.predictions.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    records = [r for r in records if not r["direction"].startswith(TWO_LANGUAGES)]
    near = np.array([bool(r.get("near_topic")) for r in records])
    if not near.any():
        sys.exit(f"{args.predictions}: no near-topic question (run the eval with --near-topic)")
    quoted = np.array([any(quote_has_answer(c, r) for c in r["citations"]) for r in records])
    directions = np.array([r["direction"] for r in records])
    fold_of = title_folds((r["title"] for r in records), args.folds)
    folds = np.array([fold_of[r["title"]] for r in records])
    answerable = np.array([bool(r["answerable"]) for r in records])
    right = answerable | (near & quoted)
    everything = np.ones(len(records), dtype=bool)
    own_groups = np.array(
        [d + (" near-topic" if n else "") for d, n in zip(directions, near, strict=True)]
    )
    ways = {
        "shipped": (answerable, directions, ~near, Fit(FEATURES)),
        "near-topic groups": (right, own_groups, everything, Fit(FEATURES)),
        "near-topic labels": (right, directions, everything, Fit(FEATURES)),
    }
    for budget in filter(None, args.budgets.split(",")):
        # (The budget applies to every group: the other articles' questions stay far under
        # it, as the rows show.)
        fit = Fit(FEATURES, confident_budget=float(budget))
        ways[f"near-topic groups, budget {float(budget):g}"] = (right, own_groups, everything, fit)
    evidence = [r["evidence"] for r in records]
    for name, (labels, groups, fitted, fit) in ways.items():
        _, bands, _ = cross_validate(
            evidence, labels, groups, folds, DEFAULT_EMBEDDINGS, fit, fitted
        )
        band = np.array(
            [b if r["citations"] else "refused" for b, r in zip(bands, records, strict=True)]
        )
        print(f"== {name}")
        for direction in sorted(set(directions)):
            mine = directions == direction
            measured = row(band, mine & answerable, mine & ~near & ~answerable, mine & near, quoted)
            print(f"{direction:30s} {measured}")


def row(band: np.ndarray, answerable, unanswerable, near, quoted) -> str:
    def share(where, value) -> float:
        return float((band[where] == value).mean()) if where.any() else float("nan")

    confident = band == "confident"
    wrong = float((confident & near & ~quoted).sum() / max(near.sum(), 1))
    gold = float((confident & near & quoted).sum() / max(near.sum(), 1))
    bands = "/".join(f"{share(answerable, b):.3f}" for b in ("confident", "unsure", "refused"))
    return (
        f"answerable conf/unsure/ref {bands} | unanswerable"
        f" conf {share(unanswerable, 'confident'):.3f} ref {share(unanswerable, 'refused'):.3f}"
        f" | near-topic conf. wrong {wrong:.3f}"
        f" conf. quoting gold {gold:.3f} unsure {share(near, 'unsure'):.3f}"
        f" ref {share(near, 'refused'):.3f}"
    )


if __name__ == "__main__":
    main()

"""The question map (bot/question_map.py): fitted on a suite's bilingual pairs, measured on
held-out folds of articles, and saved for the embedder.

    OMP_NUM_THREADS=1 python bench/question_map.py --suite ../shared/eval --folds 5 \\
        --workdir /tmp/eval-work [--save bot/question_maps.npz]

Pairs are the same text in an Arabic-script and a Latin-script version: questions with the
same id in two directions of the suite, and documents with the same id (each embedded in
the query role, the role of the sentences the map's vector is compared with). The map is a
ridge regression from the Arabic vectors to the Latin ones, shrunk toward no change; its
penalty is chosen, for each fold, on the other folds alone: the one whose map, fitted
without a fold's articles, best ranks that fold's Arabic questions' own paragraphs among the
Latin-script documents (mean reciprocal rank).

Then every direction of Arabic questions over Latin-script documents is asked as `articlebot
eval --folds K` asks it, twice: quotes chosen without the map, and with the map fitted
without the question's article. Refusals are the same in both (the map does not touch
retrieval); the first citation and the top three say what the map changes. With ``--save``
the map fitted on every pair (the penalty chosen on the folds) is written for the embedder.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

from bot import ranking_fit
from bot.confidence import FEATURES, Fit
from bot.core import build_answerer, load_embeddings
from bot.evaluation import (
    Direction,
    build_store,
    find_directions,
    held_out,
    index_dir,
    load_documents,
    load_questions,
    measured,
    title_folds,
)
from bot.metrics import metrics
from bot.question_map import QuestionMap, save_map
from bot.retrieval import ArticleRetriever
from bot.settings import Settings
from index.language import dominant_script

PENALTIES = (10.0, 30.0, 100.0, 300.0, 1000.0)
SOURCE, TARGET = "arabic", "latin"


def fit(source: np.ndarray, target: np.ndarray, penalty: float) -> np.ndarray:
    """The matrix W minimizing |source W - target|^2 + penalty |W - I|^2."""
    eye = np.eye(source.shape[1])
    gram = source.T @ source + penalty * eye
    return np.linalg.solve(gram, source.T @ target + penalty * eye)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class Pairs:
    """The suite's bilingual pairs, their vectors, and what the penalty is chosen by."""

    def __init__(self, directions: list[Direction], embeddings) -> None:
        questions: dict[str, dict[str, str]] = defaultdict(dict)
        docs: dict[str, dict[str, str]] = defaultdict(dict)
        self.title: dict[str, str] = {}
        question_doc: dict[str, str] = {}
        for d in directions:
            for a in load_documents(d.docs):
                docs[a.key][dominant_script(a.text)] = a.text
                self.title[a.key] = a.title
            for q in load_questions(d.questions, d.field):
                questions[q.id][dominant_script(q.question)] = q.question
                question_doc[q.id] = q.doc_id
        both = [(k, v) for k, v in questions.items() if SOURCE in v and TARGET in v]
        paired_docs = [(k, v) for k, v in docs.items() if SOURCE in v and TARGET in v]
        texts = [(v[SOURCE], v[TARGET], question_doc[k]) for k, v in both]
        texts += [(v[SOURCE], v[TARGET], k) for k, v in paired_docs]
        self.kind = np.array(["question"] * len(both) + ["document"] * len(paired_docs))
        self.doc = np.array([t[2] for t in texts])
        self.source = embeddings.encode_sentences([t[0] for t in texts])
        self.target = embeddings.encode_sentences([t[1] for t in texts])
        # The Latin-script documents as the index holds them (passage role), to rank.
        latin = sorted(k for k, v in docs.items() if TARGET in v)
        self.latin_keys = latin
        self.latin = embeddings.encode_passages([docs[k][TARGET] for k in latin])

    def titles(self) -> np.ndarray:
        return np.array([self.title[d] for d in self.doc])

    def reciprocal_ranks(self, matrix: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
        """For the questions among ``rows``: the reciprocal rank of each one's own document
        among the Latin-script documents, its vector moved by ``matrix`` (None: as it is)."""
        rows = rows & (self.kind == "question")
        vectors = self.source[rows] if matrix is None else unit(self.source[rows] @ matrix)
        scores = vectors @ self.latin.T
        gold = np.array([self.latin_keys.index(d) for d in self.doc[rows]])
        ahead = (scores > scores[np.arange(len(gold)), gold][:, None]).sum(1)
        return 1.0 / (1 + ahead)

    def choose(self, train: np.ndarray, fold: np.ndarray) -> float:
        """The penalty whose maps, fitted on ``train`` less one of its folds, rank that
        fold's questions' documents best, over every fold of ``train``."""
        inner = sorted(set(fold[train]))

        def score(penalty: float) -> float:
            ranks = []
            for k in inner:
                fit_on = train & (fold != k)
                matrix = fit(self.source[fit_on], self.target[fit_on], penalty)
                ranks.append(self.reciprocal_ranks(matrix, train & (fold == k)))
            return float(np.concatenate(ranks).mean())

        return max(PENALTIES, key=score)


def crossing(direction: Direction) -> bool:
    """Arabic questions over Latin-script documents: the quotes the map is for."""
    docs = load_documents(direction.docs)
    questions = load_questions(direction.questions, direction.field)
    return (
        dominant_script(" ".join(a.text[:200] for a in docs[:20])) == TARGET
        and dominant_script(" ".join(q.question for q in questions[:20])) == SOURCE
    )


def mixed_store(
    settings: Settings,
    direction: Direction,
    directions: list[Direction],
    workdir: Path,
    matrices: dict[int, np.ndarray],
    fold_of: dict[str, int],
    every_pair: np.ndarray,
) -> None:
    """The direction's documents in one store with the suite's documents in the questions'
    script (those not the same documents in translation: other keys), as a reader who
    follows news in both languages has them; the questions' articles ranked (the shipped
    weights, bot/ranking_fit.py) without the map and with the map fitted without their
    article. The other set's questions are asked too, with the map fitted on every pair
    (none of them is a pair)."""
    docs = load_documents(direction.docs)
    keys = {a.key for a in docs}
    others = [
        d
        for d in directions
        if d.field == "question" and d.name != direction.name and not crossing(d)
    ]
    own = [
        (d, load_documents(d.docs))
        for d in others
        if dominant_script(" ".join(a.text[:200] for a in load_documents(d.docs)[:20])) == SOURCE
    ]
    own = [(d, [a for a in found if a.key not in keys]) for d, found in own]
    own = [(d, found) for d, found in own if found]
    if not own:
        return
    distractors = [a for _, found in own for a in found]
    everything = distractors + docs
    store = build_store(settings, everything, index_dir(settings, everything, workdir) / "all")
    embeddings = load_embeddings(settings.embeddings)
    titles = {a.key: a.title for a in everything}
    stored = {a.id: a.key for a in store.articles()}
    theirs = {a.key for a in distractors}
    try:
        print(
            f"\n{direction.name} in one store with the {len(distractors)} documents of "
            + ", ".join(d.name for d, _ in own)
            + " (the shipped ranking weights):"
        )
        print("| questions | map | hit@1 | MRR | first article is of the other set |")
        print("|---|---|---|---|---|")
        asked_sets = [(direction, load_questions(direction.questions, direction.field))]
        asked_sets += [(d, load_questions(d.questions, d.field)) for d, _ in own]
        for d, questions in asked_sets:
            for name in ("none", "held-out" if d is direction else "every pair"):
                rows = []
                for k in range(len(matrices)) if d is direction else [None]:
                    if name == "none":
                        matrix = None
                    elif k is None:
                        matrix = every_pair
                    else:
                        matrix = matrices[k]
                    retriever = ArticleRetriever(
                        store=store,
                        embeddings=embeddings,
                        k=settings.top_k,
                        tuning=settings.tuning,
                        question_map=QuestionMap(matrix.astype(np.float32))
                        if matrix is not None
                        else None,
                    )
                    chosen = [
                        (q.question, q.doc_id, d.name)
                        for q in questions
                        if k is None or fold_of[titles[q.doc_id]] == k
                    ]
                    rows += ranking_fit.measure(retriever, chosen, stored)
                m = ranking_fit.arrays(rows, titles)
                hit, reciprocal = ranking_fit.ranks(m, settings.tuning)
                first = ranking_fit.order(m, settings.tuning)[:, 0]
                other = [
                    (stored[r["articles"][i]] in theirs) != (d is not direction)
                    for r, i in zip(rows, first, strict=True)
                ]
                print(
                    f"| {d.name} | {name} | {hit.mean():.3f} | {reciprocal.mean():.3f} | "
                    f"{np.mean(other):.3f} |",
                    flush=True,
                )
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suite", nargs="+", type=Path, required=True)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--save", type=Path, help="write the map fitted on every pair here")
    parser.add_argument("--out", type=Path, help="write both runs' predictions here (JSONL)")
    args = parser.parse_args()
    settings = Settings(_env_file=None).model_copy(update={"seed_sample": False})
    embeddings = load_embeddings(settings.embeddings)
    directions = find_directions(args.suite)
    pairs = Pairs(directions, embeddings)
    print(
        f"pairs: {(pairs.kind == 'question').sum()} questions, "
        f"{(pairs.kind == 'document').sum()} documents",
        flush=True,
    )

    # The map to ship: fitted on every pair, its penalty chosen on folds of every pair.
    pair_folds = title_folds(pairs.titles(), args.folds)
    every = np.ones(len(pairs.doc), dtype=bool)
    shipped_penalty = pairs.choose(every, np.array([pair_folds[t] for t in pairs.titles()]))
    every_pair = fit(pairs.source, pairs.target, shipped_penalty)

    for direction in filter(crossing, directions):
        questions = load_questions(direction.questions, direction.field)
        docs = {a.key: a.title for a in load_documents(direction.docs)}
        fold_of = title_folds((docs[q.doc_id] for q in questions), args.folds)
        fold = np.array([fold_of.get(t, -1) for t in pairs.titles()])
        matrices, penalties, moved, still = {}, [], [], []
        for k in range(args.folds):
            train = (fold != k) & (fold >= 0)
            penalty = pairs.choose(train, fold)
            matrices[k] = fit(pairs.source[train], pairs.target[train], penalty)
            penalties.append(penalty)
            moved.append(pairs.reciprocal_ranks(matrices[k], fold == k))
            still.append(pairs.reciprocal_ranks(None, fold == k))
        print(
            f"\n{direction.name}: the question's own document by its vector alone, MRR held "
            f"out {np.concatenate(still).mean():.3f} as it is, "
            f"{np.concatenate(moved).mean():.3f} moved; penalties per fold {penalties}"
        )
        runs = {}
        for name in ("without", "held-out map"):
            records = []
            for k in range(args.folds):
                matrix = matrices[k] if name != "without" else None
                asked = [q for q in questions if fold_of[docs[q.doc_id]] == k]
                path = args.workdir / f"question-map-{direction.name}-{k}.jsonl"
                path.write_text(
                    "".join(
                        json.dumps(
                            {"id": q.id, direction.field: q.question, "doc_id": q.doc_id}
                            | {"answers": q.golds}
                        )
                        + "\n"
                        for q in asked
                    ),
                    encoding="utf-8",
                )
                subset = replace(direction, name=direction.name, questions=path)

                def make(s, store, confidence=None, matrix=matrix):
                    answerer = build_answerer(s, store, confidence=confidence)
                    answerer.retriever.question_map = (
                        QuestionMap(matrix.astype(np.float32)) if matrix is not None else None
                    )
                    return answerer

                records += measured(settings, subset, args.workdir, make_answerer=make)
            runs[name], _ = held_out(records, args.folds, settings.embeddings, Fit(FEATURES))
            if args.out:
                with args.out.open("a", encoding="utf-8") as out:
                    for r in runs[name]:
                        out.write(json.dumps(r | {"run": name}, ensure_ascii=False) + "\n")
        print("| map | hit@1 | first citation | top three | refused answerable |")
        print("|---|---|---|---|---|")
        for name, records in runs.items():
            m = metrics(records)
            print(
                f"| {name} | {m['hit@1']:.3f} | {m['first_citation_gold']:.3f} | "
                f"{m['top3_citations_gold']:.3f} | {m['refused_answerable']:.3f} |"
            )
        mixed_store(settings, direction, directions, args.workdir, matrices, fold_of, every_pair)

    if args.save:
        save_map(settings.embeddings, every_pair, args.save)
        print(f"\nsaved the map fitted on every pair (penalty {shipped_penalty}) to {args.save}")


if __name__ == "__main__":
    main()

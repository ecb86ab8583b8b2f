"""The question maps (bot/question_map.py): fitted on a suite's bilingual pairs, measured on
held-out folds of articles, and saved for the embedder.

    OMP_NUM_THREADS=1 python bench/question_map.py --suite ../shared/eval --folds 5 \\
        --workdir /tmp/eval-work [--save bot/question_maps.npz]

Pairs are the same text in an Arabic-script and a Latin-script version: questions with the
same id in two directions of the suite, and documents with the same id (each embedded in
the query role, the role of the sentences a moved vector is compared with). Each map (Arabic
to Latin, Latin to Arabic) is a ridge regression from one script's vectors to the other's,
shrunk toward no change; its penalty is chosen, for each fold, on the other folds alone: the
one whose maps, fitted without a fold's articles, best rank that fold's questions' own
paragraphs among the documents in the other script (mean reciprocal rank). Its offset is
measured on the same pairs: the mean of a question's cosine with its paragraph in its own
script less its moved vector's with the paragraph in the other (as an index holds them,
passage role); nothing is chosen by a figure of the ranking.

Then, with maps fitted without the question's article:

- every direction whose questions and documents are in different scripts is asked as
  `articlebot eval --folds K` asks it, without maps and with them (first citation, top
  three, refusals decided on held-out folds);
- where the suite holds the same documents in both scripts, a store of half the articles
  in Arabic and half in English (as a reader who follows news in both has them) is asked
  every question in both languages: the article each ranks first (the shipped weights,
  bot/ranking_fit.py), without maps and with them.

With ``--save`` the maps fitted on every pair (penalties chosen on the folds) are written.
"""

from __future__ import annotations

import argparse
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
    write_questions,
)
from bot.metrics import metrics
from bot.question_map import QuestionMap, save_map
from bot.retrieval import ArticleRetriever
from bot.settings import Settings
from bot.two_languages import halves, scripts_of
from index.language import dominant_script

PENALTIES = (10.0, 30.0, 100.0, 300.0, 1000.0)
SCRIPTS = ("arabic", "latin")
ORIENTATIONS = (("arabic", "latin"), ("latin", "arabic"))


def fit(source: np.ndarray, target: np.ndarray, penalty: float) -> np.ndarray:
    """The matrix W minimizing |source W - target|^2 + penalty |W - I|^2."""
    eye = np.eye(source.shape[1])
    gram = source.T @ source + penalty * eye
    return np.linalg.solve(gram, source.T @ target + penalty * eye)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class Pairs:
    """The suite's bilingual pairs, their vectors, and what a penalty is chosen by."""

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
        paired = [(question_doc[k], v) for k, v in questions.items() if set(SCRIPTS) <= set(v)]
        paired_docs = [(k, v) for k, v in docs.items() if set(SCRIPTS) <= set(v)]
        self.kind = np.array(["question"] * len(paired) + ["document"] * len(paired_docs))
        self.doc = np.array([doc for doc, _ in paired + paired_docs])
        self.vectors = {
            s: embeddings.encode_sentences([v[s] for _, v in paired + paired_docs]) for s in SCRIPTS
        }
        # Each script's documents as an index holds them (passage role), to rank.
        self.keys = {s: sorted(k for k, v in docs.items() if s in v) for s in SCRIPTS}
        self.passages = {
            s: embeddings.encode_passages([docs[k][s] for k in self.keys[s]]) for s in SCRIPTS
        }

    def titles(self) -> np.ndarray:
        return np.array([self.title[d] for d in self.doc])

    def fit(self, source: str, target: str, rows: np.ndarray, penalty: float) -> np.ndarray:
        return fit(self.vectors[source][rows], self.vectors[target][rows], penalty)

    def reciprocal_ranks(
        self, source: str, target: str, matrix: np.ndarray | None, rows: np.ndarray
    ) -> np.ndarray:
        """For the questions among ``rows``, asked in ``source`` script: the reciprocal rank
        of each one's own document among the ``target``-script documents, its vector moved
        by ``matrix`` (None: as it is)."""
        rows = rows & (self.kind == "question")
        vectors = self.vectors[source][rows]
        if matrix is not None:
            vectors = unit(vectors @ matrix)
        scores = vectors @ self.passages[target].T
        gold = np.array([self.keys[target].index(d) for d in self.doc[rows]])
        ahead = (scores > scores[np.arange(len(gold)), gold][:, None]).sum(1)
        return 1.0 / (1 + ahead)

    def offset(self, source: str, target: str, matrix: np.ndarray, rows: np.ndarray) -> float:
        """How much closer the questions among ``rows`` are to their paragraph in their own
        script than, moved by ``matrix``, to the same paragraph in ``target`` script (the
        mean difference of the two cosines: the map's offset, bot/question_map.py)."""
        rows = rows & (self.kind == "question")
        vectors = self.vectors[source][rows]
        docs = self.doc[rows]

        def paragraphs(script: str) -> np.ndarray:
            return self.passages[script][[self.keys[script].index(d) for d in docs]]

        own = (vectors * paragraphs(source)).sum(1)
        moved = (unit(vectors @ matrix) * paragraphs(target)).sum(1)
        return float((own - moved).mean())

    def choose(self, source: str, target: str, train: np.ndarray, fold: np.ndarray) -> float:
        """The penalty whose maps, fitted on ``train`` less one of its folds, rank that
        fold's questions' documents best, over every fold of ``train``."""

        def score(penalty: float) -> float:
            ranks = []
            for k in sorted(set(fold[train])):
                matrix = self.fit(source, target, train & (fold != k), penalty)
                ranks.append(self.reciprocal_ranks(source, target, matrix, train & (fold == k)))
            return float(np.concatenate(ranks).mean())

        return max(PENALTIES, key=score)

    def maps(self, rows: np.ndarray, fold: np.ndarray) -> tuple[QuestionMap, ...]:
        """Both maps fitted on ``rows``, each penalty chosen on ``rows``' folds, and each
        offset measured on ``rows`` (printed)."""
        maps = []
        for s, t in ORIENTATIONS:
            penalty = self.choose(s, t, rows, fold)
            matrix = self.fit(s, t, rows, penalty).astype(np.float32)
            offset = self.offset(s, t, matrix, rows)
            print(
                f"  {s} -> {t}: penalty {penalty:g}, offset {offset:.4f} on {rows.sum()} pairs",
                flush=True,
            )
            maps.append(QuestionMap(matrix, s, t, offset))
        return tuple(maps)


def crossing_chain(
    settings: Settings,
    direction: Direction,
    workdir: Path,
    fold_maps: dict[int, tuple[QuestionMap, ...]],
    folds: int,
) -> None:
    """The direction asked as `articlebot eval --folds` asks it, without maps and with the
    maps fitted without each question's article."""
    questions = load_questions(direction.questions, direction.field)
    docs = {a.key: a.title for a in load_documents(direction.docs)}
    fold_of = title_folds((docs[q.doc_id] for q in questions), folds)
    print(f"\n{direction.name}, asked as `articlebot eval --folds {folds}` asks it:")
    print("| maps | hit@1 | first citation | top three | refused answerable |")
    print("|---|---|---|---|---|")
    for name in ("none", "held out"):
        records = []
        for k in range(folds):
            asked = [q for q in questions if fold_of[docs[q.doc_id]] == k]
            path = workdir / f"question-map-{direction.name}-{k}.jsonl"
            write_questions(path, asked, direction.field)
            maps = fold_maps[k] if name != "none" else ()

            def make(s, store, confidence=None, maps=maps):
                answerer = build_answerer(s, store, confidence=confidence)
                answerer.retriever.question_maps = maps
                return answerer

            subset = replace(direction, questions=path)
            records += measured(settings, subset, workdir, make_answerer=make)
        decided, _ = held_out(records, folds, settings.embeddings, Fit(FEATURES))
        m = metrics(decided)
        print(
            f"| {name} | {m['hit@1']:.3f} | {m['first_citation_gold']:.3f} | "
            f"{m['top3_citations_gold']:.3f} | {m['refused_answerable']:.3f} |",
            flush=True,
        )


def two_languages(
    settings: Settings,
    directions: list[Direction],
    workdir: Path,
    fold_maps: dict[int, tuple[QuestionMap, ...]],
    folds: int,
) -> None:
    """Half the articles in Arabic and half in English in one store; every question asked
    in both languages; the article each ranks first, without maps and with held-out ones."""
    docs, asked = halves(directions)
    if not docs:
        return
    script_of = {a.key: dominant_script(a.text[:300]) for a in docs}
    store = build_store(settings, docs, index_dir(settings, docs, workdir) / "all")
    embeddings = load_embeddings(settings.embeddings)
    titles = {a.key: a.title for a in docs}
    stored = {a.id: a.key for a in store.articles()}
    fold_of = title_folds(titles.values(), folds)
    print(
        f"\n{len(docs)} documents, those of half the articles in Arabic and of the other half "
        "in English, in one store; every question asked in both languages (the shipped "
        "ranking weights):"
    )
    print(
        "| question / its article | questions | maps | hit@1 | MRR "
        "| first article in the question's script |"
    )
    print("|---|---|---|---|---|---|")
    try:
        for question_script in SCRIPTS:
            questions = asked.get(question_script, [])
            for doc_script in SCRIPTS:
                group = [q for q in questions if script_of[q.doc_id] == doc_script]
                for name in ("none", "held out"):
                    rows = []
                    for k in range(folds):
                        retriever = ArticleRetriever(
                            store=store,
                            embeddings=embeddings,
                            k=settings.top_k,
                            tuning=settings.tuning,
                            question_maps=fold_maps[k] if name != "none" else (),
                        )
                        chosen = [
                            (q.question, q.doc_id, "")
                            for q in group
                            if fold_of[titles[q.doc_id]] == k
                        ]
                        rows += ranking_fit.measure(retriever, chosen, stored)
                    m = ranking_fit.arrays(rows, titles)
                    hit, reciprocal = ranking_fit.ranks(m, settings.tuning)
                    first = ranking_fit.order(m, settings.tuning)[:, 0]
                    own = [
                        script_of[stored[r["articles"][i]]] == question_script
                        for r, i in zip(rows, first, strict=True)
                    ]
                    print(
                        f"| {question_script} / {doc_script} | {len(group)} | {name} | "
                        f"{hit.mean():.3f} | {reciprocal.mean():.3f} | {np.mean(own):.3f} |",
                        flush=True,
                    )
    finally:
        store.close()


def _matrix(maps: tuple[QuestionMap, ...], source: str) -> np.ndarray:
    return next(m.matrix for m in maps if m.source == source)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suite", nargs="+", type=Path, required=True)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--save", type=Path, help="write the maps fitted on every pair here")
    args = parser.parse_args()
    settings = Settings(_env_file=None).model_copy(update={"seed_sample": False})
    directions = find_directions(args.suite)
    pairs = Pairs(directions, load_embeddings(settings.embeddings))
    print(
        f"pairs: {(pairs.kind == 'question').sum()} questions, "
        f"{(pairs.kind == 'document').sum()} documents",
        flush=True,
    )
    # Folds by title, as the eval's: the same titles give the same folds.
    fold_of = title_folds(pairs.titles(), args.folds)
    fold = np.array([fold_of[t] for t in pairs.titles()])
    every = np.ones(len(fold), dtype=bool)
    fold_maps = {k: pairs.maps(fold != k, fold) for k in range(args.folds)}
    for s, t in ORIENTATIONS:
        moved = [
            pairs.reciprocal_ranks(s, t, _matrix(fold_maps[k], s), fold == k)
            for k in range(args.folds)
        ]
        still = [pairs.reciprocal_ranks(s, t, None, fold == k) for k in range(args.folds)]
        print(
            f"{s} questions, their paragraph among the {t} documents by the vector alone: MRR "
            f"held out {np.concatenate(still).mean():.3f} as asked, "
            f"{np.concatenate(moved).mean():.3f} moved"
        )

    for direction in directions:
        question_script, doc_script = scripts_of(direction)
        if (question_script, doc_script) in ORIENTATIONS:
            crossing_chain(settings, direction, args.workdir, fold_maps, args.folds)
    two_languages(settings, directions, args.workdir, fold_maps, args.folds)

    if args.save:
        for qmap in pairs.maps(every, fold):
            save_map(settings.embeddings, qmap, args.save)
        print(f"\nsaved the maps fitted on every pair to {args.save}")


if __name__ == "__main__":
    main()

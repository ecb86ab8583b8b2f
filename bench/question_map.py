"""The question maps (bot/question_map.py): fitted on the suite's questions across scripts,
measured on held-out folds of articles, and saved for the embedder.

    OMP_NUM_THREADS=1 python bench/question_map.py --suite ../shared/eval --folds 5 \\
        --workdir /tmp/eval-work [--save bot/question_maps.npz] [--save-folds DIR]
        [--save-crossing bot/question_maps.npz]

Each map (Arabic to Latin, Latin to Arabic) is fitted on the direction of the suite whose
questions are in its source script and whose documents are in its target script
(xquad-en-ar-dev: Arabic questions over English paragraphs; xquad-ar-en-dev: English
questions over Arabic ones). It centres the question: takes away part of its component
along the mean direction of that direction's questions, which every question in their
language shares whatever it asks, and which meets each text of the other language with a
bias of its own (the map is I - s m m^T, m that mean direction). No answer is read for it:
the mean is of the questions alone. The strength s is chosen, for each fold, on the other
folds alone: the one under which each inner fold's questions best rank their own document
among the store's by the ranking's dense part (the chunk's similarity and its best
sentence's, the shipped sentence weight; mean reciprocal rank). The offset is measured on
the suite's questions asked in both scripts: the mean of a question's cosine with its
paragraph in its own script less its moved vector's inner product with the paragraph in
the other (passage role, as an index holds them); nothing is chosen by a figure of the
ranking.

Then, with maps fitted without the question's article:

- every direction whose questions and documents are in different scripts is asked as
  `articlebot eval --folds K` asks it, without maps and with them (first citation, top
  three, refusals decided on held-out folds);
- where the suite holds the same documents in both scripts, a store of half the articles
  in Arabic and half in English (as a reader who follows news in both has them) is asked
  every question in both languages: the article each ranks first (the shipped weights,
  bot/ranking_fit.py), without maps and with them.

First the crossing offset (bot/question_map.py) is measured on the same pairs, for each
direction and both together, as asked (no map); ``--save-crossing FILE`` writes it and
stops. With ``--save`` the maps fitted on every question (strengths chosen on the folds)
are written, and the crossing offset; with ``--save-folds DIR`` each fold's maps and the
articles' folds, for ``articlebot eval --maps-by-fold DIR``, whose table is then held out
in every direction.
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
    FOLDS_FILE,
    Direction,
    build_store,
    find_directions,
    fold_maps_file,
    held_out,
    index_dir,
    load_documents,
    load_questions,
    measured,
    title_folds,
    write_questions,
)
from bot.metrics import metrics
from bot.question_map import QuestionMap, save_crossing_offset, save_map
from bot.retrieval import ArticleRetriever
from bot.settings import Settings
from bot.two_languages import halves, scripts_of
from index.language import dominant_script

STRENGTHS = (0.25, 0.5, 0.75, 1.0)  # of the centring, chosen on folds
SCRIPTS = ("arabic", "latin")
ORIENTATIONS = (("arabic", "latin"), ("latin", "arabic"))


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class Crossing:
    """The questions of a direction whose questions and documents are in different scripts,
    and what a retriever compares them with: each chunk of the direction's store and its
    sentences (the vectors as the store holds them), and the document each chunk is of."""

    def __init__(self, settings: Settings, direction: Direction, workdir: Path, embeddings) -> None:
        self.source, self.target = scripts_of(direction)
        docs = load_documents(direction.docs)
        title = {a.key: a.title for a in docs}
        questions = load_questions(direction.questions, direction.field)
        store = build_store(settings, docs, index_dir(settings, docs, workdir) / "all")
        chunk_doc, chunks, sentences = [], [], []
        try:
            for article in store.articles():
                found, vectors = store.article_chunks(article.id)
                for vector, (_, own) in zip(vectors, store.sentences_of(found), strict=True):
                    chunk_doc.append(article.key)
                    chunks.append(vector)
                    sentences.append(own if len(own) else vector[None])
        finally:
            store.close()
        self.chunks = np.stack(chunks).astype(np.float32)
        # Sentences padded to the longest chunk's count; a pad never wins the max.
        width = max(len(s) for s in sentences)
        self.sentences = np.zeros((len(chunks), width, self.chunks.shape[1]), np.float32)
        self.padding = np.ones((len(chunks), width), dtype=bool)
        for i, own in enumerate(sentences):
            self.sentences[i, : len(own)] = own
            self.padding[i, : len(own)] = False
        self.chunk_doc = np.array(chunk_doc)
        self.title = np.array([title[q.doc_id] for q in questions])
        self.gold = self.chunk_doc[None, :] == np.array([q.doc_id for q in questions])[:, None]
        self.vectors = embeddings.encode_sentences([q.question for q in questions])
        self.sentence_weight = settings.tuning.sentence_weight

    def scores(self, vectors: np.ndarray) -> np.ndarray:
        """Each question's score with each chunk as the ranking's dense part has it: the
        chunk's similarity and its best sentence's, weighted."""
        sentences = np.einsum("qd,csd->qcs", vectors, self.sentences)
        best = np.where(self.padding[None], -np.inf, sentences).max(2)
        dense = vectors @ self.chunks.T
        return (1 - self.sentence_weight) * dense + self.sentence_weight * best

    def fit(self, rows: np.ndarray, strength: float) -> np.ndarray:
        """The matrix I - s m m^T: each question less ``strength`` s of its component along
        m, the mean direction of the questions among ``rows`` (what every question in their
        language shares, whatever it asks)."""
        mean = unit(self.vectors[rows].mean(0))
        return np.eye(len(mean), dtype=np.float32) - strength * np.outer(mean, mean)

    def reciprocal_ranks(self, matrix: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
        """For the questions among ``rows``, moved by ``matrix`` (None: as asked): the
        reciprocal rank of their own document among all the store's, each document by its
        best chunk."""
        vectors = self.vectors[rows] if matrix is None else self.vectors[rows] @ matrix
        scores = self.scores(vectors)
        own = np.where(self.gold[rows], scores, -np.inf).max(1)
        beaten = np.where(self.gold[rows], -np.inf, scores) > own[:, None]
        ahead = np.array([len(set(self.chunk_doc[b])) for b in beaten])
        return 1.0 / (1 + ahead)

    def choose(self, rows: np.ndarray) -> float:
        """The strength whose maps, fitted on ``rows`` less one fold of their titles, rank
        that fold's questions' documents best, over every fold of ``rows``."""
        inner = title_folds(self.title[rows], FOLDS)
        fold = np.array([inner.get(t, -1) for t in self.title])

        def score(strength: float) -> float:
            ranks = [
                self.reciprocal_ranks(self.fit(rows & (fold != k), strength), rows & (fold == k))
                for k in range(FOLDS)
            ]
            return float(np.concatenate(ranks).mean())

        return max(STRENGTHS, key=score)


class Pairs:
    """The suite's questions asked in both scripts, and the paragraph each is about in
    both (passage role, as an index holds them): what a map's offset is measured on."""

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
        paired = [
            (question_doc[k], v)
            for k, v in questions.items()
            if set(SCRIPTS) <= set(v) and set(SCRIPTS) <= set(docs[question_doc[k]])
        ]
        self.doc = np.array([doc for doc, _ in paired])
        self.vectors = {s: embeddings.encode_sentences([v[s] for _, v in paired]) for s in SCRIPTS}
        keys = sorted(set(self.doc))
        at = np.array([keys.index(d) for d in self.doc])
        self.paragraphs = {
            s: embeddings.encode_passages([docs[d][s] for d in keys])[at] for s in SCRIPTS
        }

    def titles(self) -> np.ndarray:
        return np.array([self.title[d] for d in self.doc])

    def offset(self, source: str, target: str, matrix: np.ndarray, rows: np.ndarray) -> float:
        """How much closer the questions among ``rows`` are to their paragraph in their own
        script than, moved by ``matrix``, to the same paragraph in ``target`` script (the
        mean difference of the two cosines: the map's offset, bot/question_map.py)."""
        own = (self.vectors[source][rows] * self.paragraphs[source][rows]).sum(1)
        moved = self.vectors[source][rows] @ matrix
        return float((own - (moved * self.paragraphs[target][rows]).sum(1)).mean())

    def crossing(self, rows: np.ndarray, orientations=ORIENTATIONS) -> float:
        """The crossing offset (bot/question_map.py) measured on the questions among
        ``rows`` in the ``orientations``' source scripts: ``offset`` with no map (the
        question as asked), over all of them (as many in each script: the mean of the
        orientations' offsets)."""
        as_asked = np.eye(self.vectors[orientations[0][0]].shape[1], dtype=np.float32)
        return float(np.mean([self.offset(s, t, as_asked, rows) for s, t in orientations]))


FOLDS = 5  # of the strength's choice, within the articles a map is fitted on


def fitted_maps(
    crossings: dict[tuple[str, str], Crossing],
    pairs: Pairs,
    held_out: int | None,
    fold_of: dict[str, int],
) -> tuple[QuestionMap, ...]:
    """Both maps fitted without the articles of fold ``held_out`` (None: on every article;
    ``fold_of`` maps titles to folds), each strength chosen on the articles it is fitted on;
    the offsets measured on the same articles (printed)."""
    maps = []
    for (s, t), crossing in crossings.items():
        rows = _outside(crossing.title, held_out, fold_of)
        strength = crossing.choose(rows)
        matrix = crossing.fit(rows, strength)
        offset = pairs.offset(s, t, matrix, _outside(pairs.titles(), held_out, fold_of))
        print(
            f"  {s} -> {t}: strength {strength:g}, offset {offset:.4f}, "
            f"fitted on {rows.sum()} questions",
            flush=True,
        )
        maps.append(QuestionMap(matrix, s, t, offset))
    return tuple(maps)


def _outside(titles: np.ndarray, held_out: int | None, fold_of: dict[str, int]) -> np.ndarray:
    """Which of ``titles`` lie outside fold ``held_out`` (every one for None)."""
    return np.array([held_out is None or fold_of[t] != held_out for t in titles])


def crossing_chain(
    settings: Settings,
    direction: Direction,
    workdir: Path,
    fold_maps: dict[int, tuple[QuestionMap, ...]],
    fold_of: dict[str, int],
) -> None:
    """The direction asked as `articlebot eval --folds` asks it, without maps and with the
    maps fitted without each question's article (``fold_maps`` by fold, ``fold_of`` each
    title's)."""
    questions = load_questions(direction.questions, direction.field)
    docs = {a.key: a.title for a in load_documents(direction.docs)}
    folds = len(fold_maps)
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
    fold_of: dict[str, int],
) -> None:
    """Half the articles in Arabic and half in English in one store; every question asked
    in both languages; the article each ranks first, without maps and with held-out ones
    (``fold_maps`` by fold, ``fold_of`` each title's)."""
    docs, asked = halves(directions)
    if not docs:
        return
    script_of = {a.key: dominant_script(a.text[:300]) for a in docs}
    store = build_store(settings, docs, index_dir(settings, docs, workdir) / "all")
    embeddings = load_embeddings(settings.embeddings)
    titles = {a.key: a.title for a in docs}
    stored = {a.id: a.key for a in store.articles()}
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
                    for k in fold_maps:
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
    parser.add_argument("--save", type=Path, help="write the maps fitted on every question here")
    parser.add_argument(
        "--save-folds",
        type=Path,
        metavar="DIR",
        help="write each fold's maps (fitted without its articles) and the articles' folds "
        "here, for articlebot eval --maps-by-fold DIR",
    )
    parser.add_argument(
        "--save-crossing",
        type=Path,
        metavar="FILE",
        help="write the crossing offset measured on every question pair into FILE, and stop",
    )
    args = parser.parse_args()
    settings = Settings(_env_file=None).model_copy(update={"seed_sample": False})
    directions = find_directions(args.suite)
    embeddings = load_embeddings(settings.embeddings)
    pairs = Pairs(directions, embeddings)
    print(f"offsets measured on {len(pairs.doc)} questions asked in both scripts", flush=True)
    every = np.ones(len(pairs.doc), bool)
    fold_of = title_folds(pairs.titles(), args.folds)
    for orientation in ORIENTATIONS:
        held = [
            pairs.crossing(_outside(pairs.titles(), k, fold_of), (orientation,))
            for k in range(args.folds)
        ]
        print(
            "crossing offset, {} questions over {} text as asked: {:.4f} (without each fold's "
            "articles {:.4f}-{:.4f})".format(
                *orientation, pairs.crossing(every, (orientation,)), min(held), max(held)
            ),
            flush=True,
        )
    offset = pairs.crossing(every)
    print(f"crossing offset, both: {offset:.4f}", flush=True)
    if args.save_crossing:
        save_crossing_offset(settings.embeddings, offset, args.save_crossing)
        print(f"saved the crossing offset to {args.save_crossing}")
        return
    crossings = {}
    for direction in directions:
        if scripts_of(direction) in ORIENTATIONS:
            crossing = Crossing(settings, direction, args.workdir, embeddings)
            crossings[(crossing.source, crossing.target)] = crossing
            print(
                f"{direction.name}: {len(crossing.title)} {crossing.source} questions over "
                f"{len(crossing.chunks)} {crossing.target} chunks",
                flush=True,
            )
    for crossing in crossings.values():
        # One partition of the titles serves every part: they must cover the same articles.
        if set(crossing.title) != set(pairs.titles()):
            raise SystemExit("the crossing directions and the pairs must cover the same articles")
    fold_maps = {k: fitted_maps(crossings, pairs, k, fold_of) for k in range(args.folds)}
    if args.save_folds:
        args.save_folds.mkdir(parents=True, exist_ok=True)
        for k, maps in fold_maps.items():
            (args.save_folds / fold_maps_file(k)).unlink(missing_ok=True)
            for qmap in maps:
                save_map(settings.embeddings, qmap, args.save_folds / fold_maps_file(k))
        (args.save_folds / FOLDS_FILE).write_text(
            json.dumps(fold_of, ensure_ascii=False, indent=0),
            encoding="utf-8",
        )
        print(f"saved each fold's maps to {args.save_folds}", flush=True)
    for (s, t), crossing in crossings.items():
        fold = np.array([fold_of[title] for title in crossing.title])
        ranks = {
            name: np.concatenate(
                [crossing.reciprocal_ranks(matrix(k), fold == k) for k in range(args.folds)]
            ).mean()
            for name, matrix in (
                ("as asked", lambda k: None),
                ("moved", lambda k, s=s: _matrix(fold_maps[k], s)),
            )
        }
        print(
            f"{s} questions, their document among the {t} ones by the ranking's dense part "
            f"(chunk and best sentence): MRR held out {ranks['as asked']:.3f} as asked, "
            f"{ranks['moved']:.3f} moved"
        )

    for direction in directions:
        if scripts_of(direction) in ORIENTATIONS:
            crossing_chain(settings, direction, args.workdir, fold_maps, fold_of)
    two_languages(settings, directions, args.workdir, fold_maps, fold_of)

    if args.save:
        for qmap in fitted_maps(crossings, pairs, None, fold_of):
            save_map(settings.embeddings, qmap, args.save)
        save_crossing_offset(settings.embeddings, offset, args.save)
        print(f"\nsaved the maps fitted on every question to {args.save}")


if __name__ == "__main__":
    main()

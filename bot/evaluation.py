"""`articlebot eval`: retrieval and answer quality on JSONL sets of articles and questions.

Documents are one JSON object a line (``id``, ``title``, ``text``, ``lang``); questions are
one a line (``id``, ``question``, ``doc_id``, ``answers`` and optionally ``answers_ar`` and
``question_ar``). Every question goes through the chain the bot uses (``build_answerer`` ->
``Answerer.ask``) over a throwaway index of the documents.

Unanswerable questions are made from the same files: index half of the articles (grouped by
title, so that sibling paragraphs do not give answers away) and ask the questions of the
other half. The bot should refuse those.

The chain runs with every measure of the refusal decision computed and every answer quoted
(``ConfidenceModel.measuring``); the decision is applied afterwards to what was recorded,
the same function the bot applies. That way one run serves any decision: the shipped model,
or, with ``--folds K``, models fitted on the other folds' articles (cross-validation by
title, pooled over every direction of a ``--suite``), so that the refusal figures are those
of articles the model never saw. With ``--workdir`` the indexes and the recorded measures
are kept and reused while the code and data stay the same.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import random
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

import index.chunking
import index.embeddings
import index.language
import index.store
from index.readers import Limits, read_file
from index.store import ArticleStore
from index.types import Article

from . import anchors, answering, confidence, gloss, prompts, question_map, ranking, retrieval
from .answering import Answerer, render_quotes
from .confidence import ConfidenceModel, Decision, Fit, cross_validate, fit_model, save_model
from .metrics import metrics, metrics_table, suite_table
from .settings import Settings
from .types import Citation

# (settings, store, confidence=...) -> the answer chain to evaluate; core.build_answerer.
AnswererFactory = Callable[..., Answerer]


# ---- data -------------------------------------------------------------------------------


# The directions of the store of two languages that a suite's parallel sets make
# (bot/two_languages.py) are named with this.
TWO_LANGUAGES = "two languages"


def _fitted_on(record: dict) -> bool:
    """Whether the refusal model is fitted on a recorded question: not the two-language
    store's (they are the other directions' again, over another store) nor a near-topic
    one (bot/near_topic.py): those are only decided."""
    return not record.get("direction", "").startswith(TWO_LANGUAGES) and not record.get(
        "near_topic"
    )


@dataclass
class Question:
    id: str
    question: str
    doc_id: str
    golds: list[str]  # answers and answers_ar together
    answerable: bool = True


@dataclass(frozen=True)
class Direction:
    """One language pair to measure: documents, questions, and which field to ask."""

    name: str
    docs: Path
    questions: Path
    field: str = "question"


def find_directions(paths: Iterable[Path]) -> list[Direction]:
    """The evaluation sets under ``paths``: each a folder holding docs.jsonl and
    questions.jsonl, or a folder of such folders. A set whose questions also carry
    ``question_ar`` is a second direction, asked in Arabic over the same documents."""
    folders: list[Path] = []
    for path in map(Path, paths):
        if (path / "questions.jsonl").exists():
            folders.append(path)
        elif path.is_dir():
            folders.extend(p for p in sorted(path.iterdir()) if (p / "questions.jsonl").exists())
        else:
            raise ValueError(f"{path}: not a folder")
    if not folders:
        raise ValueError("no evaluation set (a folder with docs.jsonl and questions.jsonl) found")
    directions = []
    for folder in folders:
        docs, questions = folder / "docs.jsonl", folder / "questions.jsonl"
        if not docs.exists():
            raise ValueError(f"{folder}: questions.jsonl without docs.jsonl")
        directions.append(Direction(folder.name, docs, questions))
        with questions.open(encoding="utf-8") as handle:
            first = json.loads(next((line for line in handle if line.strip()), "{}"))
        if "question_ar" in first:
            directions.append(
                Direction(f"{folder.name} question_ar", docs, questions, "question_ar")
            )
    return directions


def load_documents(path: Path) -> list[Article]:
    """The documents of a JSONL file, read by the same reader as `index add`."""
    big = Limits(max_chars=10_000_000, max_bytes=2 * 1024 * 1024 * 1024)
    articles = read_file(Path(path), big)
    missing = [a.title for a in articles if a.key is None]
    if missing:
        raise ValueError(f"{path}: every document needs an id ({len(missing)} have none)")
    return articles


def load_questions(path: Path, field: str = "question") -> list[Question]:
    """The questions of a JSONL file; ``field`` names the text to ask."""
    questions = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        record = json.loads(line)
        try:
            golds = [*record.get("answers", []), *record.get("answers_ar", [])]
            questions.append(
                Question(str(record["id"]), record[field], str(record["doc_id"]), golds)
            )
        except KeyError as exc:
            raise ValueError(f"{path} line {number}: missing {exc}") from exc
    return questions


def write_questions(path: Path, questions: Iterable[Question], field: str = "question") -> None:
    """``questions`` as a JSONL file ``load_questions`` reads back the same (``field``: the
    name of the text to ask; the gold answers all under ``answers``)."""
    lines = (
        json.dumps(
            {"id": q.id, field: q.question, "doc_id": q.doc_id, "answers": q.golds},
            ensure_ascii=False,
        )
        for q in questions
    )
    Path(path).write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def sample(questions: list[Question], n: int | None) -> list[Question]:
    """About ``n`` questions spread evenly over the file (all of them when n is None)."""
    if not n or n >= len(questions):
        return questions
    step = len(questions) / n
    return [questions[int(i * step)] for i in range(n)]


def split_halves(docs: list[Article]) -> tuple[list[Article], list[Article]]:
    """Two halves of the documents, whole articles (same title) on one side, alternating."""
    titles = sorted({d.title for d in docs})
    if len(titles) < 2:  # one title for everything: split the documents themselves
        return docs[::2], docs[1::2]
    first = set(titles[::2])
    return [d for d in docs if d.title in first], [d for d in docs if d.title not in first]


def title_folds(titles: Iterable[str], k: int, seed: int = 13) -> dict[str, int]:
    """Each title's fold, 0..k-1: titles shuffled with a fixed seed, then dealt in turn.

    Shuffled rather than dealt in sorted order, which would line the folds up with
    ``split_halves`` (an even k would leave some folds without unanswerable questions).
    """
    order = sorted(set(titles))
    random.Random(seed).shuffle(order)
    return {title: i % k for i, title in enumerate(order)}


# ---- running ----------------------------------------------------------------------------


def build_store(settings: Settings, docs: list[Article], data_dir: Path) -> ArticleStore:
    """A fresh store in ``data_dir`` holding ``docs`` and nothing else."""
    from .core import indexer, open_store

    # Every document is indexed, however like another: the questions name their documents.
    settings = settings.model_copy(update={"data_dir": data_dir, "near_duplicate_threshold": None})
    store = open_store(settings, seed=False)
    indexer(settings, store).add(docs)  # documents already there (a reused workdir) are skipped
    return store


def ask_all(answerer: Answerer, store: ArticleStore, questions: list[Question]) -> list[dict]:
    """One prediction record per question, asked through ``answerer``."""
    keys = {a.id: a.key for a in store.articles()}
    predictions = []
    for q in questions:
        started = time.perf_counter()
        answer = answerer.ask(q.question)
        latency = (time.perf_counter() - started) * 1000
        predictions.append(
            {
                "id": q.id,
                "question": q.question,
                "doc_id": q.doc_id,
                "answerable": q.answerable,
                "lang": answer.lang,
                "retrieved": [
                    {
                        "doc_id": keys.get(h.chunk.article_id),
                        "chunk_id": h.chunk.id,
                        "score": round(h.score, 4),
                    }
                    for h in answer.hits
                ],
                "answer": answer.text,
                "citations": [
                    {**asdict(c), "doc_id": keys.get(c.article_id)} for c in answer.citations
                ],
                "cited_titles": sorted({c.title for c in answer.citations}),
                "refused": answer.refused,
                "confidence": answer.confidence,
                "evidence": answer.evidence,
                "latency_ms": round(latency, 1),
                "golds": q.golds,
            }
        )
    return predictions


def decide(predictions: list[dict], decision: Decision) -> list[dict]:
    """The predictions as ``decision`` answers them: its band for each, from the recorded
    measures, and the answer text that goes with it (the citations stay recorded)."""
    decided = []
    for p in predictions:
        evidence = p["evidence"]
        probability = decision.probability(evidence) if evidence else 0.0
        band = decision.band(probability) if p["citations"] else "refused"
        decided.append(_with_band(p, band, probability))
    return decided


def _with_band(prediction: dict, band: str, probability: float) -> dict:
    citations = [
        Citation(**{k: v for k, v in c.items() if k != "doc_id"}) for c in prediction["citations"]
    ]
    lang = prediction.get("lang", "en")
    text = (
        prompts.text("cannot_answer", lang)
        if band == "refused"
        else render_quotes(citations, lang, band)
    )
    return {
        **prediction,
        "answer": text,
        "refused": band == "refused",
        "confidence": band,
        "probability": round(probability, 4),
    }


def measure_questions(
    settings: Settings,
    docs: list[Article],
    questions: list[Question],
    base: Path,
    *,
    unanswerable: bool = True,
    make_answerer: AnswererFactory | None = None,
) -> list[dict]:
    """Every question asked over all of ``docs``, and, for refusals, the questions of half
    of the articles asked over an index of the other half; each with the measures of the
    refusal decision and the quotes it would give (nothing refused yet: see ``decide``).

    Indexes go in ``base``, by documents and layout, and are reused when there.
    """
    settings = settings.model_copy(update={"seed_sample": False})
    base = index_dir(settings, docs, base)

    def ask(subset: list[Article], asked: list[Question], data_dir: Path) -> list[dict]:
        return ask_over(settings, docs, subset, asked, data_dir, make_answerer)

    if not unanswerable:
        return ask(docs, questions, base / "all")
    # Index half of the articles and ask the other half's questions; then add the rest to a
    # copy of that index (embedding each document once) and ask every question.
    indexed, held_out = split_halves(docs)
    held_keys = {d.key for d in held_out}
    asked = [
        Question(q.id, q.question, q.doc_id, q.golds, answerable=False)
        for q in questions
        if q.doc_id in held_keys
    ]
    refusals = ask(indexed, asked, base / "half")
    if not (base / "all").exists():
        shutil.copytree(base / "half", base / "all")
    return ask(docs, questions, base / "all") + refusals


def ask_over(
    settings: Settings,
    docs: list[Article],
    subset: list[Article],
    asked: list[Question],
    data_dir: Path,
    make_answerer: AnswererFactory | None = None,
) -> list[dict]:
    """``asked`` over an index of ``subset`` of ``docs`` in ``data_dir`` (kept there), each
    with the measures of the refusal decision and the title of its document."""
    from .core import build_answerer, confidence_model

    measuring = confidence_model(settings, settings.embeddings).measuring()
    titles = {d.key: d.title for d in docs}
    store = build_store(settings, subset, data_dir)
    try:
        answerer = (make_answerer or build_answerer)(settings, store, confidence=measuring)
        records = ask_all(answerer, store, asked)
    finally:
        store.close()
    return [{**r, "title": titles.get(r["doc_id"], r["doc_id"])} for r in records]


def index_dir(settings: Settings, docs: list[Article], base: Path) -> Path:
    """Where the indexes of ``docs`` go in ``base``: by the documents and the layout."""
    layout = f"{settings.embeddings}-{settings.chunk_size}-{settings.chunk_overlap}"
    return Path(base) / _slug(f"{_digest(docs)[:12]}-{layout}")


def measured(
    settings: Settings,
    direction: Direction,
    base: Path,
    *,
    sample_size: int | None = None,
    unanswerable: bool = True,
    make_answerer: AnswererFactory | None = None,
) -> list[dict]:
    """``measure_questions`` for a direction, cached in ``base`` beside the indexes: kept
    while the data, the settings and the code that measures stay the same."""
    docs = load_documents(direction.docs)
    questions = sample(load_questions(direction.questions, direction.field), sample_size)
    cache = records_file(
        base, direction.name, settings, docs, questions, unanswerable, make_answerer is None
    )

    def measure() -> list[dict]:
        records = measure_questions(
            settings, docs, questions, base, unanswerable=unanswerable, make_answerer=make_answerer
        )
        return [{**r, "direction": direction.name} for r in records]

    # Another chain's records are not this one's to reuse.
    return cached(cache, measure) if make_answerer is None else measure()


def records_file(
    base: Path,
    name: str,
    settings: Settings,
    docs: list[Article],
    questions: list[Question],
    *kind: object,
) -> Path:
    """Where the records of ``questions`` asked over ``docs`` are kept in ``base``: named for
    ``name`` (a direction), keyed by the data, the settings and the code that measure them,
    and ``kind`` (how they were asked)."""
    key = hashlib.sha256(
        json.dumps(
            [
                _digest(docs),
                [asdict(q) for q in questions],
                settings.model_dump(mode="json", include=_MEASURED_SETTINGS),
                *kind,
                _code_version(),
                _maps_digest(settings),
            ]
        ).encode()
    ).hexdigest()[:16]
    return Path(base) / f"{_slug(name)}-{key}.jsonl"


def cached(cache: Path, measure: Callable[[], list[dict]]) -> list[dict]:
    """The records kept in ``cache``, or, when it is not there, ``measure()``'s, kept there
    (written whole or not at all)."""
    if cache.exists():
        lines = cache.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]
    records = measure()
    partial = cache.with_suffix(".partial")
    partial.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    partial.replace(cache)
    return records


# The settings that change what the chain measures (the data dir does not).
_MEASURED_SETTINGS = {
    "embeddings",
    "chunk_size",
    "chunk_overlap",
    "top_k",
    "max_quotes",
    "max_question_chars",
    "tuning",
    "llm_backend",
}


def _maps_digest(settings: Settings) -> str | None:
    """The question maps file the settings name (the shipped one is in ``_code_version``)."""
    path = settings.question_maps
    return hashlib.sha256(path.read_bytes()).hexdigest() if path else None


def measured_by_fold(
    settings: Settings,
    direction: Direction,
    base: Path,
    maps: Path,
    *,
    sample_size: int | None = None,
    unanswerable: bool = True,
) -> list[dict]:
    """``measured``, each question asked with the question maps fitted without its article:
    those of its fold in ``maps`` (``python bench/question_map.py --save-folds DIR``), or,
    where no fold holds its article, the shipped ones, which were not fitted on it either."""
    titles = {a.key: a.title for a in load_documents(direction.docs)}
    questions = sample(load_questions(direction.questions, direction.field), sample_size)
    records = []
    for number, (path, asked) in enumerate(maps_by_fold(maps, questions, titles).items()):
        subset = base / f"{_slug(direction.name)}-maps-{number}.jsonl"
        write_questions(subset, asked, direction.field)
        records += measured(
            settings.model_copy(update={"question_maps": path}),
            replace(direction, questions=subset),
            base,
            unanswerable=unanswerable,
        )
    return records


# The files of ``python bench/question_map.py --save-folds DIR``: each article's fold (by
# title), and each fold's maps, fitted without its articles.
FOLDS_FILE = "folds.json"


def fold_maps_file(fold: int) -> str:
    return f"fold-{fold}.npz"


def maps_by_fold(
    maps: Path | None, questions: list[Question], titles: dict[str, str]
) -> dict[Path | None, list[Question]]:
    """``questions`` by the maps file each is asked with: that of its article's fold in
    ``maps`` (``titles`` maps article keys to titles), or None, the shipped maps, where no
    fold holds its article or no ``maps`` is given."""
    fold_of = json.loads((maps / FOLDS_FILE).read_text(encoding="utf-8")) if maps else {}
    groups: dict[Path | None, list[Question]] = {}
    for q in questions:
        fold = fold_of.get(titles.get(q.doc_id, ""))
        groups.setdefault(None if fold is None else maps / fold_maps_file(fold), []).append(q)
    return groups


def _digest(docs: list[Article]) -> str:
    payload = json.dumps([[d.key, d.title, d.text] for d in docs], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _code_version() -> str:
    """A hash of the code behind the recorded measures: retrieval, answers, chunking."""
    modules = (
        answering,
        retrieval,
        question_map,
        ranking,
        anchors,
        gloss,
        index.chunking,
        index.embeddings,
        index.language,
        index.store,
    )
    sources = [inspect.getsource(m) for m in modules]
    sources += [inspect.getsource(confidence.measure), repr(confidence.MEASURES)]
    # The shipped question maps move the quotes' and the ranking's sentence vectors.
    if question_map.SHIPPED.exists():
        sources.append(hashlib.sha256(question_map.SHIPPED.read_bytes()).hexdigest())
    return hashlib.sha256("".join(sources).encode("utf-8")).hexdigest()


def _slug(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name)


# ---- the protocol -----------------------------------------------------------------------


@dataclass
class EvalRun:
    predictions: list[dict]
    metrics: dict[str, float] = field(default_factory=dict)


def evaluate(
    settings: Settings,
    docs: list[Article],
    questions: list[Question],
    *,
    unanswerable: bool = True,
    make_answerer: AnswererFactory | None = None,
    workdir: Path | None = None,
    decision: Decision | None = None,
) -> EvalRun:
    """Index ``docs``, ask every question (and, optionally, the other half's questions over
    half of the articles) and measure, with ``decision`` deciding refusals (by default the
    model the settings name, the bot's own).

    With ``workdir``, the indexes are kept there and reused by later calls with the same
    embedder and chunking (the ablation compares answer chains over one index).
    """
    from .core import confidence_model

    decision = decision or confidence_model(settings, settings.embeddings)
    with tempfile.TemporaryDirectory(prefix="articlebot-eval-") as tmp:
        records = measure_questions(
            settings,
            docs,
            questions,
            Path(workdir) if workdir else Path(tmp),
            unanswerable=unanswerable,
            make_answerer=make_answerer,
        )
    predictions = decide(records, decision)
    return EvalRun(predictions, metrics(predictions))


def held_out(
    records: list[dict], folds: int, embeddings: str, how: Fit
) -> tuple[list[dict], list[ConfidenceModel]]:
    """The records as decided by models fitted without their article: ``folds`` folds by
    title, pooled over every direction in ``records`` but the two-language store's (its
    questions are the other directions' again) and the near-topic questions (``_fitted_on``:
    they are decided, not fitted on); and the model of each fold."""
    fold_of = title_folds((r["title"] for r in records), folds)
    evidence = [r["evidence"] for r in records]
    answerable = np.array([r["answerable"] for r in records])
    groups = np.array([r.get("direction", "") for r in records])
    fold = np.array([fold_of[r["title"]] for r in records])
    fitted = np.array([_fitted_on(r) for r in records])
    probability, bands, models = cross_validate(
        evidence, answerable, groups, fold, embeddings, how, fitted
    )
    decided = [
        _with_band(r, band if r["citations"] else "refused", p)
        for r, p, band in zip(records, probability, bands, strict=True)
    ]
    return decided, models


# ---- the command ------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--docs", type=Path, help="documents, JSONL (with --questions)")
    parser.add_argument("--questions", type=Path, help="questions, JSONL (with --docs)")
    parser.add_argument(
        "--suite",
        nargs="+",
        type=Path,
        metavar="DIR",
        help="every evaluation set in these folders (docs.jsonl + questions.jsonl each), "
        "one row a direction",
    )
    parser.add_argument(
        "--folds",
        type=int,
        metavar="K",
        help="decide refusals with models fitted on the other K-1 folds of articles (by "
        "title, pooled over the directions): held-out figures",
    )
    parser.add_argument(
        "--fit",
        type=Path,
        metavar="FILE",
        help="fit the refusal model on every question and write it to FILE "
        "(bot/confidence.json ships with articlebot)",
    )
    parser.add_argument(
        "--maps-by-fold",
        type=Path,
        metavar="DIR",
        help="ask each question with the question maps fitted without its article (written "
        "by python bench/question_map.py --save-folds DIR): held-out figures for the "
        "directions across scripts",
    )
    parser.add_argument("--workdir", type=Path, help="keep indexes and measures here, reuse them")
    parser.add_argument("--out", type=Path, help="write one prediction a line here (JSONL)")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    parser.add_argument("--sample", type=int, help="ask only about N questions, evenly spread")
    parser.add_argument(
        "--near-topic",
        action="store_true",
        help="also ask each question over its article with its own paragraph withheld "
        "(bot/near_topic.py): the bot should refuse or say it is not sure",
    )
    parser.add_argument(
        "--no-unanswerable",
        dest="unanswerable",
        action="store_false",
        help="skip the half-index run that measures refusals",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """measure retrieval and answers on JSONL sets of articles and questions"""
    problem = _check_arguments(args)
    if problem:
        print(f"articlebot eval: {problem}", file=sys.stderr)
        return 2
    try:
        if args.suite:
            directions = find_directions(args.suite)
        else:
            missing = [str(p) for p in (args.docs, args.questions) if not p.is_file()]
            if missing:
                raise ValueError(f"no such file: {', '.join(missing)}")
            name = args.questions.parent.name or args.questions.stem
            directions = [Direction(name, args.docs, args.questions)]
        with tempfile.TemporaryDirectory(prefix="articlebot-eval-") as tmp:
            base = args.workdir or Path(tmp)
            base.mkdir(parents=True, exist_ok=True)
            if args.suite:
                from . import two_languages  # it reads the sets with this module's loaders

                directions += two_languages.directions(directions, base)
            records = []
            for d in directions:
                if args.maps_by_fold:
                    records += measured_by_fold(
                        settings,
                        d,
                        base,
                        args.maps_by_fold,
                        sample_size=args.sample,
                        unanswerable=args.unanswerable,
                    )
                else:
                    records += measured(
                        settings, d, base, sample_size=args.sample, unanswerable=args.unanswerable
                    )
                if args.near_topic and not d.name.startswith(TWO_LANGUAGES):
                    from . import near_topic  # it measures with this module's functions

                    records += near_topic.measured(
                        settings, d, base, sample_size=args.sample, maps=args.maps_by_fold
                    )
    except (OSError, ValueError, KeyError) as exc:
        print(f"articlebot eval: {exc}", file=sys.stderr)
        return 2
    how = Fit(confidence.FEATURES)
    if args.folds:
        try:
            predictions, _ = held_out(records, args.folds, settings.embeddings, how)
        except ValueError as exc:
            print(f"articlebot eval: {exc}", file=sys.stderr)
            return 2
    else:
        from .core import confidence_model

        predictions = decide(records, confidence_model(settings, settings.embeddings))
    if args.fit:
        _fit_and_save(records, settings.embeddings, how, args)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            for p in predictions:
                handle.write(json.dumps(p, ensure_ascii=False) + "\n")
    rows = {
        d.name: metrics([p for p in predictions if p["direction"] == d.name]) for d in directions
    }
    if args.json:
        print(json.dumps(rows if args.suite else rows[directions[0].name], indent=2))
    elif args.suite:
        print(suite_table(rows))
    else:
        print(metrics_table(rows[directions[0].name]))
    return 0


def _check_arguments(args: argparse.Namespace) -> str | None:
    if not args.suite and not (args.docs and args.questions):
        return "give --docs and --questions, or --suite DIR"
    if args.suite and (args.docs or args.questions):
        return "give either --suite or --docs/--questions, not both"
    if args.folds is not None and args.folds < 2:
        return "--folds needs at least 2 folds"
    if args.maps_by_fold and not (args.maps_by_fold / FOLDS_FILE).is_file():
        return (
            f"{args.maps_by_fold} holds no {FOLDS_FILE}: write it with "
            "python bench/question_map.py --save-folds DIR"
        )
    if (args.folds or args.fit) and not args.unanswerable:
        return "fitting the refusal model needs the unanswerable questions"
    return None


def _fit_and_save(records: list[dict], embeddings: str, how: Fit, args: argparse.Namespace) -> None:
    """Fit the refusal model on every record (the two-language store's aside, as in
    ``held_out``) and write it to ``args.fit``."""
    records = [r for r in records if _fitted_on(r)]
    directions = sorted({r["direction"] for r in records})
    model = fit_model(
        [r["evidence"] for r in records],
        np.array([r["answerable"] for r in records]),
        np.array([r["direction"] for r in records]),
        embeddings,
        how,
    )
    counts = {
        d: [sum(1 for r in records if r["direction"] == d and r["answerable"] == a) for a in (1, 0)]
        for d in directions
    }
    given = " ".join(map(str, args.suite)) if args.suite else f"--docs {args.docs} --questions ..."
    by_fold = f" --maps-by-fold {args.maps_by_fold}" if args.maps_by_fold else ""
    fitted = {
        "command": f"articlebot eval --suite {given}{by_fold} --fit {args.fit}",
        "questions (answerable, unanswerable)": counts,
        "l2": how.l2,
        "budgets (answerable refused, unanswerable confident)": [
            how.refuse_budget,
            how.confident_budget,
        ],
    }
    save_model(replace(model, fitted=fitted), args.fit)
    print(
        f"articlebot eval: wrote the refusal model for {embeddings} to {args.fit}", file=sys.stderr
    )


COMMAND = (add_arguments, run)

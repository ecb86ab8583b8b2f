"""How sure an answer is: a calibrated probability that the passages answer the question.

The extractive generator measures a handful of features of the question and what was
retrieved for it (``measure``); a logistic regression turns them into the probability that
the articles answer; two cut-offs turn that into a band: "confident" (the quotes),
"unsure" (the closest quotes, with a caveat) or "refused" ("the articles do not seem to
answer"). Coefficients and cut-offs are fitted by ``articlebot eval --suite ... --fit``,
pooled over every language pair of the evaluation sets, with the cut-offs chosen by
cross-validation over articles (docs/eval.md), and ship in ``confidence.json`` beside this
module, one model per embedder.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from index.language import dominant_script, word_count
from index.types import Hit, Sentence

from .anchors import anchor_overlap, anchors, name_overlap, names

SHIPPED = Path(__file__).with_name("confidence.json")

# The measures the generator records for every question (Answer.evidence). A model uses
# some of them; the rest stay for the evaluation (docs/eval.md says which helped).
MEASURES = (
    "score",  # the best retrieval score: chunk and best sentence together (Hit.score)
    "sentence",  # the best similarity of a quotable sentence of the hits
    "terms",  # the best latent-term overlap of a sentence of the hits (0: not computed)
    "names",  # the share of the question's names the top chunk holds (0: no names)
    "has_names",  # 1 when the question has names
    "anchors",  # the share of its numbers and Latin-script words the top chunk holds
    "has_anchors",
    "length",  # log(1 + the question's words)
    "same_script",  # 1 when the question and its best passage share a script
    "evidence",  # the earlier rule's evidence: best score + 0.2 x its sentence terms
)
# The measures the shipped model weighs (docs/eval.md: chosen by held-out figures).
FEATURES = (
    "score",
    "sentence",
    "terms",
    "names",
    "has_names",
    "anchors",
    "has_anchors",
    "same_script",
    "length",
)


def measure(
    question: str,
    hits: Sequence[Hit],
    sentences: dict[int, list[Sentence]],
    similarity: dict[int, float],
    terms: dict[int, float],
    quotable: set[int],
    *,
    evidence_terms_weight: float,
    sentence_evidence_discount: float,
) -> dict[str, float]:
    """The measures of ``MEASURES`` for a question and its hits.

    ``sentences`` are the hits' sentences by chunk id, ``similarity`` and ``terms`` their
    similarity and latent-term overlap with the question by sentence id, ``quotable`` the
    ids of those long enough to quote.
    """
    if not hits:
        return {}
    top = hits[0]  # the retriever's first: what the answer quotes first
    best = max(hits, key=lambda hit: hit.score)
    best_sentence = max(
        (s for s in sentences.get(best.chunk.id, []) if s.id in quotable),
        key=lambda s: similarity.get(s.id, -1.0),
        default=None,
    )
    q_names, q_anchors = names(question), anchors(question)

    def chunk_evidence(hit: Hit) -> float:
        chunk_terms = (terms.get(s.id, 0.0) for s in sentences.get(hit.chunk.id, []))
        return hit.score + evidence_terms_weight * max(chunk_terms, default=0.0)

    top_sentence = max((similarity[i] for i in quotable), default=0.0)
    return {
        "score": best.score,
        "sentence": top_sentence,
        "terms": max(terms.values(), default=0.0),
        "names": name_overlap(q_names, top.chunk.text),
        "has_names": float(bool(q_names)),
        "anchors": anchor_overlap(q_anchors, top.chunk.text),
        "has_anchors": float(bool(q_anchors)),
        "length": math.log1p(word_count(question)),
        "same_script": float(
            dominant_script(question)
            == dominant_script(best_sentence.text if best_sentence else best.chunk.text)
        ),
        "evidence": max(
            max(chunk_evidence(hit) for hit in hits), top_sentence - sentence_evidence_discount
        ),
    }


# ---- the model ----------------------------------------------------------------------------


class Decision(Protocol):
    """What decides an answer's band from its measures (the evaluation applies any)."""

    def probability(self, evidence: dict[str, float]) -> float: ...

    def band(self, probability: float) -> str: ...


@dataclass(frozen=True)
class ConfidenceModel:
    """A logistic regression over some measures, and the two cut-offs of its probability.

    p < ``refuse_below``: refused; p >= ``confident_from``: confident; between: unsure.
    Features are standardized with the training set's ``mean`` and ``scale``.
    """

    embeddings: str  # the embedder whose scores it was fitted on
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    refuse_below: float
    confident_from: float
    fitted: dict = field(default_factory=dict)  # how and on what (the command, the counts)
    # The evaluation's setting: every measure computed, nothing refused (decided afterwards).
    measure_all: bool = False

    def probability(self, evidence: dict[str, float]) -> float:
        """The probability that the passages answer, given the measures."""
        z = self.bias + sum(
            w * (evidence.get(name, 0.0) - m) / s
            for name, m, s, w in zip(
                self.features, self.mean, self.scale, self.weights, strict=True
            )
        )
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def band(self, probability: float) -> str:
        """The band of ``probability``: "confident", "unsure" or "refused"."""
        if probability < self.refuse_below:
            return "refused"
        return "confident" if probability >= self.confident_from else "unsure"

    @property
    def weighs_terms(self) -> bool:
        """Whether the latent terms count: they cost a second model pass for the question
        (docs/eval.md: the shipped model leans on them; a gate on them saved too little)."""
        return self.measure_all or "terms" in self.features

    def to_json(self) -> dict:
        data = asdict(self)
        data.pop("measure_all")
        return data

    @classmethod
    def from_json(cls, data: dict) -> ConfidenceModel:
        tuples = ("features", "mean", "scale", "weights")
        return cls(**{k: tuple(v) if k in tuples else v for k, v in data.items()})

    def measuring(self) -> ConfidenceModel:
        """This model as the evaluation runs it: every measure, every answer quoted."""
        return replace(self, refuse_below=0.0, confident_from=0.0, measure_all=True)


def uncalibrated(embeddings: str) -> ConfidenceModel:
    """For an embedder nobody fitted a model on: never refuse, never claim to be sure.

    Every answer comes with the "unsure" caveat until ``articlebot eval --suite ... --fit``
    fits a model for it (docs/eval.md).
    """
    return ConfidenceModel(embeddings, (), (), (), (), 0.0, 0.0, 1.0)


def load_model(embeddings: str, path: Path | None = None) -> ConfidenceModel:
    """The model fitted for ``embeddings`` in ``path`` (the shipped file by default)."""
    path = Path(path) if path else SHIPPED
    models = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if embeddings not in models:
        return uncalibrated(embeddings)
    return ConfidenceModel.from_json(models[embeddings])


def save_model(model: ConfidenceModel, path: Path) -> None:
    """Write ``model`` into ``path`` beside the models of other embedders."""
    path = Path(path)
    models = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    models[model.embeddings] = model.to_json()
    text = json.dumps(models, indent=2, ensure_ascii=False)
    # A list of numbers or names on one line: a model reads as a table, not a column.
    text = re.sub(
        r"\[\s+([^\[\]{}]*?)\s+\]",
        lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",\n")) + "]",
        text,
    )
    path.write_text(text + "\n", encoding="utf-8")


# ---- fitting ------------------------------------------------------------------------------


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0) -> tuple[np.ndarray, float]:
    """Weights and bias of an L2-penalised logistic regression, by Newton's method (IRLS).

    ``x`` is standardized (n, d); ``y`` is 0/1. The bias is not penalised.
    """
    n, d = x.shape
    design = np.hstack([x, np.ones((n, 1))])
    penalty = np.full(d + 1, l2)
    penalty[-1] = 0.0
    w = np.zeros(d + 1)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ w, -60, 60)))
        gradient = design.T @ (p - y) + penalty * w
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        step = np.linalg.solve(hessian + 1e-9 * np.eye(d + 1), gradient)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return w[:-1], float(w[-1])


def choose_cutoffs(
    p: np.ndarray,
    answerable: np.ndarray,
    groups: np.ndarray,
    refuse_budget: float,
    confident_budget: float,
) -> tuple[float, float]:
    """The cut-offs that keep, in every group (a language pair), at most ``refuse_budget`` of
    the answerable questions refused and at most ``confident_budget`` of the unanswerable
    ones answered confidently; the unsure band lies between."""
    refuse_below, confident_from = 1.0, 0.0
    for group in np.unique(groups):
        mine = groups == group
        yes = np.sort(p[mine & answerable])
        no = np.sort(p[mine & ~answerable])[::-1]
        if len(yes):  # at most floor(budget * n) answerable questions below the cut-off
            refuse_below = min(refuse_below, float(yes[int(refuse_budget * len(yes))]))
        if len(no):  # at most floor(budget * n) unanswerable ones at or above it
            allowed = int(confident_budget * len(no))
            confident_from = max(confident_from, float(np.nextafter(no[allowed], 2.0)))
    return refuse_below, max(confident_from, refuse_below)


@dataclass(frozen=True)
class Fit:
    """What ``fit_model`` needs besides the data: the measures and the policy."""

    features: tuple[str, ...]
    l2: float = 1.0
    # Budgets on the training folds, a little under the targets (answerable refused
    # <= 0.05, unanswerable answered confidently <= 0.10) so that unseen articles meet them.
    refuse_budget: float = 0.03
    confident_budget: float = 0.07


def fit_model(
    evidence: Sequence[dict[str, float]],
    answerable: np.ndarray,
    groups: np.ndarray,
    embeddings: str,
    how: Fit,
) -> ConfidenceModel:
    """A model fitted on ``evidence`` (one dict of measures a question)."""
    x = np.array([[e.get(f, 0.0) for f in how.features] for e in evidence], dtype=float)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    weights, bias = fit_logistic((x - mean) / scale, answerable.astype(float), how.l2)
    model = ConfidenceModel(
        embeddings,
        how.features,
        tuple(mean.tolist()),
        tuple(scale.tolist()),
        tuple(weights.tolist()),
        bias,
        0.0,
        1.0,
    )
    p = np.array([model.probability(e) for e in evidence])
    refuse_below, confident_from = choose_cutoffs(
        p, answerable, groups, how.refuse_budget, how.confident_budget
    )
    return replace(model, refuse_below=refuse_below, confident_from=confident_from)


def cross_validate(
    evidence: Sequence[dict[str, float]],
    answerable: np.ndarray,
    groups: np.ndarray,
    folds: np.ndarray,
    embeddings: str,
    how: Fit,
    fitted: np.ndarray | None = None,
) -> tuple[np.ndarray, list[str], list[ConfidenceModel]]:
    """Each question's probability and band from a model fitted on the other folds (its
    coefficients and cut-offs both), and the model of each fold. ``fitted`` (a mask) keeps
    some questions out of every fit: they are only decided."""
    probability = np.zeros(len(evidence))
    bands = [""] * len(evidence)
    models = []
    every = np.unique(folds)
    eligible = np.ones(len(evidence), dtype=bool) if fitted is None else fitted
    for number, fold in enumerate(every, 1):
        train = np.flatnonzero((folds != fold) & eligible)
        if len(np.unique(answerable[train])) < 2:
            raise ValueError(
                f"fold {number} of {len(every)}: the other folds hold only "
                f"{'answerable' if answerable[train].all() else 'unanswerable'} questions to "
                "fit on; use fewer folds (or more articles)"
            )
        model = fit_model(
            [evidence[i] for i in train],
            answerable[train],
            groups[train],
            embeddings,
            how,
        )
        models.append(model)
        for i in np.flatnonzero(folds == fold):
            probability[i] = model.probability(evidence[i])
            bands[i] = model.band(probability[i])
    return probability, bands, models

"""The search with the question translated into the articles' language (bot/translation.py),
measured on the suite's directions whose questions and articles are in different scripts.

    OMP_NUM_THREADS=1 python bench/question_translation.py --suite ../shared/eval \\
        --workdir /tmp/q-work/suite [--maps-by-fold DIR] [--translator reference|llamacpp] \\
        [--sample N]

Every answerable question goes through the answer chain's search (``Answerer.prepare``: the
translation step, then the retriever) twice: as asked, with no model (the extractive
default), and with a chat model that translates it. The translator:

- ``reference`` (the default): the suite's own version of the question in the articles'
  language (XQuAD's questions are professional translations of one another: the same id in
  another direction's file, or its ``question_ar``), given as the model's reply. What a
  perfect translator would give: an upper bound, not a model's figure.
- ``llamacpp``: the GGUF model the settings name (``ARTICLEBOT_LLM_MODEL_PATH``, or the
  installed SmolLM2-135M): a real model through the real backend. SmolLM2 cannot
  translate Arabic; it shows what a poor translator costs.

Reported per direction: hit@1 and MRR of the question's article among the hits (the article
of the first hit; within the answer's k hits), how many translations passed the checks,
and how many searches the translation won (bot/retrieval.py's ``strongest``). With the
reference translator, also the whole answer (``Answerer.ask``): its model writes no answer,
so the chain falls back to the quotes, chosen and weighed with the text whose search won;
"first citation" is the share of questions whose first quote holds the answer (as
``articlebot eval`` counts it). Indexes come from ``--workdir`` (``articlebot eval
--workdir`` builds them; built here if missing).
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from bot import evaluation
from bot.answering import Answerer
from bot.core import build_answerer
from bot.evaluation import build_store, find_directions, index_dir, load_documents, load_questions
from bot.llm import LLMGenerator, build_llm_generator
from bot.metrics import contains_answer
from bot.settings import Settings
from bot.two_languages import scripts_of
from index.language import dominant_script


class ReferenceTranslator(BaseChatModel):
    """A chat model whose translation of a question is the suite's own version of it."""

    references: dict[str, str]

    @property
    def _llm_type(self) -> str:
        return "reference"

    def _generate(self, messages: list[BaseMessage], stop=None, run_manager=None, **kwargs):
        asked = re.search(r"<question>\n(.*)\n</question>", str(messages[-1].content), re.S)
        reply = self.references.get(asked[1].strip(), "") if asked else ""
        return ChatResult(generations=[ChatGeneration(message=AIMessage(reply))])


def references(suite: list[Path]) -> dict[str, dict[str, str]]:
    """Each question id's text in each script, over every direction of the suite."""
    found: dict[str, dict[str, str]] = {}
    for direction in find_directions(suite):
        for q in load_questions(direction.questions, direction.field):
            found.setdefault(dominant_script(q.question), {})[q.id] = q.question
    return found


def article_ranks(answerer: Answerer, question: str, keys: dict[str, str]) -> tuple[list, dict]:
    """The articles of the search's hits, in order, once each; and the chain's inputs."""
    inputs = answerer.prepare.invoke({"question": question, "history": [], "window": None})
    articles: list[str] = []
    for hit in inputs["hits"]:
        key = keys.get(hit.chunk.article_id, "")
        if key not in articles:
            articles.append(key)
    return articles, inputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suite", nargs="+", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--maps-by-fold", type=Path, metavar="DIR")
    parser.add_argument("--translator", choices=("reference", "llamacpp"), default="reference")
    parser.add_argument("--sample", type=int, help="about N questions a direction, evenly spread")
    args = parser.parse_args()
    base = Settings(_env_file=None).model_copy(update={"seed_sample": False})
    texts = references(args.suite)
    print(
        "| direction | translator | questions | hit@1 as asked / translated | MRR as asked / "
        "translated | translations checked | searches the translation won | ms a search "
        "with the translation (median) | first citation as asked / translated |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for direction in find_directions(args.suite):
        if scripts_of(direction) not in (("arabic", "latin"), ("latin", "arabic")):
            continue
        docs = load_documents(direction.docs)
        titles = {a.key: a.title for a in docs}
        asked = load_questions(direction.questions, direction.field)
        if args.sample:
            asked = asked[:: max(1, len(asked) // args.sample)]
        target = scripts_of(direction)[1]
        store = build_store(base, docs, index_dir(base, docs, args.workdir) / "all")
        keys = {a.id: a.key for a in store.articles()}
        hits = {"asked": [], "translated": []}
        reciprocal = {"asked": [], "translated": []}
        cited = {"asked": [], "translated": []}
        checked = won = 0
        spent = []
        try:
            groups = evaluation.maps_by_fold(args.maps_by_fold, asked, titles)
            for maps, questions in groups.items():
                settings = base.model_copy(update={"question_maps": maps})
                plain = build_answerer(settings, store)
                if args.translator == "reference":
                    model = ReferenceTranslator(
                        references={
                            q.question.strip(): texts[target].get(q.id, "") for q in questions
                        }
                    )
                    generator = LLMGenerator(model, plain.generator, backend="reference")
                else:
                    generator = build_llm_generator(
                        settings.model_copy(update={"llm_backend": "llamacpp"}),
                        plain.generator,
                    )
                translating = Answerer(store, plain.retriever, generator)
                for q in questions:
                    first, _ = article_ranks(plain, q.question, keys)
                    started = time.perf_counter()
                    second, inputs = article_ranks(translating, q.question, keys)
                    spent.append(time.perf_counter() - started)
                    checked += bool(inputs.get("search"))
                    won += inputs["searched"] != q.question
                    if args.translator == "reference":
                        for name, answerer in (("asked", plain), ("translated", translating)):
                            citations = answerer.ask(q.question).citations
                            cited[name].append(
                                bool(citations) and contains_answer(citations[0].quote, q.golds)
                            )
                    for name, articles in (("asked", first), ("translated", second)):
                        hits[name].append(bool(articles) and articles[0] == q.doc_id)
                        position = articles.index(q.doc_id) + 1 if q.doc_id in articles else 0
                        reciprocal[name].append(1 / position if position else 0.0)
        finally:
            store.close()
        n = len(hits["asked"])
        print(
            f"| {direction.name} | {args.translator} | {n} | "
            f"{np.mean(hits['asked']):.3f} / {np.mean(hits['translated']):.3f} | "
            f"{np.mean(reciprocal['asked']):.3f} / {np.mean(reciprocal['translated']):.3f} | "
            f"{checked} | {won} | {1000 * np.median(spent):.0f} | "
            + (
                f"{np.mean(cited['asked']):.3f} / {np.mean(cited['translated']):.3f} |"
                if cited["asked"]
                else "n/a |"
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()

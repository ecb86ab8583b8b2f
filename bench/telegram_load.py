"""Load test of the Telegram bot against the fake Bot API on loopback (not a timed test).

N chats ask Q questions each, all chats at once; each user waits for an answer (and a
short "think time") before asking the next question, as people do. Reports answers per
second, p50/p95 time from update to reply, and lost, duplicated or wrong replies.

    python bench/telegram_load.py --chats 50 --questions 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fake_telegram import FakeTelegram  # noqa: E402
from tests.telegram_harness import FACTS, TOKEN, BotProcess, add_test_articles  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


Say = Callable[[int, str], object]  # (chat id, text): a user's message reaches the bot


def run_chat(
    fake: FakeTelegram, chat_id: int, questions: int, think: float, results: list, say: Say
) -> None:
    """One user: ask, wait for the answer, think, ask again."""
    for k in range(questions):
        _, question, expected = FACTS[(chat_id * 7 + k * 3) % len(FACTS)]
        # Worded differently in every chat, so no answer comes from a cache.
        text = f"Reader {chat_id} asks: {question}"
        before = len(fake.messages(chat_id))
        asked = time.monotonic()
        say(chat_id, text)
        try:
            reply = fake.wait_for_messages(chat_id, before + 1, timeout=120)[before]
        except AssertionError:
            results.append((chat_id, None, False, None))
            continue
        first_quote = reply["text"].split("[1]", 1)[-1].split("\n")[0]
        ok = expected in first_quote
        results.append((chat_id, reply["at"] - asked, ok, None if ok else (text, reply["text"])))
        time.sleep(think)


def drive(
    fake: FakeTelegram, chats: int, questions: int, think: float, say: Say | None = None
) -> dict:
    """``chats`` users ask ``questions`` questions each, all at once, through ``say``
    (default: the fake's getUpdates queue); what came back, timed and checked."""
    say = say or fake.user_says
    results: list = []
    threads = [
        threading.Thread(target=run_chat, args=(fake, 1000 + n, questions, think, results, say))
        for n in range(chats)
    ]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    sent_per_chat = {1000 + n: len(fake.messages(1000 + n)) for n in range(chats)}
    latencies = [r[1] for r in results if r[1] is not None]
    return {
        "answers": len(latencies),
        "lost": chats * questions - len(latencies),
        "duplicated": sum(max(0, n - questions) for n in sent_per_chat.values()),
        "wrong": sum(1 for r in results if r[1] is not None and not r[2]),
        "answers_per_second": round(len(latencies) / elapsed, 2),
        "wall_seconds": round(elapsed, 1),
        "p50_seconds": round(statistics.median(latencies), 3) if latencies else None,
        "p95_seconds": round(percentile(latencies, 95), 3) if latencies else None,
        "max_seconds": round(max(latencies), 3) if latencies else None,
        "telegram_429s": sum(1 for r in fake.rejected if r[1] == 429),
        "wrong_examples": [r[3] for r in results if r[3]][:2],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--questions", type=int, default=5)
    parser.add_argument("--think", type=float, default=1.0, help="seconds between questions")
    parser.add_argument("--workers", type=int, default=2, help="TELEGRAM_WORKERS")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        from bot.core import open_store
        from bot.settings import Settings

        open_store(Settings(data_dir=data_dir)).close()  # the bundled sample
        add_test_articles(data_dir, Path(tmp) / "sources")
        fake = FakeTelegram(TOKEN).start()
        bot = BotProcess.start(
            fake,
            data_dir,
            Path(tmp) / "bot.log",
            TELEGRAM_WORKERS=str(args.workers),
            TELEGRAM_QUESTIONS_PER_MINUTE="60",
        )
        try:
            fake.wait_for(lambda: len(fake.commands) == 2, 120, "the bot to start")
            measured = drive(fake, args.chats, args.questions, args.think)
        finally:
            code = bot.stop()
            fake.stop()
            if code != 0:
                print(bot.log_text()[-3000:], file=sys.stderr)

    summary = {
        "chats": args.chats,
        "questions_per_chat": args.questions,
        "think_seconds": args.think,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        **measured,
    }
    print(json.dumps(summary, indent=2))
    shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if summary["lost"] == 0 and summary["duplicated"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

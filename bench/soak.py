"""Soak test of the Telegram bot: many chats, admin changes, a SIGKILL, and nothing lost.

The real `articlebot telegram` process runs against the fake Bot API on 127.0.0.1
(tests/fake_telegram.py) over the test articles (tests/telegram_harness.py). Each chat asks
its questions one after another, as a person does (ask, read the answer, think, ask again),
all chats at once. Part way, the bot is killed with SIGKILL while replies are on their way
and started again (at a third of the questions); an admin uploads a Markdown file and a
JSONL file with a bad line (at half) and asks about an uploaded article, removes it and
asks again (at three quarters).

    python bench/soak.py --chats 50 --questions 20

Reports, as a table: questions sent, replies, lost and duplicated replies, wrong answers,
4xx/5xx answers of the fake server (besides the replies the crash dropped), the admin's
checks, the bot's resident memory after a warm-up (answers in both worker threads, an
upload and a removal) and after the last answer (the second process by then: it must be
within 10%), throughput and p50/p95 time from question to reply. Exits 1 if a
requirement is not met. Every wait has a deadline, and the whole run stops at
``--max-minutes``.

The kill comes while the replies being sent are held back by the fake server, which then
drops them, as if they never reached Telegram: bot/ledger.py answers them after the
restart. ``--kill-anywhere`` kills at whatever moment a third of the questions are answered
instead: a kill that falls between Telegram accepting a reply and the ledger noting it
(milliseconds) sends that reply again, the one duplicate bot/ledger.py allows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.settings import Settings  # noqa: E402
from tests.fake_telegram import FakeTelegram  # noqa: E402
from tests.telegram_harness import FACTS, TOKEN, BotProcess, add_test_articles  # noqa: E402

ADMIN = 1
WARM_UP_CHAT = 2  # and the next ones
WARM_UP_CHATS = 4
FIRST_CHAT = 1000
START, END = "start (after a warm-up)", "end (the restarted process)"
WAIT = 120.0  # seconds: the longest any one reply may take, restart included

HARBOUR = (
    "Tessaly harbour dredging finished\n\n"
    "The dredging of Tessaly harbour finished in May, and the shipping channel is now "
    "14.5 metres deep, the port authority said.\n"
)
WIRE = [
    {
        "id": "soak-1",
        "title": "Varnholm cable car opens",
        "text": "The Varnholm cable car opened on Monday; its 38 cabins climb 1130 metres.",
    },
    "{a line that is not JSON",
    {
        "id": "soak-2",
        "title": "Brisk county library card",
        "text": "Brisk county libraries issued 27400 new library cards this spring.",
    },
]
HARBOUR_QUESTION = "How deep is the shipping channel of Tessaly harbour?"
WARM_UP_ARTICLE = "Kettle trial\n\nThe kettle in the trial holds 1.7 litres of water.\n"


@dataclass
class Question:
    chat_id: int
    fact: str  # the sentence the answer must quote first
    asked_at: float
    reply_at: float | None = None


class Soak:
    """One run: the fake server, the bot process (restarted once) and what they did."""

    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.data_dir = tmp / "data"
        self.log = tmp / "bot.log"
        self.deadline = time.monotonic() + args.max_minutes * 60
        self.fake = FakeTelegram(TOKEN).start()
        self.bot: BotProcess | None = None
        self.lock = threading.Lock()
        self.questions: list[Question] = []
        self.answered = 0
        self.total = args.chats * args.questions
        self.memory: dict[str, int] = {}
        self.admin: dict[str, bool] = {}
        self.memory_peak = 0
        self.dropped = 0  # replies the crash dropped (held, then refused by the fake)
        self.restart_seconds = 0.0
        self.done = threading.Event()

    # ---- the bot process ------------------------------------------------------------

    def start_bot(self) -> None:
        registered = self._calls("setMyCommands")
        self.bot = BotProcess.start(
            self.fake,
            self.data_dir,
            self.log,
            ADMIN_USER_IDS=str(ADMIN),
            TELEGRAM_QUESTIONS_PER_MINUTE="1000",  # each chat asks faster than a person
        )
        # Ready when it has registered its commands (in both languages) once more.
        self.fake.wait_for(
            lambda: self._calls("setMyCommands") >= registered + 2, self._left(), "the bot"
        )

    def kill_and_restart(self) -> None:
        """SIGKILL the bot while replies are on their way, then start it again."""
        assert self.bot is not None
        self.memory["before the kill"] = self.rss()
        if not self.args.kill_anywhere:
            self.fake.hold("sendMessage")
            with contextlib.suppress(AssertionError):  # all answered already: kill anyway
                self.fake.wait_for(
                    lambda: self.fake.holding.get("sendMessage"), min(WAIT, self._left())
                )
        self.bot.process.send_signal(signal.SIGKILL)
        self.bot.process.wait()
        with self.fake.lock:
            self.dropped = self.fake.holding.get("sendMessage", 0)
        self.fake.release(drop=True)
        started = time.monotonic()
        self.start_bot()
        self.restart_seconds = time.monotonic() - started

    def rss(self) -> int:
        """The bot's resident memory in KiB (Linux)."""
        assert self.bot is not None
        status = Path(f"/proc/{self.bot.process.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", status).group(1))

    # ---- the users ------------------------------------------------------------------

    def ask(self, chat_id: int, text: str, user_id: int | None = None) -> dict | None:
        """Send a message; the bot's next message to the chat, or None at the deadline."""
        before = len(self.fake.messages(chat_id))
        self.fake.user_says(chat_id, text, user_id=user_id)
        try:
            return self.fake.wait_for_messages(chat_id, before + 1, min(WAIT, self._left()))[before]
        except AssertionError:
            return None

    def chat(self, chat_id: int) -> None:
        """One user: ask, wait for the answer, think, ask again."""
        for k in range(self.args.questions):
            if self._left() <= 0:
                return
            fact, question, _ = FACTS[(chat_id * 7 + k * 3) % len(FACTS)]
            asked = Question(chat_id, fact.rstrip("."), time.monotonic())
            with self.lock:
                self.questions.append(asked)
            # Worded differently in every chat, so no answer comes from a cache.
            reply = self.ask(chat_id, f"Reader {chat_id} asks: {question}")
            if reply is not None:
                asked.reply_at = reply["at"]
            with self.lock:
                self.answered += 1
            time.sleep(self.args.think)

    def upload(self) -> str | None:
        """The admin uploads two files; returns the harbour article's id."""
        jsonl = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in WIRE).encode()
        reports = [
            self._indexed("harbour.md", HARBOUR.encode()),
            self._indexed("wire.jsonl", jsonl),
        ]
        harbour, wire = (r or "" for r in reports)
        self.admin["the .md upload is added"] = (
            "Added “Tessaly harbour dredging finished”" in harbour
        )
        self.admin["the .jsonl's 2 good lines are added, its bad line reported"] = (
            wire.count("Added “") == 2 and "Could not add wire.jsonl: line 2: not JSON" in wire
        )
        return _added_id(harbour)

    def remove(self, article_id: str | None) -> None:
        """The admin asks about the harbour, removes its article, and asks again."""
        reply = self.ask(ADMIN, HARBOUR_QUESTION, ADMIN) or {"text": ""}
        self.admin["the uploaded article answers"] = "14.5 metres" in _first_quote(reply["text"])
        reply = self.ask(ADMIN, f"/remove {article_id}", ADMIN) or {"text": ""}
        self.admin["/remove removes it"] = reply["text"].startswith(
            "Removed “Tessaly harbour dredging finished”"
        )
        reply = self.ask(ADMIN, HARBOUR_QUESTION, ADMIN) or {"text": "14.5 metres"}
        self.admin["a removed article is never quoted"] = "14.5 metres" not in reply["text"]

    def _indexed(self, name: str, content: bytes) -> str | None:
        """Upload a file; the text of the progress message once it is the report."""
        before = len(self.fake.messages(ADMIN))
        self.fake.user_uploads(ADMIN, name, content, user_id=ADMIN)

        def report() -> str | None:
            sent = self.fake.messages(ADMIN)[before:]
            done = sent and not sent[0]["text"].startswith("Indexing")
            return "\n".join(m["text"] for m in sent) if done else None

        try:
            return self.fake.wait_for(report, min(WAIT, self._left()), f"{name} indexed")
        except AssertionError:
            return None

    # ---- the run --------------------------------------------------------------------

    def warm_up(self) -> None:
        """Answer in both worker threads, index and remove once: what the soak does, so
        that memory measured afterwards has every buffer and cache it will have."""
        askers = [
            threading.Thread(target=self.ask, args=(WARM_UP_CHAT + n, FACTS[n][1]))
            for n in range(WARM_UP_CHATS)
        ]
        for thread in askers:
            thread.start()
        for thread in askers:
            thread.join()
        article_id = _added_id(self._indexed("kettle.txt", WARM_UP_ARTICLE.encode()) or "")
        self.ask(ADMIN, f"/remove {article_id}", ADMIN)

    def watch_memory(self) -> None:
        """Note the bot's largest resident memory, once a second, until the run ends."""
        while self._left() > 0 and not self.done.is_set():
            with contextlib.suppress(OSError, AttributeError):  # between kill and restart
                self.memory_peak = max(self.memory_peak, self.rss())
            self.done.wait(1.0)

    def run(self) -> float:
        """Everything, in order; returns the seconds the chats took."""
        add_test_articles(self.data_dir, self.tmp / "sources")
        self.start_bot()
        self.warm_up()
        self.memory[START] = self.rss()
        threading.Thread(target=self.watch_memory, daemon=True).start()
        chats = [
            threading.Thread(target=self.chat, args=(FIRST_CHAT + n,), daemon=True)
            for n in range(self.args.chats)
        ]
        started = time.monotonic()
        for thread in chats:
            thread.start()
        # The kill comes first, so that the chats are still asking whatever the run's size.
        self._when(1 / 3)
        self.kill_and_restart()
        self._when(1 / 2)
        article_id = self.upload()
        self._when(3 / 4)
        self.remove(article_id)
        for thread in chats:
            thread.join(max(0.0, self._left()))
        elapsed = time.monotonic() - started
        self.memory[END] = self.rss()
        self.done.set()
        self.memory["peak"] = self.memory_peak
        return elapsed

    def stop(self) -> int:
        code = self.bot.stop() if self.bot else 0
        self.fake.stop()
        return code

    def _when(self, share: float) -> None:
        """Wait until ``share`` of the questions are answered (or all chats are done)."""
        while self.answered < share * self.total and self._left() > 0:
            time.sleep(0.1)

    def _left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def _calls(self, method: str) -> int:
        with self.fake.lock:
            return sum(1 for m, _ in self.fake.calls if m == method)


def _added_id(report: str) -> str | None:
    """The id of the first article an indexing report says was added."""
    found = re.search(r"Added “[^”]*” \(id (\w+)", report)
    return found.group(1) if found else None


def _first_quote(text: str) -> str:
    return text.split("[1]", 1)[1].split("\n")[0] if "[1]" in text else ""


def table(soak: Soak, elapsed: float) -> list[tuple[str, str, bool | None]]:
    """(what, figure, requirement met or None) rows."""
    lost = duplicated = wrong = replies = 0
    for n in range(soak.args.chats):
        chat_id = FIRST_CHAT + n
        facts = [q.fact for q in soak.questions if q.chat_id == chat_id]  # each asked once
        quotes = [_first_quote(m["text"]) for m in soak.fake.messages(chat_id)]
        times = [sum(fact in quote for quote in quotes) for fact in facts]
        repeats = sum(max(0, t - 1) for t in times)  # the same answer sent again
        chat_lost = max(0, len(facts) - (len(quotes) - repeats))
        replies += len(quotes)
        lost += chat_lost
        duplicated += repeats
        wrong += len(facts) - chat_lost - sum(t > 0 for t in times)
    latencies = [q.reply_at - q.asked_at for q in soak.questions if q.reply_at is not None]
    rejected = [r for r in soak.fake.rejected if not r[2].startswith("dropped:")]
    start, end = soak.memory.get(START), soak.memory.get(END)
    growth = (end - start) / start if start and end else float("inf")
    rows: list[tuple[str, str, bool | None]] = [
        ("chats x questions", f"{soak.args.chats} x {soak.args.questions}", None),
        ("questions sent", str(len(soak.questions)), len(soak.questions) == soak.total),
        ("replies", str(replies), None),
        ("lost replies", str(lost), lost == 0),
        ("duplicated replies", str(duplicated), duplicated == 0),
        ("answers not quoting the fact asked", str(wrong), None),
        ("4xx/5xx from the fake", str(len(rejected)), not rejected),
        ("replies dropped by the crash", str(soak.dropped), None),
        ("restart after SIGKILL", f"{soak.restart_seconds:.1f} s", None),
    ]
    rows += [(f"admin: {check}", "yes" if ok else "NO", ok) for check, ok in soak.admin.items()]
    rows += [
        (f"resident memory, {when}", f"{kib / 1024:.0f} MiB", None)
        for when, kib in soak.memory.items()
    ]
    rows += [
        ("memory, end against start", f"{growth:+.1%}", abs(growth) <= 0.10),
        ("throughput", f"{len(latencies) / elapsed:.2f} answers/s", None),
        ("p50 question to reply", _seconds(latencies, 50), None),
        ("p95 question to reply", _seconds(latencies, 95), None),
        ("wall time of the chats", f"{elapsed:.0f} s", None),
    ]
    if rejected:
        rows.append(("first rejections", repr(rejected[:3]), None))
    return rows


def _seconds(values: list[float], percent: int) -> str:
    if len(values) < 2:
        return f"{values[0]:.2f} s" if values else "-"
    return f"{statistics.quantiles(values, n=100, method='inclusive')[percent - 1]:.2f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--questions", type=int, default=20, help="per chat, at most 20")
    parser.add_argument("--think", type=float, default=1.0, help="seconds between questions")
    parser.add_argument("--max-minutes", type=float, default=30.0, help="the run stops then")
    parser.add_argument(
        "--kill-anywhere", action="store_true", help="SIGKILL without holding replies back"
    )
    args = parser.parse_args()
    if not 1 <= args.questions <= len(FACTS):
        parser.error(f"--questions must be 1 to {len(FACTS)}: a chat asks each fact once")
    # The bot sees articlebot's defaults, never a developer's settings (an LLM, say).
    Settings.model_config["env_file"] = None
    for name in list(os.environ):
        if name.startswith(("ARTICLEBOT_", "TELEGRAM_", "LLM_", "ADMIN_", "ALLOWED_")):
            del os.environ[name]

    with tempfile.TemporaryDirectory(prefix="articlebot-soak-") as tmp:
        soak = Soak(args, Path(tmp))
        try:
            elapsed = soak.run()
        finally:
            code = soak.stop()
            if code != 0:
                print(soak.bot.log_text()[-3000:], file=sys.stderr)
        rows = table(soak, elapsed)
    width = max(len(what) for what, _, _ in rows)
    for what, figure, ok in rows:
        mark = "" if ok is None else ("  ok" if ok else "  FAILED")
        print(f"{what:<{width}}  {figure}{mark}")
    return 0 if code == 0 and all(ok is not False for _, _, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Running the real bot process against the fake Bot API, and the articles it is tested on.

Shared by tests/test_telegram.py and bench/telegram_load.py.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .fake_telegram import FakeTelegram

REPO = Path(__file__).resolve().parent.parent
TOKEN = "123456:TEST-token-that-must-never-be-logged"
# Seconds between two messages to one chat that the tests' fake Bot API allows, and so the bot
# keeps to (BotProcess.start gives it the fake's): Telegram's is about one, which the fake
# keeps by default; the tests' bots answer chat after chat, and a second each adds up.
CHAT_INTERVAL = 0.2

# One digest article of twenty unrelated facts: (fact, question, what the answer must quote).
FACTS = [
    (
        "The Kelmar suspension bridge over the Ostra river is 1742 metres long.",
        "How long is the Kelmar bridge?",
        "1742",
    ),
    (
        "Mount Tavuri, a volcano on the island of Pelau, last erupted in 1893.",
        "When did Mount Tavuri last erupt?",
        "1893",
    ),
    (
        "The Brenfield public library holds 86400 books and manuscripts.",
        "How many books does the Brenfield library hold?",
        "86400",
    ),
    (
        "The winner of the Arlo city marathon finished in 2 hours and 7 minutes.",
        "How fast did the winner of the Arlo marathon finish?",
        "2 hours and 7 minutes",
    ),
    (
        "The Hazelmoor cooperative orchards harvested 3150 tonnes of apples this autumn.",
        "How many tonnes of apples did the Hazelmoor orchards harvest?",
        "3150",
    ),
    (
        "The Quill Ridge observatory telescope has a primary mirror 8.4 metres wide.",
        "How wide is the mirror of the Quill Ridge telescope?",
        "8.4",
    ),
    (
        "The Sorrel Bay aquarium cares for 412 sea turtles.",
        "How many sea turtles does the Sorrel Bay aquarium care for?",
        "412",
    ),
    (
        "The ferry between Dunmar and Kessa island carries 1280 passengers a day.",
        "How many passengers does the Dunmar ferry carry each day?",
        "1280",
    ),
    (
        "The stadium of Carrow United football club seats 52311 spectators.",
        "How many spectators does the Carrow United stadium seat?",
        "52311",
    ),
    (
        "The Vellan hydroelectric dam produces 640 megawatts of electricity.",
        "How much electricity does the Vellan dam produce?",
        "640",
    ),
    (
        "Northgate technical college enrolled 7925 students this year.",
        "How many students did Northgate college enrol?",
        "7925",
    ),
    (
        "The new runway of Lindqvist airport is 3600 metres long.",
        "How long is the new runway at Lindqvist airport?",
        "3600",
    ),
    (
        "Forest rangers planted 58000 oak saplings in the Tellwood forest.",
        "How many oak saplings were planted in Tellwood forest?",
        "58000",
    ),
    (
        "The Ambray museum of glass received 214000 visitors last year.",
        "How many visitors did the Ambray glass museum receive?",
        "214000",
    ),
    (
        "The high-speed train from Porto Vell to Sarna takes 95 minutes.",
        "How long does the train from Porto Vell to Sarna take?",
        "95 minutes",
    ),
    (
        "The Calder valley vineyards bottled 930000 bottles of wine.",
        "How many bottles of wine did the Calder vineyards bottle?",
        "930000",
    ),
    (
        "Mayor Ilse Varga won the Gornick election with 61 percent of the vote.",
        "What share of the vote did Ilse Varga win in Gornick?",
        "61 percent",
    ),
    (
        "The new Eastfield children's hospital has 340 beds.",
        "How many beds does the Eastfield children's hospital have?",
        "340",
    ),
    (
        "The Mirren lantern festival released 12000 paper lanterns into the sky.",
        "How many lanterns were released at the Mirren festival?",
        "12000",
    ),
    (
        "The Ruskin copper mine employs 2750 workers.",
        "How many workers does the Ruskin copper mine employ?",
        "2750",
    ),
]

GLACIER_QUESTION = "How far did the northern ice tongue of the Valdoria glacier retreat?"


def glacier_reports() -> dict[str, str]:
    """Ten near-identical reports with long titles: together they make an answer too long
    for one Telegram message (with ARTICLEBOT_MAX_QUOTES=10)."""
    reports = {}
    for n in range(1, 11):
        title = (
            f"Valdoria glacier observatory field report {n}: a season of measurements on the "
            "northern ice tongue, with notes on the weather, the equipment and the team that "
            "spent the winter at the station"
        )
        body = (
            "The Valdoria glacier observatory recorded that the northern ice tongue retreated "
            f"by {93 + n * 7} metres during the survey season, according to the careful "
            "measurements gathered by the station's small team of glaciologists who worked "
            f"through the long, dark and bitterly cold polar night of report {n}."
        )
        reports[f"valdoria-{n:02}.txt"] = f"{title}\n\n{body}\n"
    return reports


def add_test_articles(data_dir: Path, source_dir: Path, **settings: object) -> None:
    """Index the fact digest and the glacier reports into ``data_dir``'s store (or the one
    the other ``settings`` choose: store="postgres", postgres_url=...)."""
    from bot.core import indexer, open_store
    from bot.settings import Settings
    from index.ingest import ingest

    source_dir.mkdir(parents=True, exist_ok=True)
    digest = "Regional news digest\n\n" + "\n\n".join(fact for fact, _, _ in FACTS) + "\n"
    (source_dir / "digest.txt").write_text(digest, encoding="utf-8")
    for name, text in glacier_reports().items():
        (source_dir / name).write_text(text, encoding="utf-8")
    chosen = Settings(data_dir=data_dir, **settings)
    store = open_store(chosen)
    report = ingest(indexer(chosen, store), [str(source_dir)])
    store.close()
    assert not report.errors, report.errors


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (for a webhook, or a dead server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    """Whether something accepts connections on the port."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def run_until_it_stops(
    *args: str, cwd: Path, stdin: str = "", timeout: float = 60, **env: str
) -> subprocess.CompletedProcess:
    """`articlebot ARGS` run to its end, its output captured: for a command that cannot
    start, which must stop by itself, and quickly (TELEGRAM_MAX_RETRIES=0: no retries)."""
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env={**os.environ, "TELEGRAM_MAX_RETRIES": "0", **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


@dataclass
class BotProcess:
    """`articlebot telegram` running as a subprocess, logging to a file."""

    process: subprocess.Popen
    log: Path

    @classmethod
    def start(
        cls, fake: FakeTelegram, data_dir: Path, log: Path, *args: str, **env: str
    ) -> BotProcess:
        full_env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": fake.token,
            "TELEGRAM_API_BASE_URL": fake.base_url,
            "ARTICLEBOT_DATA_DIR": str(data_dir),
            # The bot paces each chat as the server it talks to limits it.
            "TELEGRAM_CHAT_INTERVAL": str(fake.chat_interval),
            **env,
        }
        with open(log, "ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", *args, "telegram"],
                env=full_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=data_dir.parent,
            )
        return cls(process, log)

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then wait for a clean exit; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


def registered(fake) -> bool:
    """Whether a bot has put its command menu up in every language it speaks: started."""
    from bot import prompts

    return len(fake.commands) == len(prompts.BOT_COMMANDS)


def ask(fake, chat_id: int, text: str, count: int = 1, timeout: float = 90, **kw) -> list[dict]:
    """Send a message and return the first ``count`` new messages the bot sends back."""
    before = len(fake.messages(chat_id))
    fake.user_says(chat_id, text, **kw)
    return fake.wait_for_messages(chat_id, before + count, timeout=timeout)[before:]

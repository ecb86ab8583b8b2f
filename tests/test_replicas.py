"""Replicas: two `articlebot telegram` processes in webhook mode on one PostgreSQL database
(the real server, tests/postgres.py), behind a load balancer that the fake Bot API plays
(each update goes to the replicas' webhooks in turn). Users see one bot: what one replica
indexes the other answers from, a chat's answers and quota are the same on both, and a
killed replica's question is answered once, by the other. And only one process may poll.
"""

from __future__ import annotations

import time
from pathlib import Path

from bot import prompts

from .fake_telegram import FakeTelegram
from .postgres import postgres_server, postgres_url  # noqa: F401  (fixtures)
from .telegram_harness import (
    CHAT_INTERVAL,
    FACTS,
    TOKEN,
    BotProcess,
    free_port,
    listening,
    registered,
    run_until_it_stops,
)

ADMIN = 1
QUOTA = 3  # questions per user per minute
SECRET = "replica-webhook-secret"
LEASE = 4.0  # seconds before a killed replica's update is another's (renewed every third)
RATE_LIMITED = "faster than I can keep up"
DIGEST = "Regional news digest\n\n" + "\n\n".join(fact for fact, _, _ in FACTS) + "\n"


def replica_env(url: str, **env: str) -> dict[str, str]:
    """The settings every process of the bot shares: the database and the bot's rules."""
    return {
        "ARTICLEBOT_STORE": "postgres",
        "ARTICLEBOT_POSTGRES_URL": url,
        "ARTICLEBOT_SEED_SAMPLE": "false",
        # The replica that receives an upload indexes it itself; queued uploads and the
        # workers that take them are tests/test_jobs.py's.
        "ARTICLEBOT_INGEST": "inline",
        "ADMIN_USER_IDS": str(ADMIN),
        "TELEGRAM_QUESTIONS_PER_MINUTE": str(QUOTA),
        "TELEGRAM_UPDATE_LEASE": str(LEASE),
        **env,
    }


def start_replica(fake: FakeTelegram, url: str, home: Path) -> tuple[BotProcess, str]:
    """A replica in webhook mode, with a data directory of its own (as on its own machine);
    returns it and its webhook's URL."""
    port = free_port()
    webhook = f"http://127.0.0.1:{port}/telegram/hook"
    (home / "data").mkdir(parents=True)
    bot = BotProcess.start(
        fake,
        home / "data",
        home / "bot.log",
        "-v",
        **replica_env(
            url,
            TELEGRAM_MODE="webhook",
            TELEGRAM_WEBHOOK_URL=webhook,
            TELEGRAM_WEBHOOK_PORT=str(port),
            TELEGRAM_WEBHOOK_SECRET=SECRET,
        ),
    )
    return bot, webhook


def port_of(webhook: str) -> int:
    return int(webhook.split(":")[2].split("/")[0])


def quote_of(message: dict) -> str:
    """The first quote of an answer ("" for a reply without one)."""
    return message["text"].split("[1]", 1)[1].split("\n")[0] if "[1]" in message["text"] else ""


def test_two_replicas_answer_as_one_bot_and_a_killed_ones_question_once(
    postgres_url,  # noqa: F811
    tmp_path,
):
    fake = FakeTelegram(TOKEN, chat_interval=CHAT_INTERVAL).start()
    replicas = [start_replica(fake, postgres_url, tmp_path / f"replica{n}") for n in (1, 2)]
    (one, hook1), (two, hook2) = replicas
    asked: dict[int, int] = {}  # chat -> questions asked (each must get one reply)

    def say(chat_id: int, text: str, replica: str, **kw) -> dict:
        """A user sends a message, which the balancer gives to ``replica`` (its turn)."""
        message = fake.user_says(chat_id, text, **kw)
        assert fake.routed[message["update_id"]] == replica, "the balancer alternates"
        asked[chat_id] = asked.get(chat_id, 0) + 1
        return message

    def reply(chat_id: int, count: int = 1) -> dict:
        return fake.wait_for_messages(chat_id, count, timeout=120)[count - 1]

    try:
        for hook in (hook1, hook2):
            fake.wait_for(lambda: listening(port_of(hook)), 180, "the replicas to listen")  # noqa: B023
        fake.balance([hook1, hook2], SECRET)

        say(201, "/start", hook1)
        reply(201)
        # Nothing is indexed yet: replica 2 says the articles do not answer.
        say(201, FACTS[0][1], hook2)
        assert "1742" not in reply(201, 2)["text"]
        # The admin uploads the digest to replica 1; replica 2 answers from it, and
        # replica 1 shows the sources of replica 2's answer.
        upload = fake.user_uploads(ADMIN, "digest.txt", DIGEST.encode(), user_id=ADMIN)
        assert fake.routed[upload["update_id"]] == hook1
        fake.wait_for(
            lambda: fake.messages(ADMIN) and fake.messages(ADMIN)[0]["text"].startswith("Added"),
            120,
            "the digest to be added",
        )
        say(201, FACTS[0][1], hook2)
        assert "1742" in quote_of(reply(201, 3))
        say(201, "/sources", hook1)
        assert "Kelmar suspension bridge" in reply(201, 4)["text"]

        # One user's questions go to both replicas in turn: the quota counts them all.
        for n in range(QUOTA + 1):
            say(301, FACTS[1 + n][1], [hook2, hook1][n % 2])
        replies = fake.wait_for_messages(301, QUOTA + 1, timeout=120)
        assert sum(RATE_LIMITED in r["text"] for r in replies) == 1
        assert sum(r["text"].startswith(prompts.text("intro", "en")) for r in replies) == QUOTA

        # Users in several chats at once, alternately: each gets their own answer, once.
        for n, chat_id in enumerate(range(401, 407)):
            say(chat_id, FACTS[5 + n][1], [hook2, hook1][n % 2])
        for n, chat_id in enumerate(range(401, 407)):
            assert FACTS[5 + n][2] in quote_of(reply(chat_id))

        # Replica 2 is killed while its answer is on the way: it never arrives. Replica 1
        # takes the question over once the lease has run out, and answers it once.
        fake.hold("sendMessage")
        say(501, FACTS[12][1], hook2)
        fake.wait_for(lambda: fake.holding.get("sendMessage"), 120, "replica 2's reply")
        two.process.kill()
        two.process.wait()
        fake.release(drop=True)
        assert FACTS[12][2] in quote_of(reply(501))
        # The balancer sends the next updates to the survivor only.
        say(502, FACTS[13][1], hook1)
        assert FACTS[13][2] in quote_of(reply(502))
        time.sleep(LEASE * 1.5)  # time enough for a second answer, if one were coming
    finally:
        code = one.stop()
        two.stop()
        fake.stop()
    assert code == 0, one.log_text()[-3000:]
    # Zero lost and zero duplicated replies: one per message, in every chat.
    for chat_id, count in asked.items():
        assert len(fake.messages(chat_id)) == count, (chat_id, fake.messages(chat_id))
    assert "took over 1 updates that a stopped replica was answering" in one.log_text()


def test_a_second_poller_refuses_to_start_and_says_replicas_use_webhooks(
    postgres_url,  # noqa: F811
    tmp_path,
):
    fake = FakeTelegram(TOKEN).start()
    (tmp_path / "one" / "data").mkdir(parents=True)
    env = replica_env(postgres_url, TELEGRAM_MODE="polling")
    with fake.lock:  # the module's other bots put their menus up already: wait for this one's
        fake.commands.clear()
    first = BotProcess.start(fake, tmp_path / "one" / "data", tmp_path / "one.log", **env)
    try:
        fake.wait_for(lambda: registered(fake), 120, "the first poller to start")
        second = run_until_it_stops(
            "telegram",
            cwd=tmp_path,
            timeout=120,
            TELEGRAM_BOT_TOKEN=fake.token,
            TELEGRAM_API_BASE_URL=fake.base_url,
            ARTICLEBOT_DATA_DIR=str(tmp_path / "two"),
            **env,
        )
    finally:
        code = first.stop()
        fake.stop()
    assert second.returncode == 2, second.stderr
    (line,) = second.stderr.strip().splitlines()
    assert "another articlebot process is polling Telegram for this bot" in line
    assert "one getUpdates consumer" in line and "TELEGRAM_MODE=webhook" in line
    assert "Traceback" not in second.stderr and TOKEN.split(":")[1] not in second.stderr
    assert code == 0, first.log_text()[-3000:]

"""The bot's state beside its articles (bot/state.py): chat histories, the update ledger
and question quotas, in SQLite for one process and in PostgreSQL for replicas.

What holds for both runs against both (one suite); what only replicas need (leases on
updates, quotas and the polling lock across processes) runs on the real PostgreSQL server.
Each ``open_state`` below stands for another process: a restart, or another replica.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.settings import Settings
from bot.state import BotState, PollerRunning, hold_polling, open_state
from bot.types import Answer

from .postgres import postgres_server, postgres_url  # noqa: F401  (fixtures)
from .telegram_harness import TOKEN

LEASE = 1.0  # seconds; short, so that a test sees leases run out


@pytest.fixture(params=["faiss", "postgres"])
def settings(request, tmp_path) -> Settings:
    """Settings for each place the state can be, new and empty."""
    options = {
        "data_dir": tmp_path / "data",
        "telegram_questions_per_minute": 3,
        "telegram_update_lease": LEASE,
        "telegram_bot_token": TOKEN,
    }
    if request.param == "postgres":
        options |= {"store": "postgres", "postgres_url": request.getfixturevalue("postgres_url")}
    return Settings(**options)


@pytest.fixture
def postgres_settings(postgres_url) -> Settings:  # noqa: F811
    return Settings(
        store="postgres",
        postgres_url=postgres_url,
        telegram_questions_per_minute=3,
        telegram_update_lease=LEASE,
        telegram_bot_token=TOKEN,
    )


def answer(question: str, text: str) -> Answer:
    return Answer(question=question, lang="en", text=text, citations=[], hits=[], refused=True)


def update(update_id: int) -> str:
    return json.dumps({"update_id": update_id, "message": {"message_id": update_id}})


def close(*states: BotState) -> None:
    """Close what a bot process closes at its end: its chats and its ledger."""
    for state in states:
        state.chats.close()
        state.ledger.close()


def test_a_chats_answers_and_history_are_seen_by_the_next_process_until_reset(settings):
    first, second = open_state(settings), open_state(settings)
    try:
        turn = first.chats.record(7, answer("How long is the bridge?", "1742 metres [1]"))
        first.chats.record(7, answer("And the river?", "The Ostra [1]"))
        first.chats.record(8, answer("Another chat", "Not in the articles"))
        assert second.chats.history(7, 6) == [
            ("How long is the bridge?", "1742 metres [1]"),
            ("And the river?", "The Ostra [1]"),
        ]
        assert second.chats.answer(7).text == "The Ostra [1]"
        assert second.chats.answer(7, turn).question == "How long is the bridge?"
        assert second.chats.answer(8, turn) is None  # a turn of another chat
        assert second.chats.forget(7) == 2
        assert first.chats.answer(7) is None and first.chats.history(8, 6)
    finally:
        close(first, second)


def test_an_update_is_recorded_once_whichever_process_sees_it_again(settings):
    first = open_state(settings)
    assert first.ledger.arrived(1, update(1))
    assert not first.ledger.arrived(1, update(1))  # a webhook retry
    first.ledger.answered(1)
    second = open_state(settings)
    try:
        assert not second.ledger.arrived(1, update(1))  # answered: never again
        assert second.ledger.arrived(2, update(2))
    finally:
        close(first, second)


def test_a_stopped_processs_unanswered_updates_are_answered_by_the_next(settings):
    first = open_state(settings)
    first.ledger.arrived(3, update(3))
    first.ledger.arrived(4, update(4))
    first.ledger.answered(3)
    first.ledger.close()  # stops with update 4 unanswered
    second = open_state(settings)
    try:
        assert [u["update_id"] for u in second.ledger.unanswered()] == [4]
    finally:
        second.chats.close()
        second.ledger.close()
        first.chats.close()


def test_a_killed_replicas_update_is_taken_over_by_exactly_one_other(postgres_settings):
    killed, *survivors = [open_state(postgres_settings) for _ in range(3)]
    try:
        assert killed.ledger.arrived(10, update(10))
        # While its replica lives (renews), no other takes the update.
        for _ in range(3):
            killed.ledger.renew()
            assert survivors[0].ledger.renew() == [] and survivors[1].ledger.renew() == []
            time.sleep(LEASE / 2)
        # The replica dies (renews no more): after its lease, one survivor takes it over.
        time.sleep(LEASE * 1.2)
        with ThreadPoolExecutor(2) as pool:
            taken = list(pool.map(lambda state: state.ledger.renew(), survivors))
        assert sorted(len(t) for t in taken) == [0, 1], taken
        (winner,) = [s for s, t in zip(survivors, taken, strict=True) if t]
        assert [u["update_id"] for t in taken for u in t] == [10]
        # Now the survivor's own: renewed by it, taken by no one else.
        time.sleep(LEASE * 1.2)
        winner.ledger.renew()
        assert all(s.ledger.renew() == [] for s in survivors if s is not winner)
        winner.ledger.answered(10)
        time.sleep(LEASE * 1.2)
        assert all(s.ledger.renew() == [] for s in survivors)
    finally:
        close(killed, *survivors)


def test_a_replica_that_stops_cleanly_leaves_its_updates_to_another_at_once(postgres_settings):
    stopping, other = open_state(postgres_settings), open_state(postgres_settings)
    try:
        stopping.ledger.arrived(20, update(20))
        assert other.ledger.unanswered() == []  # the running replica's, at another's start
        stopping.ledger.close()
        assert [u["update_id"] for u in other.ledger.renew()] == [20]
    finally:
        other.chats.close()
        other.ledger.close()
        stopping.chats.close()


def test_a_users_quota_holds_across_replicas(postgres_settings):
    one, two = open_state(postgres_settings), open_state(postgres_settings)
    try:
        assert [one.quota.take(5), two.quota.take(5), one.quota.take(5)] == [0, 0, 0]
        wait = two.quota.take(5)
        assert 55 < wait <= 60  # the fourth question in a minute, on the other replica
        assert one.quota.take(6) == 0  # another user's quota is their own
        later = time.time() + 61  # by the database's clock, give or take
        assert two.quota.take(5, now=later) == 0
    finally:
        close(one, two)


def test_a_second_poller_of_the_same_bot_is_refused_until_the_first_stops(postgres_settings):
    first = hold_polling(postgres_settings)
    try:
        with pytest.raises(PollerRunning, match="one getUpdates consumer.*TELEGRAM_MODE=webhook"):
            hold_polling(postgres_settings)
    finally:
        first.close()
    hold_polling(postgres_settings).close()


def test_the_embedded_state_takes_no_polling_lock(tmp_path):
    assert hold_polling(Settings(data_dir=tmp_path, telegram_bot_token=TOKEN)) is None

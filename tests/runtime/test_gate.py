"""The gate every update passes (runtime/gate.py): an update delivered twice has one effect, two updates of one
chat are applied one after the other even when two processes get them at once, a conversation started in one
process goes on in another, and every update leaves one log line that names its handler and never what was
typed.

"Two processes" are two Applications built by `runtime.app.build_application`, each on its own engine (its own
connection pool) over one PostgreSQL database, driven concurrently from one event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Update

from bot.clock import ManualClock
from bot.config import Settings
from bot.crypto import attach
from bot.db import create_engine
from bot.models import Client, Delivery, HandledUpdate, Reflection
from bot.ownership import _LIVE_KEYS
from runtime.delivery import engine_of
from runtime.gate import CHAT_LOCKS, IN_FLIGHT, GateLines, chat_key
from runtime.local_api import LocalChat, Reply
from tests.conftest import START
from tests.handlers.test_followups import agent_with_client, schedule_one
from tests.handlers.test_onboarding import onboard
from tests.support import Harness, RenderedTexts, start_harness

postgres_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
# Advisory locks in this test's database (the server may serve others at the same time).
THIS_DATABASE = "locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"

# The check-in's six answers, typed.
ANSWERS = ["3", "4", "签了一单", "客户嫌贵", "先听后说", "约周六带看"]
FIELDS = ("clients", "mood", "went_well", "to_improve", "lesson", "tomorrow")
STORED = (3, 4, "签了一单", "客户嫌贵", "先听后说", "约周六带看")


@pytest.fixture
async def pair(
    engine: AsyncEngine, database_url: str, clock: ManualClock, settings: Settings
) -> AsyncIterator[tuple[Harness, Harness]]:
    """Two bot processes on one database, each with its own engine."""
    other = create_engine(database_url)
    attach(other, settings.keyring())  # the same DATA_KEY as the first (TEST_DATA_KEY=1), as two processes share it
    try:
        async with (
            start_harness(engine, clock, settings, RenderedTexts()) as first,
            start_harness(other, clock, settings, RenderedTexts()) as second,
        ):
            yield first, second
            for harness in (first, second):
                assert len(harness.app.chat_locks) == 0  # type: ignore[attr-defined]  # no lock left behind
    finally:
        await other.dispose()


_ids = iter(range(10**12, 10**13))  # ids for updates built by hand here (not LocalChat's)


def message(chat: LocalChat, typed: str) -> dict[str, Any]:
    """An update carrying `typed`, with an id of its own: the same dict given twice is one update sent twice."""
    return chat.text_update(typed)


async def deliver(chat: LocalChat, update: dict[str, Any]) -> Reply:
    return await chat._process(update)


def sent_messages(*harnesses: Harness, chat_id: int | None = None) -> list[str]:
    return [
        str(call.params.get("text"))
        for harness in harnesses
        for call in harness.api.calls
        if call.method == "sendMessage" and (chat_id is None or call.params.get("chat_id") == chat_id)
    ]


async def count(harness: Harness, model: type[Any]) -> int:
    async with harness.services.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def reflection_of(harness: Harness, user_id: int) -> Reflection:
    agent = await harness.agent(user_id)
    async with harness.services.sessions() as session:
        found = await session.execute(select(Reflection).where(Reflection.agent_id == agent.id))
        return found.scalar_one()


def answers(reflection: Reflection) -> tuple[object, ...]:
    return tuple(getattr(reflection, name) for name in FIELDS)


# ------------------------------------------------------------------------------------------ once per update


async def test_the_same_update_twice_has_one_effect(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    chat = harness.chat()
    await onboard(chat)
    update = message(chat, "/client 王先生")
    first = await deliver(chat, update)
    assert len(first.sent) == 1
    caplog.set_level(logging.INFO, "agentcoach.updates")
    again = await deliver(chat, update)  # Telegram's retry after a slow answer
    assert again.sent == [] and again.edited == []
    assert await count(harness, Client) == 1
    [line] = [record for record in caplog.records if record.name == "agentcoach.updates"]
    assert (line.update_id, line.outcome, line.handler) == (update["update_id"], "duplicate", "none")  # type: ignore[attr-defined]


async def test_the_same_update_at_once_has_one_effect(harness: Harness) -> None:
    """Within one process (the webhook handles requests concurrently) as across processes."""
    chat = harness.chat()
    await onboard(chat)
    update = message(chat, "/client 王先生")
    before = len(sent_messages(harness))
    await asyncio.gather(deliver(chat, update), deliver(chat, update))
    assert len(sent_messages(harness)) == before + 1
    assert await count(harness, Client) == 1


@postgres_only
async def test_the_same_update_sent_to_two_processes_at_once_has_one_effect(pair: tuple[Harness, Harness]) -> None:
    first, second = pair
    here = first.chat()
    await onboard(here)
    there = second.chat()
    for number in range(5):
        update = message(here, f"/client 客户{number}")
        before = len(sent_messages(first, second))
        await asyncio.gather(deliver(here, update), deliver(there, update))
        assert len(sent_messages(first, second)) == before + 1
    assert await count(first, Client) == 5
    assert await count(first, HandledUpdate) > 5


# ------------------------------------------------------------------------------------ one chat at a time


async def at_the_third_question(chat: LocalChat) -> None:
    await onboard(chat)
    await chat.send("/reflect")
    for typed in ANSWERS[:2]:
        await chat.send(typed)


@postgres_only
async def test_two_answers_of_one_chat_at_two_processes_are_both_kept(pair: tuple[Harness, Harness]) -> None:
    """Without the lock both read "waiting for the third answer" and the second write replaces the first."""
    first, second = pair
    agents = [1001, 1002, 1003]
    for user_id in agents:
        await at_the_third_question(first.chat(user_id))
    await second.chat(2001).send("/tip")  # (the second process has met the database too)
    await asyncio.gather(
        *(first.chat(user_id).send("签了一单") for user_id in agents),
        *(second.chat(user_id).send("客户嫌贵") for user_id in agents),
    )
    for user_id in agents:
        reflection = await reflection_of(first, user_id)
        assert {reflection.went_well, reflection.to_improve} == {"签了一单", "客户嫌贵"}
        assert reflection.step == "lesson"
        questions = [text[:5] for text in sent_messages(first, second, chat_id=user_id)[-2:]]
        assert sorted(questions) == ["（4/6）", "（5/6）"]


async def test_two_answers_of_one_chat_at_once_are_both_kept(harness: Harness) -> None:
    here = harness.chat()
    await at_the_third_question(here)
    await asyncio.gather(here.send("签了一单"), here.send("客户嫌贵"))
    reflection = await reflection_of(harness, here.user_id)
    assert {reflection.went_well, reflection.to_improve} == {"签了一单", "客户嫌贵"}


@postgres_only
async def test_check_ins_answered_across_both_processes_among_other_chats_keep_every_answer(
    pair: tuple[Harness, Harness],
) -> None:
    first, second = pair
    agents = [1001, 1002, 1003]
    for user_id in agents:
        await onboard(first.chat(user_id))

    async def check_in(user_id: int) -> None:
        chats = [first.chat(user_id), second.chat(user_id)]
        await chats[user_id % 2].send("/reflect")
        for turn, typed in enumerate(ANSWERS):
            await chats[(turn + user_id) % 2].send(typed)

    async def chatter(user_id: int) -> None:
        for turn in range(6):
            await (first, second)[turn % 2].chat(user_id).send("/tip")

    await asyncio.gather(*(check_in(user_id) for user_id in agents), chatter(2001), chatter(2002))
    for user_id in agents:
        reflection = await reflection_of(first, user_id)
        assert answers(reflection) == STORED and reflection.status == "done"


@postgres_only
async def test_a_conversation_started_in_one_process_is_finished_in_another(pair: tuple[Harness, Harness]) -> None:
    """Conversation state is read from the database at every update: neither process keeps any of it."""
    first, second = pair
    chats = [first.chat(), second.chat()]
    await onboard(chats[0])
    await chats[0].send("/reflect")
    for turn, typed in enumerate(ANSWERS):
        reply = await chats[(turn + 1) % 2].send(typed)
        assert reply.texts, f"no answer to {typed!r}"
    assert answers(await reflection_of(first, 1001)) == STORED
    for harness in pair:
        assert not harness.app.user_data and not harness.app.chat_data  # PTB's in-memory stores stay unused


@postgres_only
async def test_no_nudge_is_sent_twice_when_both_processes_sweep_at_once(pair: tuple[Harness, Harness]) -> None:
    first, second = pair
    due = []
    for user_id in (1001, 1002, 1003):
        chat, _ = await agent_with_client(first, user_id)
        due.append((await schedule_one(first, chat)).due_at)
    first.clock.set(max(due) + timedelta(seconds=1))
    sweeps = await asyncio.gather(engine_of(first.app).sweep(), engine_of(second.app).sweep())
    assert sum(sweep.sent for sweep in sweeps) == 3
    nudges = [text for text in sent_messages(first, second) if text.startswith("⏰")]
    assert len(nudges) == 3
    async with first.services.sessions() as session:
        statuses = (await session.execute(select(Delivery.status).where(Delivery.kind == "followup"))).scalars()
        assert sorted(statuses) == ["sent"] * 3


async def test_more_updates_at_once_than_in_flight_all_get_their_answer(harness: Harness) -> None:
    """Webhook requests come concurrently: the ones over the limit wait their turn, none is lost or stuck."""
    chats = [harness.chat(user_id=5000 + number) for number in range(3 * IN_FLIGHT)]
    await asyncio.gather(*(chat.send("/help") for chat in chats), *(chat.send("/tip") for chat in chats[:IN_FLIGHT]))
    for chat in chats:
        assert sent_messages(harness, chat_id=chat.chat_id), f"no answer in chat {chat.chat_id}"
    assert len(harness.app.chat_locks) == 0  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------- the locks


@postgres_only
async def test_a_chat_lock_is_never_taken_for_a_live_process(engine: AsyncEngine) -> None:
    """bot.ownership reads the live processes' keys from pg_locks (bigint keys, objsubid 1); chat locks are two-int4
    keys (objsubid 2) and must never show there."""
    lines = GateLines(engine)
    async with lines.line() as line, engine.connect() as look:
        await line.enter(next(_ids), 1001)
        held = (
            await look.execute(
                text(f"SELECT objsubid FROM pg_locks WHERE {THIS_DATABASE} AND classid = :class AND objid = :key"),
                {"class": CHAT_LOCKS, "key": chat_key(1001) & 0xFFFF_FFFF},
            )
        ).scalars()
        assert list(held) == [2]
        assert list((await look.execute(text(_LIVE_KEYS))).scalars()) == []
        await line.leave(None, START)
    await lines.close()


def test_chat_keys_fit_an_int4() -> None:
    for chat_id in (1, 1001, 2**31, 2**52 - 1, -1001234567890, -(2**52)):
        assert -(2**31) <= chat_key(chat_id) < 2**31
    assert chat_key(1001) != chat_key(1002)


@postgres_only
async def test_an_update_cancelled_while_waiting_leaves_no_lock_behind(
    pair: tuple[Harness, Harness], engine: AsyncEngine
) -> None:
    first, second = pair
    here = first.chat()
    await onboard(here)
    key = {"class": CHAT_LOCKS, "key": chat_key(here.chat_id)}
    async with engine.connect() as holder:  # another process in the middle of this chat's update
        await holder.execute(text("SELECT pg_advisory_lock(:class, :key)"), key)
        waiting = asyncio.create_task(deliver(here, message(here, "/tip")))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if await waiters(holder) == 1:
                break
        assert await waiters(holder) == 1
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await holder.execute(text("SELECT pg_advisory_unlock(:class, :key)"), key)
        await holder.commit()
        for _ in range(200):  # the cancelled update's connection was closed, not put back holding the lock
            if await waiters(holder, granted=True) == 0:
                break
            await asyncio.sleep(0.01)
        assert await waiters(holder, granted=True) == 0
    reply = await second.chat().send("/tip")
    assert reply.texts


async def waiters(connection: Any, *, granted: bool = False) -> int:
    found = await connection.execute(
        text(f"SELECT count(*) FROM pg_locks WHERE {THIS_DATABASE} AND classid = :class AND granted = :granted"),
        {"class": CHAT_LOCKS, "granted": granted},
    )
    await connection.commit()
    return int(found.scalar_one())


# -------------------------------------------------------------------------------------------- the log line


async def test_every_update_has_one_line_naming_its_handler(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    chat = harness.chat()
    await onboard(chat)
    caplog.set_level(logging.INFO, "agentcoach.updates")
    await chat.send("/tip")
    await chat.press_data("zz:what")
    harness.api.fail_next("sendMessage", 400, "Bad Request: chat not found")
    await chat.send("/today")
    lines = [record for record in caplog.records if record.name == "agentcoach.updates"]
    seen = [(line.handler, line.outcome) for line in lines]  # type: ignore[attr-defined]
    assert seen == [
        ("handlers.tips.show_tip", "ok"),
        ("handlers.basics.unknown_button", "ok"),
        ("handlers.followups.today", "error"),
    ]
    for line in lines:
        assert isinstance(line.update_id, int) and line.duration_ms >= 0  # type: ignore[attr-defined]
        assert line.getMessage().startswith(f"update {line.update_id} {line.handler} {line.outcome} ")  # type: ignore[attr-defined]
        assert line.getMessage().endswith(" ms")


async def test_no_log_record_holds_what_the_agent_typed(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    phone, token = "13812345678", "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    chat = harness.chat()
    caplog.set_level(logging.INFO)  # (at DEBUG, PTB and aiosqlite log every request's parameters)
    await onboard(chat)
    await chat.send(f"/client 王先生 {phone}")
    await chat.send(f"王先生 电话 {phone} 令牌 {token}")
    await chat.send(f"/followup 王先生 明天下午3点 打 {phone}")
    harness.api.fail_next("sendMessage", 400, "Bad Request: chat not found")
    await chat.send(f"{phone} {token}")
    assert any(record.name == "agentcoach.updates" for record in caplog.records)
    for record in caplog.records:
        rendered = " ".join(
            [record.getMessage(), record.exc_text or "", *(str(value) for value in vars(record).values())]
        )
        assert phone not in rendered and token not in rendered, f"{record.name}: {record.getMessage()}"


async def test_updates_are_counted_by_handler_and_outcome(harness: Harness) -> None:
    from runtime.metrics import REGISTRY

    def handled(handler: str, outcome: str) -> float:
        value = REGISTRY.get_sample_value("agentcoach_updates_total", {"handler": handler, "outcome": outcome})
        return value or 0.0

    chat = harness.chat()
    await onboard(chat)
    before = handled("handlers.tips.show_tip", "ok"), handled("none", "duplicate")
    update = message(chat, "/tip")
    await deliver(chat, update)
    await deliver(chat, update)
    assert (handled("handlers.tips.show_tip", "ok"), handled("none", "duplicate")) == (before[0] + 1, before[1] + 1)
    timed = REGISTRY.get_sample_value("agentcoach_update_seconds_count", {"handler": "handlers.tips.show_tip"})
    assert timed is not None and timed >= 1


async def test_an_update_without_a_chat_is_still_handled_once(harness: Harness) -> None:
    chat = harness.chat()
    await onboard(chat)
    press = {
        "update_id": next(_ids),
        "callback_query": {"id": "q-inline", "from": chat.user, "chat_instance": "x", "data": "tp:next"},
    }
    await deliver(chat, press)
    await deliver(chat, press)
    async with harness.services.sessions() as session:
        found = await session.execute(select(HandledUpdate).where(HandledUpdate.update_id == press["update_id"]))
        assert len(found.all()) == 1
    assert Update.de_json(press, harness.app.bot).effective_chat is None

"""An agent who blocked the bot and came back, and a flood of 429s: what the agent then sees.

- A blocked agent loses nothing: the nudge that met the block and every other one arrive when they write again,
  and their recurring chain (daily tip, reflection prompt) starts again at its next occurrence, not with stale
  prompts sent late.
- Under 429s a reply to what the agent just did still arrives (it waits and tries again); scheduled messages
  step back; each 429 is one WARNING line, never an ERROR with a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.models import Delivery
from bot.recurring import DAILY_TIP, REFLECTION
from bot.send_budget import SendBudget
from bot.statuses import SendPriority
from runtime.delivery import engine_of
from tests.handlers.test_onboarding import onboard
from tests.support import Harness

BLOCKED = "Forbidden: bot was blocked by the user"


async def deliveries(harness: Harness, *kinds: str) -> list[Delivery]:
    async with harness.services.sessions() as session:
        found = await session.execute(select(Delivery).where(Delivery.kind.in_(kinds)).order_by(Delivery.id))
        return list(found.scalars())


async def test_an_agent_who_comes_back_gets_their_next_tip_and_prompt_not_the_stale_ones(harness: Harness) -> None:
    chat = harness.chat()
    await onboard(chat)  # daily tip 08:30 and reflection 21:30, Mon–Sat, Hong Kong
    engine = engine_of(harness.app)
    [tip] = [d for d in await deliveries(harness, DAILY_TIP) if d.status == "pending"]
    harness.clock.set(tip.due_at)
    harness.api.fail_next("sendMessage", 403, BLOCKED)
    assert (await engine.sweep()).held == 1
    assert (await harness.agent()).active is False
    assert {d.status for d in await deliveries(harness, DAILY_TIP, REFLECTION)} == {"held"}

    harness.clock.advance(timedelta(days=3))  # Sunday 08:30: three days of nothing
    assert (await engine.sweep()).claimed == 0
    before = len(chat.messages())
    await chat.send("/help")  # they unblocked the bot and write again
    assert len(chat.messages()) == before + 1  # the help, and no pile of stale prompts
    now = harness.clock.now()
    waiting = [d for d in await deliveries(harness, DAILY_TIP, REFLECTION) if d.status == "pending"]
    assert sorted(d.kind for d in waiting) == [REFLECTION, DAILY_TIP]
    assert all(d.due_at > now for d in waiting), "the next occurrences, not the missed ones"
    assert (await engine.sweep()).claimed == 0

    [next_tip] = [d for d in waiting if d.kind == DAILY_TIP]
    harness.clock.set(next_tip.due_at)
    report = await engine.sweep()
    assert (report.sent, report.late) == (1, 0)
    assert chat.messages()[-1].text.startswith("☀️ 今日贴士")


async def test_a_nudge_that_met_the_block_arrives_when_the_agent_is_back(harness: Harness) -> None:
    chat = harness.chat()
    await onboard(chat)
    await chat.send("/client 王先生 13800138000")
    await chat.send("/followup 王先生 明天下午3点 带看")
    await chat.press("✅ 确认")
    engine = engine_of(harness.app)
    [nudge] = await deliveries(harness, "followup")
    harness.clock.set(nudge.due_at)
    harness.api.fail_next("sendMessage", 403, BLOCKED)
    while (report := await engine.sweep()).claimed and not report.held:
        pass  # the daily tip may go first; the nudge meets the block
    harness.clock.advance(timedelta(hours=5))
    await chat.send("/help")
    for _ in range(3):
        await engine.sweep()
    nudges = [m.text for m in chat.messages() if m.text.startswith("⏰ 跟进提醒：王先生")]
    assert len(nudges) == 1 and "迟到的提醒" in nudges[0]


async def test_under_429s_the_agents_reply_arrives_and_nudges_step_back(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    chats = [harness.chat(user_id=2000 + i, first_name=f"A{i}") for i in range(4)]
    for chat in chats:
        await onboard(chat)
        await chat.send("/client 王先生 13800138000")
        await chat.send("/followup 王先生 in 2 hours 回电话")
        await chat.press("✅ 确认")
    harness.clock.advance(timedelta(hours=2))
    flood = 5  # as many as a reply retries: whichever sends meet them, the reply still arrives
    for _ in range(flood):
        harness.api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    engine = engine_of(harness.app)
    with caplog.at_level(logging.INFO):
        _, reply = await asyncio.gather(engine.sweep(), chats[0].send("/tip"))
        harness.clock.advance(timedelta(seconds=2))  # past the "retry after" the nudges were put back for
        for _ in range(6):
            await engine.sweep()
    assert any(text.startswith("💡") for text in reply.texts), reply.texts  # the reply, not the apology
    assert not any("出错" in text or "抱歉" in text for text in reply.texts), reply.texts
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == flood, [r.getMessage() for r in warnings]
    assert all(r.exc_info is None for r in warnings)
    for chat in chats:
        assert sum(m.text.startswith("⏰ 跟进提醒") for m in chat.messages()) == 1


async def test_a_reply_goes_before_scheduled_messages_already_waiting() -> None:
    """Six scheduled messages queue for a 50 ms pace; a reply that comes after the first is let through next."""
    budget = SendBudget(rate=20)
    order: list[str] = []
    first_went = asyncio.Event()

    async def scheduled(n: int) -> None:
        await budget.acquire(5000 + n, SendPriority.BULK)
        order.append(f"s{n}")
        first_went.set()

    async def reply() -> None:
        await budget.acquire(5100, SendPriority.REPLY)
        order.append("reply")

    waiting = [asyncio.create_task(scheduled(n)) for n in range(6)]
    await first_went.wait()
    await asyncio.gather(reply(), *waiting)
    assert order.index("reply") <= 3, order  # behind at most the slots already handed out (0.1 s of bulk)


async def test_a_retry_after_pauses_every_send_of_the_process() -> None:
    budget = SendBudget(rate=0)
    await budget.pause(0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(budget.acquire(1, SendPriority.NUDGE), budget.acquire(2, SendPriority.REPLY))
    assert loop.time() - started >= 0.19

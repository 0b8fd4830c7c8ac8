"""The engine's report of a sweep counts each delivery's outcome under its kind, for the process's metrics (the
engine itself knows nothing of them), and a failed row says when it failed (`agentcoach stats` counts by it)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from telegram import Bot

from bot.agents import NewAgent, get_or_register
from bot.clock import ManualClock
from bot.db import session_factory
from bot.models import Agent, Delivery
from bot.scheduler import Engine, Kind, Outgoing, SweepReport, schedule
from runtime.app import LOCAL_TOKEN
from runtime.delivery import TelegramSender
from runtime.local_api import LocalBotAPI
from tests.conftest import START


async def say_hello(session: AsyncSession, delivery: Delivery, agent: Agent, now: datetime) -> Outgoing | None:
    return Outgoing("hello")


async def nothing_to_say(session: AsyncSession, delivery: Delivery, agent: Agent, now: datetime) -> Outgoing | None:
    return None


async def test_outcomes_are_counted_by_kind(engine: AsyncEngine, clock: ManualClock) -> None:
    api = LocalBotAPI()
    bot = Bot(LOCAL_TOKEN, request=api, get_updates_request=api)
    await bot.initialize()
    sessions = session_factory(engine)
    kinds = {"hello": Kind(say_hello), "quiet": Kind(nothing_to_say)}
    process = Engine(sessions, clock, TelegramSender(bot), kinds)
    try:
        async with sessions() as session, session.begin():
            for user, kind in [(1, "hello"), (2, "hello"), (3, "hello"), (4, "quiet")]:
                agent = await get_or_register(session, NewAgent(user, user, f"A{user}", "en", "Asia/Shanghai"), START)
                await schedule(session, agent_id=agent.id, kind=kind, due_at=START, now=START)
        api.fail_next("sendMessage", 400, "Bad Request: can't parse entities")
        clock.advance(timedelta(minutes=1))
        report = await process.sweep()
        failed_at = clock.now()
    finally:
        await process.stop()
        await bot.shutdown()

    assert (report.sent, report.failed, report.cancelled) == (2, 1, 1)
    assert dict(report.by_kind) == {("hello", "sent"): 2, ("hello", "failed"): 1, ("quiet", "cancelled"): 1}
    async with sessions() as session:
        [failed] = (await session.scalars(select(Delivery).where(Delivery.status == "failed"))).all()
    assert failed.kind == "hello" and failed.lease_until == failed_at


def test_reports_add_up_by_kind() -> None:
    total = SweepReport()
    total.add(SweepReport(claimed=1, sent=1), kind="followup")
    total.add(SweepReport(claimed=1, retried=1), kind="followup")
    total.add(SweepReport(claimed=1, held=1), kind="tip")
    other = SweepReport()
    other.add(SweepReport(claimed=1, taken_over=1), kind="digest")
    total.add(other)  # a report of several deliveries keeps its own counts by kind
    assert (total.claimed, total.sent, total.retried, total.held, total.taken_over) == (4, 1, 1, 1, 1)
    assert dict(total.by_kind) == {
        ("followup", "sent"): 1,
        ("followup", "retried"): 1,
        ("tip", "held"): 1,
        ("digest", "taken_over"): 1,
    }

"""kill -9 in the middle of a wave of nudges: the real process, restarted at once, sends every one that is left
within seconds (not after the dead process's five-minute leases), loses none, and repeats at most the few that
were in flight at the instant of the kill."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time

import pytest

from bot.db import create_engine, session_factory, upgrade
from bot.followups import PlannedFollowUp, add_follow_ups
from bot.models import Agent, Client
from bot.scheduler import EngineSettings
from tests.e2e.conftest import BotRunner, Emulator

pytestmark = pytest.mark.e2e

AGENTS = 60
FOLLOW_UPS_EACH = 3
FIRST_CHAT = 730000
NUDGE = "⏰ 跟进提醒"
WAIT = 30.0


async def seed(url: str, now: datetime) -> None:
    """Onboarded agents (no daily tip, no prompts: only nudges go out), a client each, follow-ups already due."""
    engine = create_engine(url)
    try:
        await upgrade(engine)
        async with session_factory(engine)() as session, session.begin():
            agents = [
                Agent(
                    telegram_user_id=FIRST_CHAT + i,
                    chat_id=FIRST_CHAT + i,
                    display_name=f"经纪人{i}",
                    language="zh-Hans",
                    timezone="Asia/Shanghai",
                    reflection_time=clock_time(21, 0),
                    work_days="",
                    digest_weekday=7,
                    digest_time=clock_time(20, 0),
                    tip_time=None,
                    followup_time=clock_time(10, 0),
                    setup_step=None,
                    active=True,
                    created_at=now,
                    updated_at=now,
                )
                for i in range(AGENTS)
            ]
            session.add_all(agents)
            await session.flush()
            clients = [
                Client(agent_id=a.id, name=f"客户{a.id}", stage="new", archived=False, created_at=now, updated_at=now)
                for a in agents
            ]
            session.add_all(clients)
            await session.flush()
            due = now - timedelta(seconds=30)
            planned = [
                PlannedFollowUp(c.agent_id, c.id, due + timedelta(seconds=n), f"跟进{n}")
                for c in clients
                for n in range(FOLLOW_UPS_EACH)
            ]
            await add_follow_ups(session, planned, now)
    finally:
        await engine.dispose()


def nudges_by_chat(emu: Emulator) -> Counter[int]:
    return Counter(int(m["chat"]["id"]) for m in emu.messages() if str(m.get("text", "")).startswith(NUDGE))


def sent_nudges(emu: Emulator) -> int:
    return sum(nudges_by_chat(emu).values())


def test_a_restart_after_kill_9_sends_what_is_left_within_seconds(emu: Emulator, bot: BotRunner) -> None:
    total = AGENTS * FOLLOW_UPS_EACH
    asyncio.run(seed(bot.database_url, datetime.now(UTC)))
    first = bot.start()
    emu.wait_for(lambda: sent_nudges(emu) >= total // 3, WAIT, "a third of the nudges to go out")
    first.crash()
    at_kill = sent_nudges(emu)
    assert at_kill < total, "the kill must come in the middle of the wave"

    restarted = time.monotonic()
    bot.start()
    emu.wait_for(lambda: len(nudges_by_chat(emu)) == AGENTS and sent_nudges(emu) >= total, WAIT, "every nudge")
    took = time.monotonic() - restarted
    assert took <= 10.0, f"the rest took {took:.1f} s after the restart (the goal is 10 s)\n{bot.logs()}"
    emu.wait_quiet(FIRST_CHAT + AGENTS - 1, quiet=1.0, timeout=WAIT)  # the bot has settled
    per_chat = nudges_by_chat(emu)
    assert set(per_chat) == {FIRST_CHAT + i for i in range(AGENTS)}, "no agent was left without their nudges"
    assert all(count >= FOLLOW_UPS_EACH for count in per_chat.values()), per_chat
    doubled = sum(per_chat.values()) - total
    # Only a message in flight at the kill (past its last check, not yet committed) can come twice.
    assert 0 <= doubled <= EngineSettings().concurrency, f"{doubled} doubled"
    assert "Traceback" not in bot.logs()

"""Follow-up lists and nudges at their edges, through the handlers: /today is the agent's own local day from
00:00 up to (not including) the next 00:00 — a Sunday night, a month's last day, the 25-hour day when New York's
clocks go back — in time order, only open follow-ups and only the agent's own; snoozing or finishing one from
/today before its nudge leaves exactly the nudges still wanted; a nudge shows that client's own last contact.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.clients import log_contact
from bot.followups import add_follow_up
from bot.models import Agent, Client, Delivery, FollowUp
from runtime.delivery import engine_of
from tests.handlers.test_followups import agent_with_client, pending_deliveries, schedule_one
from tests.support import Harness, hold_back_other_kinds

WEEKDAYS = "一二三四五六日"


def local(zone: str, day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def shown(zone: str, moment: datetime) -> str:
    """A time as the bot writes it in Simplified Chinese: 11月29日 周日 23:45."""
    wall = moment.astimezone(ZoneInfo(zone))
    return f"{wall.month}月{wall.day}日 周{WEEKDAYS[wall.weekday()]} {wall:%H:%M}"


async def add_client(harness: Harness, user_id: int, name: str) -> int:
    agent_id = (await harness.agent(user_id)).id
    async with harness.services.sessions() as session, session.begin():
        now = harness.clock.now()
        client = Client(agent_id=agent_id, name=name, stage="new", archived=False, created_at=now, updated_at=now)
        session.add(client)
        await session.flush()
        return client.id


async def add(harness: Harness, user_id: int, client_id: int, due: datetime, note: str, status: str = "open") -> None:
    agent_id = (await harness.agent(user_id)).id
    async with harness.services.sessions() as session, session.begin():
        agent = await session.get(Agent, agent_id)
        client = await session.get(Client, client_id)
        assert agent is not None and client is not None
        follow_up = await add_follow_up(session, agent, client, due, note, harness.clock.now())
        follow_up.status = status


@pytest.mark.parametrize(
    ("zone", "today"),
    [
        ("Asia/Hong_Kong", date(2026, 11, 29)),  # a Sunday night
        ("Asia/Hong_Kong", date(2026, 11, 30)),  # a month's last day
        ("America/New_York", date(2026, 11, 1)),  # 25 hours long: 01:00–02:00 comes twice
    ],
)
async def test_today_is_the_agents_local_day_in_time_order(harness: Harness, zone: str, today: date) -> None:
    harness.clock.set(local(zone, today, time(8, 0)))
    chat, wang = await agent_with_client(harness, 1001, name="王先生")
    if (await harness.agent(1001)).timezone != zone:
        await chat.send(f"/settings tz {zone}")
        await hold_back_other_kinds(harness, "followup")
    li = await add_client(harness, 1001, "李小姐")
    _, zhang = await agent_with_client(harness, 1002, name="张太太")
    yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)
    # Added out of time order; one finished, one the other agent's.
    await add(harness, 1001, wang, local(zone, today, time(23, 45)), "晚上回电")
    await add(harness, 1001, wang, local(zone, tomorrow, time(0, 0)), "明天零点")
    await add(harness, 1001, wang, local(zone, today, time(0, 0)), "今天零点")
    await add(harness, 1001, li, local(zone, yesterday, time(23, 59)), "昨天的")
    await add(harness, 1001, li, local(zone, today, time(12, 0)), "中午看房")
    await add(harness, 1001, wang, local(zone, today, time(10, 0)), "已经做完", status="done")
    await add(harness, 1002, zhang, local(zone, today, time(9, 0)), "别人的")
    harness.clock.set(local(zone, today, time(23, 30)))

    reply = await chat.send("/today")
    assert reply.texts == [
        "📋 今天要跟进 3 位（按时间顺序）：",
        f"{shown(zone, local(zone, today, time(0, 0)))} · 王先生（新客户）\n📝 今天零点",
        f"{shown(zone, local(zone, today, time(12, 0)))} · 李小姐（新客户）\n📝 中午看房",
        f"{shown(zone, local(zone, today, time(23, 45)))} · 王先生（新客户）\n📝 晚上回电",
    ]
    reply = await chat.send("/overdue")
    assert [text.split("\n")[1] for text in reply.texts[1:]] == ["📝 昨天的", "📝 今天零点", "📝 中午看房"]


async def test_snoozed_or_finished_from_today_before_the_nudge_leaves_only_the_nudges_wanted(
    harness: Harness,
) -> None:
    chat, _ = await agent_with_client(harness)
    viewing = await schedule_one(harness, chat, "下午3点 看房")
    signing = await schedule_one(harness, chat, "下午5点 签约")
    reply = await chat.send("/today")
    await chat.press("⏰ 稍后", on=reply.sent[1])
    snoozed = await chat.press("🌆 今晚（11月25日 周三 19:00）")
    assert snoozed.edited[0].text == "⏰ 好的，11月25日 周三 19:00 再提醒你跟进 王先生。"
    done = await chat.press("✅ 完成", on=reply.sent[2])
    assert done.edited[0].text.startswith("✅ 已完成跟进：王先生")
    [waiting] = await pending_deliveries(harness)  # the snoozed one's new nudge, nothing for the finished one
    assert (waiting.subject_id, waiting.due_at) == (viewing.id, datetime(2026, 11, 25, 11, 0, tzinfo=UTC))
    engine = engine_of(harness.app)
    for moment in (viewing.due_at, signing.due_at):
        harness.clock.set(moment)
        assert (await engine.sweep()).sent == 0
    harness.clock.set(datetime(2026, 11, 25, 11, 0, tzinfo=UTC))
    assert (await engine.sweep()).sent == 1
    assert chat.messages()[-1].text == "⏰ 跟进提醒：王先生（新客户）\n📝 看房\n还没有联系记录。"
    async with harness.services.sessions() as session:
        kinds = (await session.execute(select(Delivery.status).where(Delivery.subject_id == signing.id))).scalars()
        assert list(kinds) == ["cancelled"]
        assert (await session.get(FollowUp, signing.id)).status == "done"  # type: ignore[union-attr]


async def test_each_nudge_shows_that_clients_own_last_contact(harness: Harness) -> None:
    chat, wang = await agent_with_client(harness)
    li = await add_client(harness, 1001, "李小姐")
    now = harness.clock.now()
    async with harness.services.sessions() as session, session.begin():
        for client_id, kind, at in ((wang, "call", now - timedelta(days=1)), (li, "visit", now - timedelta(hours=2))):
            client = await session.get(Client, client_id)
            assert client is not None
            await log_contact(session, client, kind, None, at)
    await add(harness, 1001, wang, now + timedelta(hours=1), "回电")
    await add(harness, 1001, li, now + timedelta(hours=2), "面谈")
    engine = engine_of(harness.app)
    harness.clock.set(now + timedelta(hours=1))
    assert (await engine.sweep()).sent == 1
    nudge = chat.messages()[-1].text
    assert nudge.startswith("⏰ 跟进提醒：王先生") and nudge.endswith(
        f"上次联系：{shown('Asia/Hong_Kong', now - timedelta(days=1))}（📞 电话）"
    )
    harness.clock.set(now + timedelta(hours=2))
    assert (await engine.sweep()).sent == 1
    nudge = chat.messages()[-1].text
    assert nudge.startswith("⏰ 跟进提醒：李小姐") and "（🤝 到访/面谈）" in nudge and "电话" not in nudge

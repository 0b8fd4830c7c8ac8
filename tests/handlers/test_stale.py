"""Clients going cold, as the agent meets them: the morning warning sent by the engine (once per crossing, the day
before), its opener and buttons, /stale, and the rule in /settings.

The agent onboards in Hong Kong (UTC+8, follow-ups at 10:00); the clock starts on Wednesday 2026-11-25 09:00.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.models import Agent, Client, ContactLog, Delivery, FollowUp
from bot.recurring import watch
from bot.statuses import ContactKind, DeliveryKind
from runtime.delivery import engine_of
from runtime.local_api import LocalChat, Shown
from tests.handlers.test_onboarding import onboard
from tests.support import Harness, hold_back_other_kinds

WARNING = DeliveryKind.STALE_WARNING
START = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


async def agent_chat(
    harness: Harness, user_id: int = 1001, language_code: str = "zh-hans", zone: str = ""
) -> LocalChat:
    chat = harness.chat(user_id=user_id, language_code=language_code)
    await onboard(chat, language="English" if language_code == "en" else "简体中文")
    if zone:
        await chat.send(f"/settings tz {zone}")
    await hold_back_other_kinds(harness, WARNING, DeliveryKind.FOLLOWUP)
    return chat


async def add_client(
    harness: Harness, user_id: int, name: str, stage: str, registered: datetime, **details: str | None
) -> int:
    agent = await harness.agent(user_id)
    async with harness.services.sessions() as session, session.begin():
        client = Client(
            agent_id=agent.id, name=name, stage=stage, archived=False, created_at=registered, updated_at=registered,
            **details,
        )  # fmt: skip
        session.add(client)
        await session.flush()
        await watch(session, agent.id, harness.clock.now())  # what registering a client does
        return client.id


async def log(harness: Harness, client_id: int, kind: str, at: datetime, note: str | None = None) -> None:
    async with harness.services.sessions() as session, session.begin():
        session.add(ContactLog(client_id=client_id, kind=kind, note=note, at=at))


async def run_engine_until(harness: Harness, until: datetime) -> None:
    """Move the clock from one due delivery to the next (every kind left waiting), sweeping each, up to `until`."""
    engine = engine_of(harness.app)
    while True:
        async with harness.services.sessions() as session:
            due = (
                await session.execute(
                    select(Delivery.due_at).where(Delivery.status == "pending").order_by(Delivery.due_at).limit(1)
                )
            ).scalar_one_or_none()
        if due is None or due > until:
            harness.clock.set(until)
            return
        harness.clock.set(max(due, harness.clock.now()))
        while (await engine.sweep()).claimed:
            pass


async def waiting_warnings(harness: Harness) -> list[Delivery]:
    async with harness.services.sessions() as session:
        query = select(Delivery).where(Delivery.kind == WARNING, Delivery.status == "pending")
        return list((await session.execute(query)).scalars())


def warnings(chat: LocalChat) -> list[Shown]:
    return [m for m in chat.messages() if m.text.startswith("⏳")]


def block_of(message: Shown, name: str) -> str:
    """The part of a warning about one client (blocks are separated by blank lines)."""
    [block] = [part for part in message.text.split("\n\n") if f". {name} · " in part]
    return block


async def contacts(harness: Harness, client_id: int) -> list[tuple[str, datetime]]:
    async with harness.services.sessions() as session:
        rows = await session.execute(select(ContactLog.kind, ContactLog.at).where(ContactLog.client_id == client_id))
        return [(kind, at) for kind, at in rows.all()]


# ---------------------------------------------------------------------------------------------- the warning


async def test_the_warning_comes_once_the_day_before_and_a_call_starts_a_new_cadence(harness: Harness) -> None:
    """王先生 is registered Wed 25 Nov (new: 3 days), so he crosses the rule on Sat 28: the warning lists him on
    Fri 27 at 10:00, and on no other morning. A nudge sent on Thu 26 is no contact. 📞 on Fri 27 starts a new
    cadence (crossing Mon 30), so Sun 29's warning lists him again, once."""
    chat = await agent_chat(harness)
    await chat.send("/client 王先生 13800138000 三居 学区")
    await chat.send("/followup 王先生 明天上午10点 问问学区")
    await chat.press("✅ 确认")
    sent: dict[int, date] = {}  # each warning's message id → the local day it came
    for day in range(25, 31):
        await run_engine_until(harness, datetime(2026, 11, day, 3, 0, tzinfo=UTC))  # 11:00 in Hong Kong
        for message in warnings(chat):
            if message.message_id in sent:
                continue
            sent[message.message_id] = date(2026, 11, day)
            assert "王先生" in message.text
            if day == 27:
                assert "登记 2 天，还没联系过" in block_of(message, "王先生")  # the nudge on the 26th was no contact
                await chat.press("📞 已打给王先生", on=message)
    assert list(sent.values()) == [date(2026, 11, 27), date(2026, 11, 29)]
    first, second = (next(m for m in chat.messages() if m.message_id == id_) for id_ in sent)
    assert first.text == "📞 已记下：给 王先生 打了电话，重新开始计天。\n\n✅ 这份名单上的客户都联系过了，干得好！"
    assert first.buttons == []
    assert "2 天没联系" in block_of(second, "王先生")  # counted from Friday's call
    async with harness.services.sessions() as session:
        rows = (await session.execute(select(Delivery.kind, Delivery.status))).all()
    assert rows.count((DeliveryKind.FOLLOWUP, "sent")) == 1  # the nudge was sent on Thursday
    # A warning waits only for a morning with someone to warn: two sent, none rendered for nothing, none left.
    assert [status for kind, status in rows if kind == WARNING] == ["sent", "sent"]


async def test_two_zones_each_warned_on_their_own_day_before(harness: Harness) -> None:
    """One call instant, Mon 30 Nov 17:00 UTC: Tue 1 Dec 01:00 in Shanghai, Mon 30 Nov 09:00 in Vancouver. A
    deposit (2 days) crosses Thu 3 Dec in Shanghai and Wed 2 Dec in Vancouver, so the warnings come on Wed 2 Dec
    10:00 Shanghai and Tue 1 Dec 10:00 Vancouver. A stage change afterwards is no contact."""
    shanghai = await agent_chat(harness, 1001, zone="Asia/Shanghai")
    vancouver = await agent_chat(harness, 1002, language_code="en", zone="America/Vancouver")
    call = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    for user_id, name in ((1001, "陈太"), (1002, "Mrs Chan")):
        client_id = await add_client(harness, user_id, name, "deposit", START)
        await log(harness, client_id, ContactKind.CALL, call)
        await log(harness, client_id, "stage", call + timedelta(hours=5), "interested>deposit")
    await run_engine_until(harness, datetime(2026, 12, 5, tzinfo=UTC))
    for chat, name, zone, day in (
        (shanghai, "陈太", "Asia/Shanghai", date(2026, 12, 2)),
        (vancouver, "Mrs Chan", "America/Vancouver", date(2026, 12, 1)),
    ):
        [message] = [m for m in warnings(chat) if name in m.text]
        assert f"1. {name} · " in message.text
        async with harness.services.sessions() as session:
            [sent_at] = (
                await session.execute(
                    select(Delivery.sent_at)
                    .join(Agent, Agent.id == Delivery.agent_id)
                    .where(Delivery.kind == WARNING, Delivery.status == "sent", Agent.chat_id == chat.chat_id)
                )
            ).scalars()
        assert sent_at is not None
        local = sent_at.astimezone(ZoneInfo(zone))
        assert (local.date(), local.hour) == (day, 10)
    [en] = warnings(vancouver)
    assert en.text.startswith("⏳ Clients going cold\n1 client passes your no-contact limit tomorrow.")
    assert "Mrs Chan · Deposit · 1 day without contact" in en.text


async def test_the_opener_quotes_only_this_clients_own_notes(harness: Harness) -> None:
    """Two agents; each client's opener is built from that client's notes alone (or says nothing of them)."""
    chat = await agent_chat(harness, 1001)
    other = await agent_chat(harness, 1002, language_code="en")
    day_ago = START - timedelta(days=2)  # new clients (3 days): crossing tomorrow
    own = {
        "王先生": {"needs": "三居 学区", "budget": "300万"},
        "李小姐": {"notes": "喜欢江景", "budget": "500万"},
        "赵总": {"needs": "写字楼"},
        "孙阿姨": {},
    }
    ids = {name: await add_client(harness, 1001, name, "new", day_ago, **details) for name, details in own.items()}
    await log(harness, ids["赵总"], ContactKind.WECHAT, day_ago, "嫌贵 想再看看")
    await add_client(harness, 1002, "Mr Zhang", "new", day_ago, needs="villa with garden", notes="hates noise")
    await run_engine_until(harness, START + timedelta(hours=2))
    [message] = warnings(chat)
    openers = {name: block_of(message, name) for name in own}
    assert "上次您提到“三居 学区”" not in openers["王先生"] and "想找“三居 学区”" in openers["王先生"]
    assert "“喜欢江景”" in openers["李小姐"]
    assert "上次我们聊到“嫌贵 想再看看”" in openers["赵总"] and "· 2 天没联系" in openers["赵总"]
    assert "孙阿姨您好！最近找房的事考虑得怎么样了？" in openers["孙阿姨"]
    everyone = ["三居", "学区", "300万", "江景", "500万", "写字楼", "嫌贵", "villa", "garden", "noise", "Zhang"]
    for name, block in openers.items():
        opener = next(line for line in block.split("\n") if line.startswith("✍️"))
        theirs = [*own[name].values(), "嫌贵 想再看看" if name == "赵总" else ""]
        leaked = [word for word in everyone if word in opener and not any(word in mine for mine in theirs if mine)]
        assert leaked == [], (name, opener)
        assert all(other_name not in opener for other_name in own if other_name != name)
    assert "💡 " in openers["王先生"]
    [english] = warnings(other)
    assert "you were looking for “villa with garden”" in english.text
    assert not any(word in english.text for word in ("三居", "江景", "嫌贵", "王先生"))


async def test_many_at_risk_lists_five_and_points_to_stale(harness: Harness) -> None:
    chat = await agent_chat(harness)
    for n in range(7):
        await add_client(harness, 1001, f"客户{n}", "new", START - timedelta(days=2, minutes=n))
    await run_engine_until(harness, START + timedelta(hours=2))
    [message] = warnings(chat)
    assert message.text.startswith("⏳ 快断联的客户\n有 7 位客户到明天就超过你定的天数没联系了")
    assert "……还有 2 位，发 /stale 查看全部。" in message.text
    assert [[label for label, _ in row] for row in message.buttons] == [
        [f"📞 已打给客户{n}", "⏰ 明天", "👤 名片"] for n in range(6, 1, -1)
    ]


# ---------------------------------------------------------------------------------------------- the buttons


async def test_the_buttons_log_a_call_remind_tomorrow_and_open_the_card(harness: Harness) -> None:
    chat = await agent_chat(harness)
    day_ago = START - timedelta(days=2)
    wang = await add_client(harness, 1001, "王先生", "new", day_ago, needs="三居")
    li = await add_client(harness, 1001, "李小姐", "new", day_ago - timedelta(hours=1))
    await add_client(harness, 1001, "<Tom & Co>", "new", day_ago + timedelta(hours=1))  # HTML's characters
    await run_engine_until(harness, START + timedelta(hours=2))  # Wed 25 Nov 10:00
    [message] = warnings(chat)
    assert "3. <Tom & Co> · 新客户" in message.text and "📞 已打给<Tom & Co>" in message.labels
    wang_call = message.data_for("📞 已打给王先生")
    reply = await chat.press("⏰ 明天", on=message)  # the first row: 李小姐, the longest without contact
    assert reply.texts == ["⏰ 好的，11月26日 周四 10:00 提醒你联系 李小姐。"]
    again = await chat.press("⏰ 明天", on=message)
    assert again.texts == ["⏰ 11月26日 周四 10:00 已经有联系 李小姐 的提醒了。"]
    async with harness.services.sessions() as session:
        [follow_up] = (await session.execute(select(FollowUp))).scalars()
    assert (follow_up.client_id, follow_up.due_at) == (li, datetime(2026, 11, 26, 2, 0, tzinfo=UTC))
    card = await chat.press("👤 名片", on=message)
    assert card.sent[0].text.startswith("👤 李小姐 · 新客户")
    reply = await chat.press("📞 已打给王先生", on=message)
    assert reply.toast == "📞 已记下：给 王先生 打了电话，重新开始计天。"
    [edited] = reply.edited
    assert "王先生" not in edited.text.split("\n\n", 1)[1] and "李小姐" in edited.text
    assert [label for label in edited.labels if label.startswith("📞")] == ["📞 已打给李小姐", "📞 已打给<Tom & Co>"]
    assert await contacts(harness, wang) == [(ContactKind.CALL, harness.clock.now())]
    harness.clock.advance(timedelta(seconds=5))
    await chat.press_data(wang_call, on=edited)  # a double tap: one call
    assert await contacts(harness, wang) == [(ContactKind.CALL, harness.clock.now() - timedelta(seconds=5))]
    # Forged, stale or another agent's: the polite notice, nothing logged.
    await agent_chat(harness, 1002)
    stranger = await add_client(harness, 1002, "外人", "new", day_ago)
    for data in (
        f"sw:call:{stranger}:all",
        "sw:call:99999:all",
        "sw:call:1:2026-13-01",
        "sw:later:abc",
        "sw:x:1",
        "sw:page:x",
    ):
        forged = await chat.press_data(data, on=edited)
        assert forged.toast == "这个按钮已经过期了，请用最新的消息操作。", data
    assert await contacts(harness, stranger) == []


# ---------------------------------------------------------------------------------------------- /stale


async def test_stale_lists_oldest_first_with_their_days(harness: Harness) -> None:
    chat = await agent_chat(harness)
    reply = await chat.send("/stale")
    assert reply.texts[0].startswith("✅ 没有快断联的客户")
    assert "新客户 3 · 意向 7 · 带看 3 · 下定 2 · 成交 30" in reply.texts[0]
    now = START  # Wed 25 Nov 09:00 Hong Kong
    await add_client(harness, 1001, "过期", "interested", now - timedelta(days=10))  # crossed Sun 22: 3 days past
    await add_client(harness, 1001, "今天", "viewing", now - timedelta(days=3))  # crosses today
    await add_client(harness, 1001, "明天", "deposit", now - timedelta(days=1))  # crosses tomorrow
    await add_client(harness, 1001, "后天", "viewing", now - timedelta(days=1))  # crosses Fri 27: not yet
    await add_client(harness, 1001, "还早", "closed", now - timedelta(days=20))  # crosses 15 Dec
    fine = await add_client(harness, 1001, "刚联系", "new", now - timedelta(days=9))
    await log(harness, fine, ContactKind.VIEWING, now - timedelta(hours=1))
    reply = await chat.send("/stale")
    lines = reply.texts[0].split("\n")
    assert lines[0] == "⏳ 快断联的客户（3 位），最久没联系的在前："
    assert lines[1:4] == [
        "1. 过期 · 意向 · 登记 10 天，还没联系过 · 已超期 3 天",
        "2. 今天 · 带看 · 登记 3 天，还没联系过 · 今天到期",
        "3. 明天 · 下定 · 登记 1 天，还没联系过 · 明天到期",
    ]
    assert [label for label in reply.last.labels if label.startswith("📞")] == [
        "📞 已打给过期",
        "📞 已打给今天",
        "📞 已打给明天",
    ]
    after = await chat.press("📞 已打给今天")
    assert "2. 明天 · 下定" in after.edited[0].text and "今天 · 带看" not in after.edited[0].text


async def test_stale_pages_ten_at_a_time_and_a_call_keeps_the_page(harness: Harness) -> None:
    chat = await agent_chat(harness)
    for n in range(12):  # all past the rule, 客户0 the longest without contact
        await add_client(harness, 1001, f"客户{n}", "new", START - timedelta(days=20 - n))
    first = (await chat.send("/stale")).last
    assert "第 1/2 页" in first.text and "10. 客户9 ·" in first.text and "客户10" not in first.text
    assert first.labels[-1] == "下一页 ▶️" and len(first.buttons) == 11
    second = (await chat.press("下一页 ▶️", on=first)).edited[0]
    assert second.text.split("\n")[1].startswith("11. 客户10 ·") and "第 2/2 页" in second.text
    assert second.labels[-1] == "◀️ 上一页"
    after = (await chat.press("📞 已打给客户10", on=second)).edited[0]
    assert "11. 客户11 ·" in after.text and "第 2/2 页" in after.text  # still on page 2
    after = (await chat.press("📞 已打给客户11", on=after)).edited[0]
    assert "1. 客户0 ·" in after.text and "/2 页" not in after.text and after.labels[-1] == "👤 名片"  # one page


# ---------------------------------------------------------------------------------------------- /settings


async def test_the_rule_is_changed_by_buttons_and_by_one_line(harness: Harness) -> None:
    chat = await agent_chat(harness)
    await chat.send("/settings")
    reply = await chat.press("⏳ 断联提醒")
    view = reply.edited[0]
    assert "到期前一天 10:00（你的跟进时间）" in view.text and "意向：7 天" in view.text
    rows = {row[1][0]: row for row in view.buttons if len(row) == 3}
    await chat.press_data(rows["意向：7 天"][2][1], on=view)  # ➕
    await chat.press_data(rows["下定：2 天"][0][1], on=view)  # ➖ at the fewest: off
    view = chat.messages()[-1]
    assert "意向：8 天" in view.text and "下定：不提醒" in view.text
    assert (await harness.agent()).stale_days == {"interested": 8, "deposit": None}
    # At a limit (➖ on a stage that is off, ➕ at 99 days, ↺ on the defaults) a press changes nothing, quietly.
    rows = {row[1][0]: row for row in view.buttons if len(row) == 3}
    reply = await chat.press_data(rows["下定：不提醒"][0][1], on=view)
    assert (reply.sent, reply.edited, reply.toast) == ([], [], None)
    assert (await harness.agent()).stale_days == {"interested": 8, "deposit": None}
    await chat.send("/settings stale closed 99")
    view = (await chat.press("⏳ 断联提醒", on=(await chat.send("/settings")).last)).edited[0]
    rows = {row[1][0]: row for row in view.buttons if len(row) == 3}
    reply = await chat.press_data(rows["成交：99 天"][2][1], on=view)
    assert (reply.sent, reply.edited) == ([], []) and "成交：99 天" in chat.messages()[-1].text
    reply = await chat.press("↺ 恢复默认", on=view)
    assert reply.edited[0].text.startswith("✅ 已恢复默认。") and (await harness.agent()).stale_days is None
    again = await chat.press("↺ 恢复默认", on=reply.edited[0])
    assert (again.sent, again.edited) == ([], []) and (await harness.agent()).stale_days is None
    reply = await chat.send("/settings stale 意向 10")
    assert reply.texts == [
        "✅ 已更新断联提醒：新客户 3 · 意向 10 · 带看 3 · 下定 2 · 成交 30\n下一次提醒就按新规则算。"
    ]
    await chat.send("/settings 断联 成交 off")
    assert (await harness.agent()).stale_days == {"interested": 10, "closed": None}
    for bad in ("/settings stale 意向 1", "/settings stale 流失 5", "/settings stale foo", "/settings stale 意向 十"):
        reply = await chat.send(bad)
        assert reply.texts[0].startswith("没看懂这个设置，什么都没改。"), bad
    assert (await harness.agent()).stale_days == {"interested": 10, "closed": None}
    await chat.send("/settings stale viewing 12days")
    assert (await harness.agent()).stale_days == {"interested": 10, "viewing": 12, "closed": None}
    reply = await chat.send("/settings stale Default")
    assert reply.texts[0].startswith("✅ 已更新断联提醒：新客户 3 · 意向 7 · 带看 3 · 下定 2 · 成交 30")
    assert (await harness.agent()).stale_days is None


async def test_the_rule_takes_effect_for_the_next_warning(harness: Harness) -> None:
    """Interested (7 days), registered Sat 21 Nov: crosses Sat 28, so Thursday's warning would not list her; with
    6 days she crosses Fri 27, and Thursday's does. With every stage off, no warning waits at all."""
    chat = await agent_chat(harness, language_code="en")
    assert await waiting_warnings(harness) == []  # no client, nothing to warn about
    await add_client(harness, 1001, "Ms Li", "interested", START - timedelta(days=4))
    assert [w.due_at for w in await waiting_warnings(harness)] == [datetime(2026, 11, 27, 2, 0, tzinfo=UTC)]
    await run_engine_until(harness, START + timedelta(hours=2))
    assert warnings(chat) == []
    reply = await chat.send("/settings stale interested 6")
    assert reply.texts[0].startswith("✅ Going-cold alert updated: New 3 · Interested 6 ·")
    await run_engine_until(harness, START + timedelta(days=1, hours=2))
    [message] = warnings(chat)
    assert "Ms Li · Interested · registered 5 days ago, no contact yet" in message.text
    await add_client(harness, 1001, "Mr Ho", "deposit", harness.clock.now())
    for stage in ("new", "interested", "viewing", "deposit", "closed"):
        await chat.send(f"/settings stale {stage} off")
    assert await waiting_warnings(harness) == []


async def test_every_button_prefix_belongs_to_one_module(harness: Harness) -> None:
    """The warning's (`sw`) and the rule's (`cr`) buttons reach their own handlers: no two share a prefix."""
    import re

    from telegram.ext import CallbackQueryHandler

    patterns = [
        handler.pattern.pattern
        for group in harness.app.handlers.values()
        for handler in group
        if isinstance(handler, CallbackQueryHandler) and isinstance(handler.pattern, re.Pattern)
    ]
    assert len(patterns) == len(set(patterns)) and {"^sw:", "^cr:"} <= set(patterns)

"""The team lead's view, the weekly team digest and /privacy, as the agents meet them.

A seeded team: a lead in Hong Kong and three agents, one of them in London, with reflections, clients and
follow-ups whose words, names and phone numbers are distinctive. The lead must see the right counts (each counted
here by hand from the seed, each agent's days in their own zone) and none of those words, names or numbers,
anywhere in what reaches the lead's chat: texts, captions, buttons and the chart's bytes. A lead who left gets
nothing; a member who is no lead gets no counts; /privacy names the lead.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot import recurring
from bot.agents import DEFAULT_DIGEST_TIME, DEFAULT_DIGEST_WEEKDAY
from bot.clients import ClientDraft, add_client, log_contact
from bot.followups import add_follow_up, mark_done
from bot.i18n import ZH_HANS
from bot.models import Agent, Delivery, Reflection, Team, TeamMember
from bot.statuses import ContactKind, DeliveryKind, DeliveryStatus, ReflectionStatus, Stage, TeamRole
from bot.team_view import MemberWeek, TeamWeek, team_digest_due, team_week
from bot.timezones import to_utc
from bot.week import Numbers, Week
from handlers.team_view import digest_caption
from runtime.delivery import engine_of
from runtime.local_api import LocalChat
from tests.handlers.test_onboarding import onboard
from tests.support import Harness, hold_back_other_kinds

HK, LONDON = "Asia/Hong_Kong", "Europe/London"
LEAD, WANG, LI, TOM, OUTSIDER = 3001, 3002, 3003, 3004, 3005
MON, TUE, WED = date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25)
LAST_FRI, LAST_SAT = date(2026, 11, 20), date(2026, 11, 21)
WED_EVENING = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # Wed 20:00 in Hong Kong, 12:00 in London
SUNDAY_TEAM_DIGEST = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)  # Sun 29 Nov 20:00 in Hong Kong

# What a lead must never see.
SECRETS = (
    "秘密心得甲客户嫌贵先问预算",
    "隐私的好事王先生约了带看",
    "London secret lesson about pricing",
    "王秘密先生",
    "李隐私女士",
    "赵归档总",
    "Secret Smith",
    "13812345678",
    "13987654321",
    "7700900123",
    "他的私人电话备注",
)


def hk(day: date, hour: int, minute: int = 0) -> datetime:
    return to_utc(day, time(hour, minute), HK)


def london(day: date, hour: int, minute: int = 0) -> datetime:
    return to_utc(day, time(hour, minute), LONDON)


def add_agent(session: AsyncSession, user_id: int, name: str, zone: str, now: datetime) -> Agent:
    agent = Agent(
        telegram_user_id=user_id,
        chat_id=user_id,
        display_name=name,
        language=ZH_HANS,
        timezone=zone,
        reflection_time=time(21),
        work_days="123456",
        digest_weekday=DEFAULT_DIGEST_WEEKDAY,
        digest_time=DEFAULT_DIGEST_TIME,
        tip_time=None,
        followup_time=time(10),
        setup_step=None,
        active=True,
        created_at=now,
        updated_at=now,
    )
    session.add(agent)
    return agent


def reflected(agent: Agent, day: date, at: datetime, **answers: Any) -> Reflection:
    return Reflection(
        agent_id=agent.id,
        day=day,
        status=ReflectionStatus.DONE,
        step=None,
        clients=2,
        mood=4,
        voice={},
        created_at=at,
        updated_at=at,
        completed_at=at,
        **answers,
    )


async def seed_team(harness: Harness) -> LocalChat:
    """The lead (onboarded in Hong Kong, digest Sunday 20:00) and three agents; returns the lead's chat."""
    lead_chat = harness.chat(user_id=LEAD, first_name="陈经理")
    await onboard(lead_chat)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    async with harness.services.sessions() as session, session.begin():
        lead = (await session.execute(select(Agent).where(Agent.telegram_user_id == LEAD))).scalar_one()
        assert lead.timezone == HK and (lead.digest_weekday, lead.digest_time) == (7, time(20))
        wang = add_agent(session, WANG, "小王", HK, start)
        li = add_agent(session, LI, "小李", LONDON, start)
        add_agent(session, TOM, "Tom", HK, start)
        add_agent(session, OUTSIDER, "路人甲", HK, start)
        team = Team(name="南山一组", created_at=start)
        session.add(team)
        await session.flush()
        for agent_id, role in ((lead.id, TeamRole.LEAD), (wang.id, TeamRole.MEMBER), (li.id, TeamRole.MEMBER)):
            session.add(TeamMember(agent_id=agent_id, team_id=team.id, role=role, joined_at=start))
        tom = (await session.execute(select(Agent).where(Agent.telegram_user_id == TOM))).scalar_one()
        session.add(TeamMember(agent_id=tom.id, team_id=team.id, role=TeamRole.MEMBER, joined_at=start))

        # 小王 (Hong Kong): reflections Fri, Sat of last week and Mon–Wed (Sunday is a day off): streak 5.
        for day in (LAST_FRI, LAST_SAT, MON, TUE):
            session.add(reflected(wang, day, hk(day, 21), lesson=f"{SECRETS[0]} {day}"))
        session.add(reflected(wang, WED, hk(WED, 19), lesson=SECRETS[0], went_well=SECRETS[1]))
        client_wang = await add_client(session, wang.id, ClientDraft(SECRETS[3], phone="+86" + SECRETS[7]), hk(MON, 9))
        client_wang.stage = Stage.VIEWING
        client_li = await add_client(session, wang.id, ClientDraft(SECRETS[4], phone="+86" + SECRETS[8]), hk(MON, 9))
        archived = await add_client(session, wang.id, ClientDraft(SECRETS[5]), hk(MON, 9))
        archived.archived = True
        await log_contact(session, client_wang, ContactKind.CALL, SECRETS[10] + SECRETS[7], hk(MON, 11))
        await log_contact(session, client_li, ContactKind.CALL, None, hk(MON, 15))
        await log_contact(session, client_li, ContactKind.WECHAT, SECRETS[10], hk(TUE, 11))
        done = await add_follow_up(session, wang, client_wang, hk(TUE, 10), SECRETS[10], hk(MON, 10))
        await mark_done(session, done, hk(TUE, 10, 30))
        await add_follow_up(session, wang, client_li, hk(TUE, 16), "回电话", hk(MON, 10))  # still open: overdue
        await add_follow_up(session, wang, client_li, hk(date(2026, 11, 27), 16), None, hk(MON, 10))  # not due yet

        # 小李 (London): one reflection (Tue); a contact late on Monday evening London time, which is Tuesday in
        # Hong Kong; a follow-up done late on Sunday 22 Nov London time (Monday in Hong Kong: not this week for her).
        session.add(reflected(li, TUE, london(TUE, 21), lesson=SECRETS[2]))
        smith = await add_client(session, li.id, ClientDraft(SECRETS[6], phone="+44" + SECRETS[9]), london(MON, 9))
        smith.stage = Stage.DEPOSIT
        await log_contact(session, smith, ContactKind.VISIT, None, london(MON, 23, 30))
        last_week = await add_follow_up(session, li, smith, london(date(2026, 11, 22), 20), None, london(MON, 9))
        await mark_done(session, last_week, london(date(2026, 11, 22), 23, 30))
        this_week = await add_follow_up(session, li, smith, london(WED, 9), None, london(MON, 9))
        await mark_done(session, this_week, london(WED, 9, 30))

        await recurring.reschedule(session, lead, harness.clock.now(), [recurring.TEAM_DIGEST])
    return lead_chat


async def waiting_team_digests(harness: Harness) -> list[datetime]:
    """When the team digests waiting in the engine are due (a lead has at most one)."""
    async with harness.services.sessions() as session:
        found = await session.execute(
            select(Delivery.due_at).where(
                Delivery.kind == DeliveryKind.TEAM_DIGEST, Delivery.status == DeliveryStatus.PENDING
            )
        )
        return list(found.scalars())


def assert_nothing_private_reached(harness: Harness, chat_id: int) -> None:
    """Every call the bot made to the lead's chat, with its texts, captions, buttons and files, holds no secret."""
    calls = [call for call in harness.api.calls if str(call.params.get("chat_id")) == str(chat_id)]
    assert calls
    for call in calls:
        files = call.params.get("__files__") or {}
        rest = {name: value for name, value in call.params.items() if name != "__files__"}
        blob = json.dumps(rest, ensure_ascii=False, default=str).encode()
        blob += b"".join(content for _name, content in files.values()) if isinstance(files, dict) else b""
        for secret in SECRETS:
            for encoded in (secret.encode(), secret.encode("utf-16-le"), secret.encode("utf-16-be")):
                assert encoded not in blob, (secret, call.method)
    for shown in harness.api.chat_messages(chat_id):
        everything = shown.text + shown.html + json.dumps(shown.buttons, ensure_ascii=False)
        assert not [secret for secret in SECRETS if secret in everything]
        if shown.file is not None:
            assert not [secret for secret in SECRETS if secret.encode() in shown.file[1]]


async def test_the_lead_sees_each_agents_counts_and_the_teams_chart_and_nothing_private(harness: Harness) -> None:
    lead = await seed_team(harness)
    harness.clock.set(WED_EVENING)
    reply = await lead.send("/team")
    chart, table = reply.sent
    assert chart.kind == "photo"
    assert chart.text.split("\n") == [
        "👥 南山一组 · 本周（11月23日–11月29日）",
        "✍️ 复盘 4 · ✅ 完成跟进 2 · ⏰ 逾期 1 · 📞 联系 4",
    ]
    _name, png = harness.api.files[(lead.chat_id, chart.message_id)]
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert table.text.split("\n\n") == [
        "⭐ 陈经理（负责人）\n✍️ 本周复盘 0 天 · 🔥 连续 0 天\n✅ 完成跟进 0 · ⏰ 逾期 0 · 📞 联系 0\n"
        "🗂 还没有登记客户\n🕒 最近活跃：还没有记录",
        "👤 Tom\n✍️ 本周复盘 0 天 · 🔥 连续 0 天\n✅ 完成跟进 0 · ⏰ 逾期 0 · 📞 联系 0\n"
        "🗂 还没有登记客户\n🕒 最近活跃：还没有记录",
        # London: her Sunday-night follow-up was last week; her Monday-night visit is this week's Monday.
        "👤 小李\n✍️ 本周复盘 1 天 · 🔥 连续 1 天\n✅ 完成跟进 1 · ⏰ 逾期 0 · 📞 联系 1\n"
        "🗂 客户 1 位：下定 1\n🕒 最近活跃：今天",
        "👤 小王\n✍️ 本周复盘 3 天 · 🔥 连续 5 天\n✅ 完成跟进 1 · ⏰ 逾期 1 · 📞 联系 3\n"
        "🗂 客户 2 位：新客户 1 · 带看 1\n🕒 最近活跃：今天",
    ]
    assert table.labels == ["⚙️ 团队周报时间", "🔄 刷新"]
    assert_nothing_private_reached(harness, lead.chat_id)


async def test_the_chart_sums_the_team_per_day_each_agent_in_their_own_zone(harness: Harness) -> None:
    await seed_team(harness)
    async with harness.services.sessions() as session:
        team_id = (await session.execute(select(Team.id))).scalar_one()
        found = await team_week(session, team_id, Week(MON), WED_EVENING)
    per_day = [(day.contacts, day.follow_ups_done, day.mood) for day in found.chart.days]
    # Mon: 小王's two calls and 小李's visit (Monday evening in London); Tue: a WeChat and 小王's follow-up done;
    # Wed: 小李's follow-up done (London morning). No mood: how someone felt is not a count for the lead.
    assert per_day == [(3, 0, None), (1, 1, None), (0, 1, None), (0, 0, None), (0, 0, None), (0, 0, None), (0, 0, None)]


async def test_counting_a_team_takes_the_same_few_statements_whatever_its_size(
    harness: Harness, engine: AsyncEngine
) -> None:
    await seed_team(harness)
    statements: list[str] = []

    def record(_connection: Any, _cursor: Any, sql: str, *_: Any) -> None:
        statements.append(sql)

    async def count() -> int:
        statements.clear()
        async with harness.services.sessions() as session:
            team_id = (await session.execute(select(Team.id))).scalar_one()
            statements.clear()
            await team_week(session, team_id, Week(MON), WED_EVENING)
        return len(statements)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        before = await count()
        async with harness.services.sessions() as session, session.begin():
            team_id = (await session.execute(select(Team.id))).scalar_one()
            for n in range(6):
                agent = add_agent(session, 4000 + n, f"新人{n}", HK, WED_EVENING)
                await session.flush()
                session.add(TeamMember(agent_id=agent.id, team_id=team_id, joined_at=WED_EVENING))
        after = await count()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    # members, reflections, stages, last activity; per zone (Hong Kong, London) follow-ups and contacts
    assert before == after == 8


async def test_the_weekly_team_digest_comes_at_the_leads_time_with_counts_only(harness: Harness) -> None:
    lead = await seed_team(harness)
    await hold_back_other_kinds(harness, DeliveryKind.TEAM_DIGEST)
    engine = engine_of(harness.app)
    harness.clock.set(SUNDAY_TEAM_DIGEST - timedelta(seconds=1))
    assert (await engine.sweep()).sent == 0
    harness.clock.set(SUNDAY_TEAM_DIGEST)
    assert (await engine.sweep()).sent == 1
    digest = harness.api.chat_messages(lead.chat_id)[-1]
    assert digest.kind == "photo"
    assert digest.text.split("\n") == [
        "📬 团队周报 · 南山一组（11月23日–11月29日）",
        "✍️ 复盘 4 · ✅ 完成跟进 2 · ⏰ 逾期 2 · 📞 联系 4",  # by Sunday, Friday's follow-up is overdue too
        "",
        "✍️ 复盘天数 🔥 连续天数 ✅ 完成跟进 ⏰ 逾期 📞 联系 🗂 客户",
        "陈经理：✍️0 🔥0 ✅0 ⏰0 📞0 🗂0",
        "Tom：✍️0 🔥0 ✅0 ⏰0 📞0 🗂0",
        "小李：✍️1 🔥0 ✅1 ⏰0 📞1 🗂1",  # Wed–Sat were work days without a reflection: the streak ended
        "小王：✍️3 🔥0 ✅1 ⏰2 📞3 🗂2",
    ]
    assert digest.labels == ["👥 查看团队", "⚙️ 团队周报时间"]
    assert_nothing_private_reached(harness, lead.chat_id)
    # The next one is waiting for next Sunday; 👥 opens the full view.
    assert await waiting_team_digests(harness) == [SUNDAY_TEAM_DIGEST + timedelta(days=7)]
    opened = await lead.press("👥 查看团队", digest)
    assert [shown.kind for shown in opened.sent] == ["photo", "text"]
    assert_nothing_private_reached(harness, lead.chat_id)


async def test_the_lead_chooses_the_team_digest_day_and_time(harness: Harness) -> None:
    lead = await seed_team(harness)
    harness.clock.set(WED_EVENING)
    table = (await lead.send("/team")).sent[-1]
    (asked,) = (await lead.press("⚙️ 团队周报时间", table)).sent
    assert asked.text == "📬 团队周报哪天发给你？现在是：跟你的周小结一起（每周日 20:00）。"
    assert "✓ 跟我的周小结一起" in asked.labels
    await lead.press("周五", asked)
    assert asked.text == "📬 周五几点发？"
    await lead.press("18:00", asked)
    assert asked.text == "✅ 好的，团队周报：每周五 18:00。下一次：11月27日 周五 18:00。"
    assert await waiting_team_digests(harness) == [hk(date(2026, 11, 27), 18)]
    async with harness.services.sessions() as session:
        member = (await session.execute(select(TeamMember).where(TeamMember.role == TeamRole.LEAD))).scalar_one()
    assert (member.team_digest_weekday, member.team_digest_time) == (5, time(18))
    (again,) = (await lead.press("⚙️ 团队周报时间", table)).sent
    await lead.press("跟我的周小结一起", again)
    assert again.text == "✅ 好的，团队周报：跟你的周小结一起（每周日 20:00）。下一次：11月29日 周日 20:00。"
    assert await waiting_team_digests(harness) == [SUNDAY_TEAM_DIGEST]


async def test_with_the_leads_own_digest_it_moves_when_the_lead_moves_theirs(harness: Harness) -> None:
    lead = await seed_team(harness)
    assert await waiting_team_digests(harness) == [SUNDAY_TEAM_DIGEST]
    await lead.send("/settings digest sat 18:00")
    assert await waiting_team_digests(harness) == [hk(date(2026, 11, 28), 18)]
    await lead.send("/settings tz Europe/London")
    assert await waiting_team_digests(harness) == [london(date(2026, 11, 28), 18)]


async def test_a_lead_removed_from_the_team_gets_no_view_and_no_digest(harness: Harness) -> None:
    lead = await seed_team(harness)
    async with harness.services.sessions() as session, session.begin():
        agent = (await session.execute(select(Agent).where(Agent.telegram_user_id == LEAD))).scalar_one()
        await session.execute(delete(TeamMember).where(TeamMember.agent_id == agent.id))
    harness.clock.set(WED_EVENING)
    (line,) = (await lead.send("/team")).sent
    assert line.text == "你现在不在任何团队里。想加入团队，请向团队负责人要一个邀请链接。"
    await hold_back_other_kinds(harness, DeliveryKind.TEAM_DIGEST)
    harness.clock.set(SUNDAY_TEAM_DIGEST)
    assert (await engine_of(harness.app).sweep()).sent == 0
    assert await waiting_team_digests(harness) == []
    assert [shown.kind for shown in harness.api.chat_messages(lead.chat_id)].count("photo") == 0
    # An old button of the view answers with the same line, and shows nothing.
    pressed = await lead.press_data("tv:show:-")
    assert (pressed.sent, pressed.toast) == ([], "团队数据只有团队负责人能看。想知道谁能看到你的数据，请发 /privacy。")


async def test_a_member_who_is_no_lead_gets_no_counts(harness: Harness) -> None:
    await seed_team(harness)
    wang = harness.chat(user_id=WANG, first_name="小王")
    (line,) = (await wang.send("/team")).sent
    assert line.text == "👥 你在团队「南山一组」里。"  # their team, and no one's counts
    leads_only = "团队数据只有团队负责人能看。想知道谁能看到你的数据，请发 /privacy。"
    for data in ("tv:show:-", "tv:set:-", "tv:day:5", "tv:time:5:18.00", "tv:same:-"):
        reply = await wang.press_data(data)
        assert (reply.sent, reply.edited, reply.toast) == ([], [], leads_only)
    async with harness.services.sessions() as session:
        rows = (await session.execute(select(TeamMember.team_digest_weekday, TeamMember.team_digest_time))).all()
    assert set(rows) == {(None, None)}


async def test_forged_and_stale_buttons_change_nothing(harness: Harness) -> None:
    lead = await seed_team(harness)
    forged = ("tv:time:9:18.00", "tv:time:5:25.00", "tv:day:0", "tv:day:x", "tv:show", "tv:nope:-", "tv:" + "9" * 70)
    for data in forged:
        reply = await lead.press_data(data)
        assert (reply.sent, reply.edited, reply.toast) == ([], [], "这个按钮已经过期了，请用最新的消息操作。")
    async with harness.services.sessions() as session:
        rows = (await session.execute(select(TeamMember.team_digest_weekday, TeamMember.team_digest_time))).all()
    assert set(rows) == {(None, None)}


async def test_privacy_names_the_leads_and_what_they_see(harness: Harness) -> None:
    lead = await seed_team(harness)
    wang = harness.chat(user_id=WANG, first_name="小王")
    (shown,) = (await wang.send("/privacy")).sent
    assert "你在团队“南山一组”。能看到你的统计数字的，是团队负责人：陈经理。" in shown.text
    assert "负责人看不到的：你写的复盘内容、客户的名字和电话、任何备注。" in shown.text
    assert "/export" in shown.text and "/delete_me" in shown.text and "管理员" in shown.text
    (own,) = (await lead.send("/privacy")).sent
    assert "你是团队“南山一组”的负责人" in own.text and "团队里没有其他负责人" in own.text
    outsider = harness.chat(user_id=OUTSIDER, first_name="路人甲")
    (alone,) = (await outsider.send("/privacy")).sent
    assert "你不在任何团队里" in alone.text


async def test_privacy_in_english_and_traditional_chinese(harness: Harness) -> None:
    await seed_team(harness)
    async with harness.services.sessions() as session, session.begin():
        for user_id, language in ((WANG, "en"), (LI, "zh-Hant")):
            agent = (await session.execute(select(Agent).where(Agent.telegram_user_id == user_id))).scalar_one()
            agent.language = language
    (english,) = (await harness.chat(user_id=WANG, first_name="小王").send("/privacy")).sent
    assert "You are in the team “南山一组”. Your numbers are seen by its leads: 陈经理." in english.text
    (hant,) = (await harness.chat(user_id=LI, first_name="小李").send("/privacy")).sent
    assert "你在團隊「南山一組」" not in hant.text  # the team's own name is not converted
    assert "你在團隊「南山一组」。看得到你統計數字的，是團隊負責人：陳經理。" not in hant.text
    assert "看得到你統計數字的，是團隊負責人：陈经理。" in hant.text


def test_the_team_digest_follows_the_leads_zone_across_a_clock_change() -> None:
    lead = Agent(timezone=LONDON, digest_weekday=7, digest_time=time(20))
    member = TeamMember(team_digest_weekday=None, team_digest_time=None)
    # London: Sunday 18 Oct 2026 is summer time (UTC+1), Sunday 25 Oct winter time (UTC+0): 20:00 local both times.
    assert team_digest_due(lead, member, datetime(2026, 10, 12, tzinfo=UTC)) == datetime(2026, 10, 18, 19, tzinfo=UTC)
    assert team_digest_due(lead, member, datetime(2026, 10, 19, tzinfo=UTC)) == datetime(2026, 10, 25, 20, tzinfo=UTC)
    member.team_digest_weekday, member.team_digest_time = 1, time(9)
    assert team_digest_due(lead, member, datetime(2026, 10, 12, tzinfo=UTC)) == datetime(2026, 10, 12, 8, tzinfo=UTC)
    assert team_digest_due(lead, member, datetime(2026, 10, 20, tzinfo=UTC)) == datetime(2026, 10, 26, 9, tzinfo=UTC)


def test_a_big_teams_digest_fits_a_caption_and_counts_who_is_left_out() -> None:
    week = Week(MON)
    members = tuple(
        MemberWeek(agent_id=n, name=f"经纪人{n:02d}号" + "长" * 20, lead=n == 0, reflections_done=n % 6)
        for n in range(60)
    )
    found = TeamWeek("大团队", week, members, Numbers(week=week))
    text = digest_caption(found, ZH_HANS, WED)
    assert len(text) <= 1024
    shown = [line for line in text.split("\n") if line.startswith("经纪人")]
    assert 5 < len(shown) < 60
    assert text.endswith(f"……还有 {60 - len(shown)} 位成员，点“👥 查看团队”看全部。")


async def test_an_english_lead_reads_the_view_in_english(harness: Harness) -> None:
    lead = await seed_team(harness)
    await lead.send("/settings lang en")
    harness.clock.set(WED_EVENING)
    chart, table = (await lead.send("/team")).sent
    assert chart.text.split("\n")[0] == "👥 南山一组 · this week (23 Nov – 29 Nov)"
    assert table.text.split("\n\n")[2:] == [
        "👤 小李\n✍️ Reflected 1 day this week · 🔥 streak: 1\n✅ Follow-ups done: 1 · ⏰ overdue: 0 · 📞 contacts: 1\n"
        "🗂 1 client: Deposit 1\n🕒 Last active: today",
        "👤 小王\n✍️ Reflected 3 days this week · 🔥 streak: 5\n✅ Follow-ups done: 1 · ⏰ overdue: 1 · 📞 contacts: 3\n"
        "🗂 2 clients: New 1 · Viewing 1\n🕒 Last active: today",
    ]
    assert table.labels == ["⚙️ Team digest time", "🔄 Refresh"]


async def test_the_start_up_check_schedules_a_missing_team_digest_for_leads_only(harness: Harness) -> None:
    await seed_team(harness)
    async with harness.services.sessions() as session, session.begin():
        await session.execute(delete(Delivery).where(Delivery.kind == DeliveryKind.TEAM_DIGEST))
    assert await waiting_team_digests(harness) == []
    await recurring.ensure_scheduled(harness.services.sessions, harness.clock.now())
    assert await waiting_team_digests(harness) == [SUNDAY_TEAM_DIGEST]
    await recurring.ensure_scheduled(harness.services.sessions, harness.clock.now())
    assert await waiting_team_digests(harness) == [SUNDAY_TEAM_DIGEST]  # one, however often it runs


async def test_idle_days_are_counted_in_the_members_own_zone(harness: Harness) -> None:
    await seed_team(harness)
    # Saturday 28 Nov 07:30 in Hong Kong is still Friday 27 Nov in London (23:30).
    async with harness.services.sessions() as session:
        team_id = (await session.execute(select(Team.id))).scalar_one()
        found = await team_week(session, team_id, Week(MON), datetime(2026, 11, 27, 23, 30, tzinfo=UTC))
    idle = {member.name: (member.last_active, member.idle_days) for member in found.members}
    assert idle == {
        "陈经理": (None, None),
        "Tom": (None, None),
        "小李": (WED, 2),  # her last: the follow-up done on Wednesday morning, London time; now Friday there
        "小王": (WED, 3),  # his last: Wednesday's reflection; now Saturday in Hong Kong
    }


async def test_the_team_digest_may_go_on_monday_or_sunday(harness: Harness) -> None:
    """The week's two ends are days like the others (ISO 1 and 7)."""
    lead = await seed_team(harness)
    harness.clock.set(WED_EVENING)
    table = (await lead.send("/team")).sent[-1]
    for day, weekday in (("周一", 1), ("周日", 7)):
        (asked,) = (await lead.press("⚙️ 团队周报时间", table)).sent
        await lead.press(day, asked)
        await lead.press("18:00", asked)
        assert asked.text.startswith(f"✅ 好的，团队周报：每{day} 18:00。"), asked.text
        async with harness.services.sessions() as session:
            member = (await session.execute(select(TeamMember).where(TeamMember.role == TeamRole.LEAD))).scalar_one()
        assert (member.team_digest_weekday, member.team_digest_time) == (weekday, time(18))

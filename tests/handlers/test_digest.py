"""The weekly digest and the draft 周工作总结 through the handlers, as an agent meets them: /digest and /digest last,
the scheduled digest at the agent's time, the buttons (📝 draft, 📊 last week, ⚙️ digest time), /summary with its
.docx and .md files, a brand-new agent's empty week, and that nothing of another agent or any phone number leaks.

The week is seeded through the domain (real rows on both backends, at chosen instants); every expected number below
is counted by hand from the seed, not by the code under test.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from docx import Document
from sqlalchemy import select

from bot.chart import render_week_chart
from bot.chart_ahead import ChartCache, render_ahead
from bot.clients import ClientDraft, add_client, log_contact
from bot.followups import add_follow_up, mark_done
from bot.history import record_stage_move
from bot.models import Agent, Client, Delivery, Reflection
from bot.statuses import ContactKind, DeliveryKind, ReflectionStatus, Stage
from bot.timezones import to_utc
from bot.tip_library import library
from bot.week import Numbers
from handlers import digest
from runtime.delivery import engine_of
from runtime.local_api import LocalChat, Shown
from tests.handlers.test_onboarding import onboard
from tests.support import Harness, hold_back_other_kinds

ZONE = "Asia/Hong_Kong"  # onboarding's second city
MON, TUE, WED = date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25)
LAST_TUE, LAST_WED = date(2026, 11, 17), date(2026, 11, 18)
SUNDAY_DIGEST = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)  # Sun 29 Nov 20:00 in Hong Kong
WED_EVENING = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # Wed 25 Nov 20:00 in Hong Kong

LESSON_MON = "先听客户说完再推荐房子"
LESSON_TUE = "客户说贵的时候，先问清楚预算再推荐，别急着降价"
LESSON_WED = "带看前一天再确认一次时间"
OTHER_AGENTS_LESSON = "另一位经纪人的秘密心得"
PHONE = "13800138000"
OTHER_PHONE = "13900139000"


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return to_utc(day, time(hour, minute), ZONE)


async def new_agent(harness: Harness, user_id: int = 1001, language: str = "简体中文") -> LocalChat:
    chat = harness.chat(user_id=user_id)
    await onboard(chat, language=language)
    agent = await harness.agent(user_id)
    assert (agent.timezone, agent.digest_weekday, agent.digest_time) == (ZONE, 7, time(20, 0))
    return chat


async def reflect(session, agent: Agent, day: date, clients: int, mood: int, **answers: str) -> None:  # type: ignore[no-untyped-def]
    moment = at(day, 21, 30)
    session.add(
        Reflection(
            agent_id=agent.id,
            day=day,
            status=ReflectionStatus.DONE,
            step=None,
            clients=clients,
            mood=mood,
            voice={},
            created_at=moment,
            updated_at=moment,
            completed_at=moment,
            **answers,
        )
    )


async def seed_week(harness: Harness, user_id: int = 1001) -> None:
    """This week (Mon 23 – Sun 29 Nov) and a little of last week, for one agent in Hong Kong."""
    async with harness.services.sessions() as session, session.begin():
        agent = (await session.execute(select(Agent).where(Agent.telegram_user_id == user_id))).scalar_one()
        # Last week: one reflection, one client, one call, one follow-up done on time.
        await reflect(session, agent, LAST_TUE, clients=1, mood=3, lesson="上周的心得")
        chen = await add_client(session, agent.id, ClientDraft("陈先生"), at(LAST_WED, 10))
        await log_contact(session, chen, ContactKind.CALL, "问了学区", at(LAST_WED, 11))
        # This week: three reflections, three new clients (one archived), four contacts, three stage moves.
        await reflect(
            session,
            agent,
            MON,
            clients=3,
            mood=4,
            lesson=LESSON_MON,
            went_well="王先生约了周六带看",
            to_improve="电话开场太急",
            tomorrow="给李姐发三套两居",
        )
        await reflect(session, agent, TUE, clients=2, mood=2, lesson=LESSON_TUE, tomorrow="整理带看路线")
        await reflect(session, agent, WED, clients=4, mood=3, lesson=LESSON_WED)
        wang = await add_client(session, agent.id, ClientDraft("王先生", phone="+86" + PHONE), at(MON, 10))
        li = await add_client(session, agent.id, ClientDraft("李姐"), at(TUE, 10))
        zhao = await add_client(session, agent.id, ClientDraft("赵总"), at(WED, 10))
        zhao.archived = True
        await log_contact(session, wang, ContactKind.CALL, f"他的电话 {PHONE}", at(MON, 11))
        await log_contact(session, li, ContactKind.WECHAT, None, at(TUE, 11))
        await log_contact(session, li, ContactKind.CALL, None, at(WED, 11))
        await log_contact(session, wang, ContactKind.VISIT, None, at(WED, 15))
        await record_stage_move(session, wang, Stage.NEW, Stage.VIEWING, at(MON, 12))
        await record_stage_move(session, li, Stage.NEW, Stage.VIEWING, at(TUE, 12))
        await record_stage_move(session, chen, Stage.VIEWING, Stage.CLOSED, at(WED, 12))
        # Follow-ups: one done on time (same day), one done a day late, one still overdue, one booked next week.
        on_time = await add_follow_up(session, agent, wang, at(MON, 15), "回电话", at(MON, 10))
        await mark_done(session, on_time, at(MON, 16))
        late = await add_follow_up(session, agent, li, at(TUE, 10), None, at(MON, 10))
        await mark_done(session, late, at(WED, 9))
        await add_follow_up(session, agent, chen, at(TUE, 18), "签约", at(MON, 10))
        await add_follow_up(session, agent, wang, at(date(2026, 12, 1), 10), "带看新房", at(WED, 10))


async def seed_other_agent(harness: Harness) -> None:
    await new_agent(harness, user_id=2002)
    async with harness.services.sessions() as session, session.begin():
        other = (await session.execute(select(Agent).where(Agent.telegram_user_id == 2002))).scalar_one()
        await reflect(session, other, TUE, clients=9, mood=5, lesson=OTHER_AGENTS_LESSON)
        client = await add_client(session, other.id, ClientDraft("钱女士", phone="+86" + OTHER_PHONE), at(TUE, 9))
        await log_contact(session, client, ContactKind.VIEWING, None, at(TUE, 10))


def lines_of(shown: Shown) -> list[str]:
    return shown.text.split("\n")


FOLLOW_UP_TITLES = {
    library().words(tip, lang).title for tip in library().tips_in("follow-up") for lang in ("zh-Hans", "en", "zh-Hant")
}


# ---------------------------------------------------------------------------------------------- /digest


async def test_digest_shows_the_weeks_numbers_beside_last_weeks_with_the_chart(harness: Harness) -> None:
    chat = await new_agent(harness)
    await seed_other_agent(harness)
    await seed_week(harness)
    harness.clock.set(WED_EVENING)
    reply = await chat.send("/digest")
    (digest,) = reply.sent
    assert digest.kind == "photo"
    assert lines_of(digest)[:9] == [
        "📊 本周小结（11月23日–11月29日）",
        "✍️ 复盘 3 天（上周 1） · 🔥 连续 3 天",
        "👥 接待客户 9 位（上周 1）",
        "🆕 新登记客户 3 位（上周 1）",
        "📞 联系客户 4 次（上周 1）：电话 2 · 微信 1 · 到访 1",
        "✅ 完成跟进 2 条（上周 0）：按时 1 · 晚了 1",
        "⏰ 仍逾期 1 条：陈先生",
        "🔀 阶段推进：2 位 → 带看 · 1 位 → 成交",
        "🙂 平均心情 3.0/5（上周 3.0）",
    ]
    assert lines_of(digest)[9:13] == [
        "",
        "💡 本周心得",
        f"· 周一：{LESSON_MON}",
        f"· 周二：{LESSON_TUE}",
    ]
    assert f"· 周三：{LESSON_WED}" in lines_of(digest)
    assert any(line.removeprefix("🎯 下周一条建议：") in FOLLOW_UP_TITLES for line in lines_of(digest))
    assert len(digest.text) <= 1024
    assert digest.labels[:3] == ["📝 起草本周总结", "📊 上周", "⚙️ 小结时间"]
    _name, png = harness.api.files[(chat.chat_id, digest.message_id)]
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert OTHER_AGENTS_LESSON not in digest.text and PHONE not in digest.text


async def test_last_week_and_the_week_before(harness: Harness) -> None:
    chat = await new_agent(harness)
    await seed_week(harness)
    harness.clock.set(WED_EVENING)
    (digest,) = (await chat.send("/digest last")).sent
    assert lines_of(digest)[:5] == [
        "📊 周小结（11月16日–11月22日）",
        "✍️ 复盘 1 天（上周 0） · 🔥 连续 0 天",  # Wed–Sat of that week were work days without one
        "👥 接待客户 1 位（上周 0）",
        "🆕 新登记客户 1 位（上周 0）",
        "📞 联系客户 1 次（上周 0）：电话 1",
    ]
    assert digest.labels[:3] == ["📝 起草这周的总结", "📊 再往前一周", "⚙️ 小结时间"]
    (before,) = (await chat.press("📊 再往前一周", digest)).sent
    assert before.kind == "text" and before.text == "📭 11月9日–11月15日 这一周没有记录。"
    (again,) = (await chat.send("/digest 上周")).sent
    assert lines_of(again)[0] == "📊 周小结（11月16日–11月22日）"


@pytest.mark.parametrize(
    ("command", "language", "expected"),
    [
        (
            "/settings lang en",
            "en",
            [
                "📊 Your week so far (23 Nov – 29 Nov)",
                "✍️ Reflected on 3 days (last week 1) · 🔥 streak 3",
                "👥 9 clients received (last week 1)",
                "🆕 3 new clients registered (last week 1)",
                "📞 4 contacts (last week 1): 2 calls · 1 WeChat message · 1 visit",
                "✅ 2 follow-ups done (last week 0): 1 on time · 1 late",
                "⏰ 1 follow-up still overdue: 陈先生",
                "🔀 Moved on: 2 → Viewing · 1 → Closed",
                "🙂 Mood 3.0/5 on average (last week 3.0)",
            ],
        ),
        (
            "/settings lang zh-Hant",
            "zh-Hant",
            [
                "📊 本週小結（11月23日–11月29日）",
                "✍️ 復盤 3 天（上週 1） · 🔥 連續 3 天",
                "👥 接待客戶 9 位（上週 1）",
                "🆕 新登記客戶 3 位（上週 1）",
                "📞 聯絡客戶 4 次（上週 1）：電話 2 · 微信 1 · 到訪 1",
                "✅ 完成跟進 2 條（上週 0）：按時 1 · 晚了 1",
                "⏰ 仍逾期 1 條：陈先生",  # a name stays as the agent typed it
                "🔀 階段推進：2 位 → 帶看 · 1 位 → 成交",
                "🙂 平均心情 3.0/5（上週 3.0）",
            ],
        ),
    ],
)
async def test_the_digest_in_english_and_traditional_chinese(
    harness: Harness, command: str, language: str, expected: list[str]
) -> None:
    chat = await new_agent(harness)
    await seed_week(harness)
    await chat.send(command)
    harness.clock.set(WED_EVENING)
    (digest,) = (await chat.send("/digest")).sent
    assert lines_of(digest)[:9] == expected


async def test_a_brand_new_agent_gets_one_honest_line_and_a_short_draft(harness: Harness) -> None:
    chat = await new_agent(harness)
    (digest,) = (await chat.send("/digest")).sent
    assert digest.kind == "text"
    assert digest.text.startswith("📭 本周（11月23日–11月29日）还没有记录。")
    reply = await chat.send("/summary")
    *messages, docx, md = reply.sent
    assert (docx.kind, md.kind) == ("document", "document")
    draft = "\n".join(m.text for m in messages)
    assert len(draft.split("\n")) <= 12
    assert "本周工作" not in draft and "0" not in draft.replace("11月", "").replace("29日", "")  # no zero counts


# ---------------------------------------------------------------------------------------------- the schedule


async def test_the_sunday_digest_comes_once_at_the_agents_time(harness: Harness) -> None:
    chat = await new_agent(harness)
    await seed_week(harness)
    await hold_back_other_kinds(harness, DeliveryKind.DIGEST)
    engine = engine_of(harness.app)
    harness.clock.set(SUNDAY_DIGEST - timedelta(seconds=1))
    assert (await engine.sweep()).sent == 0
    harness.clock.set(SUNDAY_DIGEST)
    assert (await engine.sweep()).sent == 1
    digest = chat.messages()[-1]
    assert digest.kind == "photo" and lines_of(digest)[0] == "📊 本周小结（11月23日–11月29日）"
    assert (await engine.sweep()).sent == 0
    async with harness.services.sessions() as session:
        waiting = (
            (
                await session.execute(
                    select(Delivery.due_at).where(Delivery.kind == DeliveryKind.DIGEST, Delivery.status == "pending")
                )
            )
            .scalars()
            .all()
        )
    assert waiting == [SUNDAY_DIGEST + timedelta(days=7)]


# ---------------------------------------------------------------------------------------------- buttons


async def test_the_buttons_draft_go_back_and_change_the_time(harness: Harness) -> None:
    chat = await new_agent(harness)
    await seed_week(harness)
    harness.clock.set(WED_EVENING)
    (digest,) = (await chat.send("/digest")).sent
    drafted = await chat.press("📝 起草本周总结", digest)
    assert [m.kind for m in drafted.sent[-2:]] == ["document", "document"]
    (last,) = (await chat.press("📊 上周", digest)).sent
    assert lines_of(last)[0] == "📊 周小结（11月16日–11月22日）"
    question = (await chat.press("⚙️ 小结时间", digest)).sent[-1]
    assert "周日" in " ".join(question.labels)
    await chat.press("周五", question)
    await chat.press("18:00")
    agent = await harness.agent()
    assert (agent.digest_weekday, agent.digest_time) == (5, time(18, 0))


@pytest.mark.parametrize(
    "data",
    ["dg:week:2026-11-24", "dg:week:2026-12-07", "dg:sum:2026-13-01", "dg:week", "dg:set:x", "dg:nope:2026-11-23"],
)
async def test_a_forged_or_stale_button_changes_nothing(harness: Harness, data: str) -> None:
    chat = await new_agent(harness)
    harness.clock.set(WED_EVENING)
    reply = await chat.press_data(data)
    assert reply.sent == [] and reply.toast is not None


@pytest.mark.parametrize("typed", ["/digest foo", "/summary 下下周", "/digest " + "长" * 500])
async def test_words_after_the_command_that_mean_nothing_get_the_usage(harness: Harness, typed: str) -> None:
    chat = await new_agent(harness)
    command = typed.split()[0]
    (answer,) = (await chat.send(typed)).sent
    assert f"{command} last" in answer.text and len(answer.text) < 300


# ---------------------------------------------------------------------------------------------- /summary


async def test_the_draft_holds_the_numbers_the_lessons_and_nothing_else(harness: Harness) -> None:
    chat = await new_agent(harness)
    await seed_other_agent(harness)
    await seed_week(harness)
    harness.clock.set(WED_EVENING)
    reply = await chat.send("/summary")
    *messages, docx, md = reply.sent
    text = "\n".join(m.text for m in messages)
    assert docx.text.startswith("📎") and docx.kind == md.kind == "document"
    docx_name, docx_bytes = harness.api.files[(chat.chat_id, docx.message_id)]
    md_name, md_bytes = harness.api.files[(chat.chat_id, md.message_id)]
    assert docx_name.endswith(".docx") and md_name.endswith(".md")
    document = "\n".join(p.text for p in Document(io.BytesIO(docx_bytes)).paragraphs)
    markdown = md_bytes.decode()
    for body in (text, document, markdown):
        assert LESSON_MON in body and LESSON_WED in body
        assert "给李姐发三套两居" in body or "整理带看路线" in body
        assert "王先生" in body  # the follow-up booked next week
        assert OTHER_AGENTS_LESSON not in body and "钱女士" not in body
        assert PHONE not in body and OTHER_PHONE not in body


# ---------------------------------------------------------------------------------------------- drawn ahead


def pngs(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.png"))


async def draw_now(numbers: Numbers, language: str) -> bytes:
    """The real chart, drawn in this process (the worker pool is ChartRenderer's own test)."""
    return render_week_chart(numbers, language)


async def test_charts_are_drawn_ahead_and_the_digest_takes_its_own(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat = await new_agent(harness)
    await new_agent(harness, user_id=2002)  # an empty week: one line, no chart to draw
    await seed_week(harness)
    await hold_back_other_kinds(harness, DeliveryKind.DIGEST)
    ahead = ChartCache(tmp_path)
    monkeypatch.setattr(digest, "_ahead", ahead)
    sessions = harness.services.sessions
    # Three hours before: not yet (the horizon is two); an hour and a half before: this agent's chart only.
    assert await render_ahead(sessions, draw_now, ahead, SUNDAY_DIGEST - timedelta(hours=3)) == 0
    assert await render_ahead(sessions, draw_now, ahead, SUNDAY_DIGEST - timedelta(minutes=90)) == 1
    assert await render_ahead(sessions, draw_now, ahead, SUNDAY_DIGEST - timedelta(minutes=89)) == 0
    (drawn,) = pngs(tmp_path)
    agent = await harness.agent()
    assert drawn.name.startswith(f"{agent.id}-2026-11-23-")
    png = drawn.read_bytes()
    harness.clock.set(SUNDAY_DIGEST)
    assert (await engine_of(harness.app).sweep()).sent == 2
    digest_message = next(m for m in chat.messages() if m.kind == "photo")
    assert harness.api.files[(chat.chat_id, digest_message.message_id)][1] == png
    assert pngs(tmp_path) == []  # taken


async def test_a_chart_drawn_before_the_agent_logged_more_is_drawn_again(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat = await new_agent(harness)
    await seed_week(harness)
    await hold_back_other_kinds(harness, DeliveryKind.DIGEST)
    ahead = ChartCache(tmp_path)
    monkeypatch.setattr(digest, "_ahead", ahead)
    assert await render_ahead(harness.services.sessions, draw_now, ahead, SUNDAY_DIGEST - timedelta(hours=1)) == 1
    (drawn,) = pngs(tmp_path)
    async with harness.services.sessions() as session, session.begin():
        [wang] = [client for client in (await session.scalars(select(Client))).all() if client.name == "王先生"]
        await log_contact(session, wang, ContactKind.CALL, None, at(date(2026, 11, 29), 19))
    harness.clock.set(SUNDAY_DIGEST)
    assert (await engine_of(harness.app).sweep()).sent == 1
    sent = chat.messages()[-1]
    assert lines_of(sent)[4] == "📞 联系客户 5 次（上周 1）：电话 3 · 微信 1 · 到访 1"
    assert harness.api.files[(chat.chat_id, sent.message_id)][1] != drawn.read_bytes()


async def test_the_folder_holds_at_most_its_limit_soonest_first(harness: Harness, tmp_path: Path) -> None:
    await new_agent(harness)
    await new_agent(harness, user_id=2002)
    await seed_week(harness)
    await seed_week(harness, user_id=2002)
    second = await harness.agent(2002)
    await new_agent(harness, user_id=3003)
    async with harness.services.sessions() as session, session.begin():
        # The second agent's digest an hour earlier: theirs is drawn first.
        digest_row = (
            await session.execute(select(Delivery).where(Delivery.agent_id == second.id, Delivery.kind == "digest"))
        ).scalar_one()
        digest_row.due_at = SUNDAY_DIGEST - timedelta(hours=1)
    ahead = ChartCache(tmp_path, limit=1)
    assert await render_ahead(harness.services.sessions, draw_now, ahead, SUNDAY_DIGEST - timedelta(hours=1)) == 1
    (drawn,) = pngs(tmp_path)
    assert drawn.name.startswith(f"{second.id}-")


async def test_the_drafts_numbers_are_the_weeks(harness: Harness) -> None:
    chat = await new_agent(harness)
    await seed_week(harness)
    harness.clock.set(WED_EVENING)
    draft = (await chat.send("/summary")).sent[0].text
    did = draft.split("本周工作\n")[1].split("\n\n")[0]
    assert did.split("\n") == [
        "• 完成每日复盘 3 次（上周 1）。",
        "• 已连续复盘 3 个工作日。",
        "• 接待客户 9 位（上周 1）。",
        "• 新登记客户 3 位（上周 1）。",
        "• 联系客户 4 次（上周 1）：电话 2 次、微信 1 次、到访 1 次。",
        "• 完成跟进 2 次（上周 0），其中按时 1 次、逾期后完成 1 次。",
        "• 客户阶段变化：带看 2 位、成交 1 位。",
    ]
    assert "• 还有 1 个跟进逾期未完成（客户：陈先生）。" in draft
    assert "• 周二 10:00 王先生 — 带看新房" in draft


async def test_an_agent_in_berlin_counts_the_week_of_the_clock_change_by_local_days(harness: Harness) -> None:
    chat = await new_agent(harness)
    await chat.send("/settings tz Europe/Berlin")
    async with harness.services.sessions() as session, session.begin():
        agent = (await session.execute(select(Agent).where(Agent.telegram_user_id == 1001))).scalar_one()
        client = await add_client(session, agent.id, ClientDraft("Anna"), datetime(2026, 10, 1, tzinfo=UTC))
        # Mon 19 Oct 00:30 CEST, Sun 25 Oct 23:30 CET (the clocks went back at 03:00), Mon 26 Oct 00:30 CET.
        for instant in ("2026-10-18T22:30", "2026-10-25T22:30", "2026-10-25T23:30"):
            moment = datetime.fromisoformat(instant).replace(tzinfo=UTC)
            await log_contact(session, client, ContactKind.CALL, None, moment)
    harness.clock.set(datetime(2026, 10, 28, 12, 0, tzinfo=UTC))
    (last,) = (await chat.send("/digest last")).sent
    assert lines_of(last)[0] == "📊 周小结（10月19日–10月25日）"
    assert "📞 联系客户 2 次（上周 0）：电话 2" in lines_of(last)
    (this,) = (await chat.send("/digest")).sent
    assert "📞 联系客户 1 次（上周 2）：电话 1" in lines_of(this)


@pytest.mark.parametrize(
    ("typed", "title"),
    [
        ("/digest last week", "📊 周小结（11月16日–11月22日）"),
        ("/digest 上个星期", "📊 周小结（11月16日–11月22日）"),
        ("/digest LAST", "📊 周小结（11月16日–11月22日）"),
        ("/digest 本周", "📊 本周小结（11月23日–11月29日）"),
        ("/digest this week", "📊 本周小结（11月23日–11月29日）"),
    ],
)
async def test_the_week_in_the_agents_own_words(harness: Harness, typed: str, title: str) -> None:
    chat = await new_agent(harness)
    await seed_week(harness)
    harness.clock.set(WED_EVENING)
    (digest,) = (await chat.send(typed)).sent
    assert lines_of(digest)[0] == title

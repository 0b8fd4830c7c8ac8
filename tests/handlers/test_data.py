"""/export and /delete_me through the handlers, with two agents whose data must never mix.

Agent A (1001, Shanghai) and agent B (2002) each have clients, contact logs, follow-ups (with their nudges),
reflections with voice notes, tip ratings, a team; A's texts carry commas, quotes, newlines and emoji. The
export holds everything of A's and no byte of B's; the CSV opens as UTF-8 with a BOM and round-trips through
Python's csv reader. /delete_me erases A after the typed word — and the check that nothing of A's is left walks
the whole schema by its columns, so a table added later is covered without touching this file.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, func, or_, select

from bot.clients import ClientDraft, add_client, archive_client, log_contact
from bot.export import CSV_HEADERS, SCHEMA, VERSION
from bot.followups import add_follow_up, mark_done, set_outcome
from bot.history import record_stage_move
from bot.models import Agent, Base, Client, Delivery, Invite, Reflection, Team, TeamMember
from bot.statuses import ContactKind, DeliveryStatus, ReflectionStatus, Stage, TeamRole
from bot.tips import rate, toggle_saved
from handlers.data import CONFIRM_WORDS
from runtime.delivery import engine_of
from runtime.local_api import LocalChat, Shown
from tests.handlers.test_onboarding import onboard
from tests.support import Harness

A, B = 1001, 2002
DOCS = Path(__file__).resolve().parents[2] / "docs" / "export.md"

NOTE_A = '周末有空, 说"看房要趁早"\n第二行 😀🏠'
NEEDS_A = "三居，学区房, 南北通透"
CONTACT_A = '聊了"首付"的事, 很顺利 👍\n下周再约'
LESSON_A = "先听客户说完，再推荐房子 🙂"
VOICE_A = "AwACAgUAAxkBAAIBvoiceA"
FOLLOW_UP_A = "带看, 记得带钥匙"
PHONE_A = "+8613800138000"
OUTCOME_A = "客户说下周再看, 不急"

# Distinctive strings of B's: none of them may appear in A's files.
B_STRINGS = ("钱女士", "13900139000", "B独有的备注", "B的联络记录", "B的秘密心得", "voiceOfB", "B的跟进", "B团队")


@dataclass
class Seeded:
    chat: LocalChat
    agent_id: int
    client_ids: list[int]


async def seed_a(harness: Harness) -> Seeded:
    chat = harness.chat(user_id=A)
    await onboard(chat)
    await chat.send("/client 王先生 13800138000 三居 预算300万")
    now = harness.clock.now()
    async with harness.services.sessions() as session, session.begin():
        agent = (await session.execute(select(Agent).where(Agent.telegram_user_id == A))).scalar_one()
        wang = (await session.execute(select(Client).where(Client.agent_id == agent.id))).scalar_one()
        wang.notes = NOTE_A
        li = await add_client(session, agent.id, ClientDraft('李姐 "Lily"', needs=NEEDS_A, source="朋友, 介绍"), now)
        await log_contact(session, wang, ContactKind.CALL, CONTACT_A, now - timedelta(hours=2))
        await log_contact(session, li, ContactKind.WECHAT, None, now - timedelta(hours=1))
        await record_stage_move(session, wang, Stage.NEW, Stage.VIEWING, now - timedelta(minutes=30))
        wang.stage = Stage.VIEWING
        await add_follow_up(session, agent, wang, now + timedelta(days=1), FOLLOW_UP_A, now)
        called = await add_follow_up(session, agent, li, now - timedelta(minutes=40), "回电", now)
        await mark_done(session, called, now - timedelta(minutes=20))
        await set_outcome(called, OUTCOME_A, now)
        session.add(reflection(agent.id, now, lesson=LESSON_A, voice={"went_well": VOICE_A}))
        await rate(session, agent.id, "fu-001", 1)
        await toggle_saved(session, agent.id, "fu-002", now)
        team = Team(name="阳光团队", created_at=now)
        session.add(team)
        await session.flush()
        session.add(TeamMember(agent_id=agent.id, team_id=team.id, role=TeamRole.LEAD, joined_at=now))
        session.add(Invite(code_hash="a" * 64, team_id=team.id, role="member", created_by=A, created_at=now))
        return Seeded(chat, agent.id, [wang.id, li.id])


async def seed_b(harness: Harness) -> Seeded:
    chat = harness.chat(user_id=B, first_name="老钱")
    await onboard(chat)
    now = harness.clock.now()
    async with harness.services.sessions() as session, session.begin():
        agent = (await session.execute(select(Agent).where(Agent.telegram_user_id == B))).scalar_one()
        qian = await add_client(
            session, agent.id, ClientDraft("钱女士", phone="+8613900139000", notes="B独有的备注"), now
        )
        await log_contact(session, qian, ContactKind.VIEWING, "B的联络记录", now)
        await add_follow_up(session, agent, qian, now + timedelta(days=2), "B的跟进 带看", now)
        # B holds more than A of what /delete_me counts, so a count of the wrong agent's rows shows
        await add_follow_up(session, agent, qian, now + timedelta(days=3), "B的第二次带看", now)
        await add_follow_up(session, agent, qian, now + timedelta(days=4), "B的回电", now)
        session.add(reflection(agent.id, now, lesson="B的秘密心得", voice={"lesson": "voiceOfB"}))
        session.add(reflection(agent.id, now - timedelta(days=1), lesson="B昨天的心得"))
        await rate(session, agent.id, "fu-001", -1)
        team = Team(name="B团队", created_at=now)
        session.add(team)
        await session.flush()
        session.add(TeamMember(agent_id=agent.id, team_id=team.id, role=TeamRole.MEMBER, joined_at=now))
        return Seeded(chat, agent.id, [qian.id])


def reflection(agent_id: int, now: Any, **answers: Any) -> Reflection:
    return Reflection(
        agent_id=agent_id, day=now.date(), status=ReflectionStatus.DONE, step=None, clients=2, mood=4,
        created_at=now, updated_at=now, completed_at=now, **answers,
    )  # fmt: skip


async def exported(harness: Harness, chat: LocalChat) -> tuple[list[Shown], dict[str, Any], bytes, bytes]:
    reply = await chat.send("/export")
    assert [m.kind for m in reply.sent] == ["document", "document"]
    (json_name, json_bytes), (csv_name, csv_bytes) = (
        harness.api.files[(chat.chat_id, m.message_id)] for m in reply.sent
    )
    assert json_name.endswith(".json") and csv_name.endswith("-clients.csv")
    return reply.sent, json.loads(json_bytes), json_bytes, csv_bytes


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


# ---------------------------------------------------------------------------------------------- /export


async def test_export_holds_everything_of_the_agent_and_nothing_of_another(harness: Harness) -> None:
    a = await seed_a(harness)
    await seed_b(harness)
    sent, document, json_bytes, csv_bytes = await exported(harness, a.chat)
    assert sent[0].text.startswith("📦 你的全部数据") and sent[1].text.startswith("📊 客户表（2 位客户")
    assert (document["schema"], document["version"]) == (SCHEMA, VERSION) == ("agentcoach.export", 1)
    assert document["timezone"] == document["agent"]["timezone"] and document["exported_at"] == "2026-11-25T01:00:00Z"
    assert document["agent"]["telegram_user_id"] == A and document["agent"]["settings"]["reflection_time"] == "21:30"
    assert document["team"]["name"] == "阳光团队" and document["team"]["role"] == "lead"
    wang, li = document["clients"]
    assert (wang["name"], wang["phone"], wang["notes"], wang["stage"]) == ("王先生", PHONE_A, NOTE_A, "viewing")
    assert (li["name"], li["needs"], li["source"]) == ('李姐 "Lily"', NEEDS_A, "朋友, 介绍")
    assert [c["kind"] for c in wang["contacts"]] == ["call", "stage"] and wang["contacts"][0]["note"] == CONTACT_A
    assert [f["note"] for f in wang["follow_ups"]] == [FOLLOW_UP_A]
    assert [(f["status"], f["outcome"]) for f in li["follow_ups"]] == [("done", OUTCOME_A)]
    (lesson,) = document["reflections"]
    assert lesson["lesson"] == LESSON_A and lesson["voice"] == {"went_well": VOICE_A}
    assert [(t["tip_id"], t["rating"], t["saved_at"] is not None) for t in document["tips"]] == [
        ("fu-001", 1, False),
        ("fu-002", 0, True),
    ]
    kinds = [s["kind"] for s in document["scheduled"]]
    assert "followup" in kinds and "reflection" in kinds
    assert all(s["status"] in {"pending", "held"} for s in document["scheduled"])
    for secret in B_STRINGS:
        assert secret.encode() not in json_bytes and secret.encode() not in csv_bytes, secret
    # Instants in UTC with a Z, always.
    instants = re.findall(rb'"(\d{4}-\d\d-\d\dT[^"]*)"', json_bytes)
    assert instants and all(i.endswith(b"Z") for i in instants)


async def test_the_csv_opens_in_excel_with_chinese_intact_and_round_trips(harness: Harness) -> None:
    a = await seed_a(harness)
    _, _, _, data = await exported(harness, a.chat)
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM: Excel and WPS then read UTF-8
    assert data.count(b"\r\n") >= 3 and b"\r\n" in data.split(b"\n", 1)[0] + b"\n"
    header, wang, li = csv_rows(data)
    assert tuple(header) == CSV_HEADERS
    assert header[:8] == ["姓名", "电话", "需求", "预算", "来源", "阶段", "备注", "最近跟进"]
    row = dict(zip(header, wang, strict=True))
    assert (row["姓名"], row["电话"], row["预算"], row["阶段"], row["备注"]) == (
        "王先生",
        "\t" + PHONE_A,  # after a tab: Excel keeps it as text, not 8.61E+12 or a formula
        "300万",
        "带看",
        NOTE_A,
    )
    assert row["最近跟进"] == "2026-11-25 07:00"  # the call, Shanghai time
    assert row["下次跟进"] == f"2026-11-26 09:00 {FOLLOW_UP_A}"
    assert row["联系记录"].split("\n") == [
        "2026-11-25 07:00 📞 电话: " + CONTACT_A.replace("\n", " "),
        "2026-11-25 08:30 🔀 阶段：新客户 → 带看",
    ]
    other = dict(zip(header, li, strict=True))
    assert (other["姓名"], other["需求"], other["来源"], other["电话"]) == ('李姐 "Lily"', NEEDS_A, "朋友, 介绍", "")
    assert other["最近跟进"] == "2026-11-25 08:40" and other["下次跟进"] == ""  # the follow-up done, after WeChat
    assert other["联系记录"].split("\n") == [
        "2026-11-25 08:00 💬 微信",
        f"2026-11-25 08:40 ✅ 跟进完成: 回电 · {OUTCOME_A}",
    ]


async def test_an_agent_with_nothing_gets_both_files_with_empty_lists(harness: Harness) -> None:
    chat = harness.chat(user_id=3003, first_name="Sam", language_code="en")
    sent, document, _, data = await exported(harness, chat)
    assert sent[1].text.startswith("📊 Your client list (0 clients")
    assert document["clients"] == document["reflections"] == document["tips"] == [] and document["team"] is None
    assert csv_rows(data) == [list(CSV_HEADERS)]


async def test_an_english_agents_csv_has_english_values_under_the_same_headers(harness: Harness) -> None:
    chat = harness.chat(user_id=A, first_name="Sam", language_code="en")
    await onboard(chat, language="English")
    await chat.send("/client Mr Lee +61 412 345 678")
    async with harness.services.sessions() as session, session.begin():
        lee = (await session.execute(select(Client))).scalar_one()
        lee.stage = Stage.DEPOSIT
        await archive_client(session, lee, harness.clock.now())
    _, document, _, data = await exported(harness, chat)
    header, row = csv_rows(data)
    cells = dict(zip(header, row, strict=True))
    assert (cells["姓名"], cells["电话"], cells["阶段"], cells["已归档"]) == (
        "Mr Lee",
        "\t+61412345678",
        "Deposit",
        "Archived",
    )
    assert document["clients"][0]["archived"] is True and document["agent"]["language"] == "en"


async def test_the_same_data_gives_the_same_bytes_and_every_field_is_documented(harness: Harness) -> None:
    a = await seed_a(harness)
    _, document, first_json, first_csv = await exported(harness, a.chat)
    _, _, second_json, second_csv = await exported(harness, a.chat)
    assert (first_json, first_csv) == (second_json, second_csv)
    documented = set(re.findall(r"^\| `([a-z_]+)`", DOCS.read_text(encoding="utf-8"), re.MULTILINE))
    assert keys_of(document) <= documented, keys_of(document) - documented
    assert keys_of(document) >= EXPECTED_KEYS


EXPECTED_KEYS = {
    "schema", "version", "exported_at", "timezone", "agent", "team", "clients", "reflections", "tips", "scheduled",
    "telegram_user_id", "display_name", "settings", "work_days", "phone", "contacts", "follow_ups", "voice",
    "rating", "saved_at", "due_at",
}  # fmt: skip


def keys_of(value: Any) -> set[str]:
    if isinstance(value, dict):
        nested = {"voice", "day_part_hours"}  # keyed by question or part of day: values, not fields
        return set(value) | {k for key, v in value.items() if key not in nested for k in keys_of(v)}
    if isinstance(value, list):
        return {k for item in value for k in keys_of(item)}
    return set()


# ---------------------------------------------------------------------------------------------- /delete_me


async def table_rows(harness: Harness, agent_id: int, user_id: int, client_ids: list[int]) -> dict[str, int]:
    """Rows of each table that refer to the agent: by any foreign key to agents or clients, any `agent_id`,
    `telegram_user_id`, `chat_id` or `created_by` column — found from the schema, so a new table is covered."""
    agents, clients = Agent.__table__, Client.__table__
    found: dict[str, int] = {}
    async with harness.services.sessions() as session:
        for table in Base.metadata.sorted_tables:
            conditions = []
            for column in table.columns:
                assert isinstance(column, Column)
                targets = {key.column for key in column.foreign_keys}
                if agents.c.id in targets or column.name == "agent_id" or (table is agents and column.name == "id"):
                    conditions.append(column == agent_id)
                if clients.c.id in targets or (table is clients and column.name == "id"):
                    conditions.append(column.in_(client_ids))
                if column.name in {"telegram_user_id", "chat_id", "created_by"}:
                    conditions.append(column == user_id)
            if conditions:
                count = select(func.count()).select_from(table).where(or_(*conditions))
                found[table.name] = (await session.execute(count)).scalar_one()
    return found


async def test_a_wrong_word_cancels_and_changes_nothing(harness: Harness) -> None:
    a = await seed_a(harness)
    await seed_b(harness)  # the list counts A's alone
    before = await table_rows(harness, a.agent_id, A, a.client_ids)
    (question,) = (await a.chat.send("/delete_me")).sent
    assert question.text.split("\n")[3:12] == [
        "⚙️ 你的资料和设置",
        "👥 2 位客户",
        "📞 3 条联系记录",
        "📅 2 个跟进",
        "🏠 1 条带看复盘",  # the one booked with the 带看 follow-up (B has one too: not counted)
        "✍️ 1 篇复盘",
        "💡 2 条贴士记录（看过、评价、收藏）",
        "⏰ 6 条待发送的提醒",  # the tip, prompt, digest, going-cold warning, a nudge, the 带看 follow-up's review
        "🏷 你在团队「阳光团队」的组长身份",
    ]
    assert question.text.endswith("确认删除请输入 删除。输入其他任何内容或发 /cancel 都会取消。")
    assert (await harness.waiting(A)) is not None
    for wrong in ("删", "删除吧", "不要删除", "DELETE ME"):
        await a.chat.send("/delete_me")
        assert (await a.chat.send(wrong)).texts == ["👌 已取消，什么都没有删除。"]
        assert await harness.waiting(A) is None
    await a.chat.send("/delete_me")
    assert (await a.chat.send("/cancel")).texts == ["好的，已取消。"]
    after_cancel = await a.chat.send("删除")  # no question waits: an ordinary message now
    assert not any(text.startswith("🗑") for text in after_cancel.texts)
    assert await table_rows(harness, a.agent_id, A, a.client_ids) == before


@pytest.mark.parametrize("word", ["删除", " 刪除 ", "DELETE", "delete", "Delete\u3000"])
async def test_the_typed_word_erases_everything_of_the_agent_and_nothing_else(harness: Harness, word: str) -> None:
    a = await seed_a(harness)
    b = await seed_b(harness)
    b_before = await table_rows(harness, b.agent_id, B, b.client_ids)
    await a.chat.send("/delete_me")
    (done,) = (await a.chat.send(word)).sent
    assert done.text.startswith("🗑 已删除你的全部数据：\n⚙️ 你的资料和设置\n👥 2 位客户\n📞 3 条联系记录")
    assert "再见" in done.text
    assert set((await table_rows(harness, a.agent_id, A, a.client_ids)).values()) == {0}
    assert await table_rows(harness, b.agent_id, B, b.client_ids) == b_before
    async with harness.services.sessions() as session:
        invite = (await session.execute(select(Invite))).scalar_one()
        team_a = (await session.execute(select(Team).where(Team.name == "阳光团队"))).scalar_one_or_none()
    assert invite.created_by is None and team_a is not None  # the team and its invite stay, without them
    # Nothing of theirs is sent any more, however long the engine runs.
    harness.clock.advance(timedelta(days=8))
    sent_before = len(a.chat.messages())
    await engine_of(harness.app).sweep()
    assert len(a.chat.messages()) == sent_before
    # Writing again is a first contact.
    reply = await a.chat.send("/start")
    assert "你好，小王" in reply.sent[0].text
    again = await harness.agent(A)
    assert again.id != a.agent_id and again.setup_step == "language"


@pytest.mark.parametrize(
    ("language", "code", "word", "done"),
    [
        ("English", "en", "DELETE", "🗑 All your data is deleted:"),
        ("繁體中文", "zh-hant", "刪除", "🗑 你的所有資料都已刪除："),
    ],
)
async def test_the_question_and_the_answer_in_the_agents_language(
    harness: Harness, language: str, code: str, word: str, done: str
) -> None:
    chat = harness.chat(user_id=A, language_code=code)
    await onboard(chat, language=language)
    (question,) = (await chat.send("/delete_me")).sent
    assert f" {word}" in question.text and word.casefold() in CONFIRM_WORDS
    assert (await chat.send(word.lower())).texts[0].startswith(done)
    assert await harness.agents() == []


async def test_a_restart_between_the_question_and_the_word(harness: Harness) -> None:
    a = await seed_a(harness)
    await a.chat.send("/delete_me")
    await harness.restart()
    chat = harness.chat(user_id=A)
    assert (await chat.send("删除")).texts[0].startswith("🗑 已删除你的全部数据")
    assert set((await table_rows(harness, a.agent_id, A, a.client_ids)).values()) == {0}


async def test_the_word_long_after_the_question_erases_nothing(harness: Harness) -> None:
    a = await seed_a(harness)
    await a.chat.send("/delete_me")
    harness.clock.advance(timedelta(minutes=16))
    assert (await a.chat.send("删除")).texts == [
        "⌛ 这个确认已经过期了，什么都没有删除。如果还想删除，请重新发 /delete_me。"
    ]
    async with harness.services.sessions() as session:
        waiting = await session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.status == DeliveryStatus.PENDING)
        )
    assert waiting and (await harness.agent(A)).id == a.agent_id

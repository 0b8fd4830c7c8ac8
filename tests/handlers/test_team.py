"""Teams and invite-only access as people meet them: a stranger, an admin making a link in the chat, agents
joining through it, leads and members on /team, and leaving.

The bot here runs in invite mode with one admin (ADMIN); `open_mode` switches a test to ACCESS=open.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.models import Base, Invite, TeamMember
from bot.statuses import TeamRole
from bot.teams import create_invite, create_team, hash_code, membership_of, remove_member, team_named
from runtime.local_api import LocalChat
from tests.handlers.test_onboarding import onboard
from tests.support import Harness

ADMIN = 9001
STRANGER = 5001
LINK = re.compile(r"https://t\.me/agentcoach_bot\?start=([A-Za-z0-9_-]+)")


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(_env_file=None, database_url=database_url, access="invite", admin_ids=f"{ADMIN}, 9002")


def open_mode(harness: Harness) -> None:
    harness.services.settings.access = "open"


async def invite_code(
    harness: Harness,
    team: str = "东区",
    role: TeamRole = TeamRole.MEMBER,
    uses: int | None = 1,
    expires: timedelta | None = timedelta(days=7),
) -> str:
    """An invite made the way the command line makes it (the team created if need be)."""
    async with harness.services.sessions() as session, session.begin():
        found = await team_named(session, team) or await create_team(session, team, harness.clock.now())
        _, code = await create_invite(session, found, role, harness.clock.now(), uses=uses, expires=expires)
    return code


async def membership(harness: Harness, user_id: int) -> tuple[str, TeamRole] | None:
    agent = await harness.agent(user_id)
    async with harness.services.sessions() as session:
        found = await membership_of(session, agent.id)
    return None if found is None else (found.team, found.role)


async def rows_about(engine: AsyncEngine, user_id: int, name: str) -> dict[str, int]:
    """How many rows of each table (every table of the schema, so a future one is covered) hold the user's id
    or name in any column, and how many rows each table holds at all."""
    found: dict[str, int] = {}
    async with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            rows = (await connection.execute(select(table))).all()
            mentions = sum(
                any(value == user_id or (isinstance(value, str) and name in value) for value in row) for row in rows
            )
            found[table.name] = mentions
            found[f"{table.name} rows"] = len(rows)
    return found


# -- strangers in invite mode ---------------------------------------------------------------------------------


async def test_a_stranger_gets_one_polite_line_in_their_language_and_nothing_is_stored(
    harness: Harness, engine: AsyncEngine
) -> None:
    before = await rows_about(engine, STRANGER, "Nosy")  # what start-up wrote (the key's check row, with a key)
    stranger = harness.chat(user_id=STRANGER, first_name="Nosy", language_code="en-GB")
    for action in (
        stranger.send("/start"),
        stranger.send("hello, can I use this?"),
        stranger.send("/team"),
        stranger.send("/client Mr Wang 13800138000"),
        stranger.send_sticker(),
        stranger.press_data("tm:teams"),
    ):
        reply = await action
        assert reply.texts == [
            "👋 Hi! This bot is for invited agents only. Please ask your team lead for an invite link; "
            "opening it gets you started."
        ]
        assert not reply.edited
    assert harness.api.callback_answers  # the press was answered (its spinner stopped)
    found = await rows_about(engine, STRANGER, "Nosy")
    assert all(count == 0 for table, count in found.items() if not table.endswith(" rows")), found
    # Only the ids of the updates handled (so a redelivered one is not answered twice): no user, no text.
    grew = {table for table, count in found.items() if table.endswith(" rows") and count != before[table]}
    assert grew == {"handled_updates rows"}
    assert await harness.waiting(STRANGER) is None


@pytest.mark.parametrize(
    ("language_code", "line"),
    [
        ("zh-hans", "👋 你好！这个机器人只对受邀的经纪人开放。"),
        ("zh-TW", "👋 你好！這個機器人只開放給受邀的經紀人使用。"),
        (None, "👋 你好！这个机器人只对受邀的经纪人开放。"),
    ],
)
async def test_the_stranger_line_follows_telegrams_language(
    harness: Harness, language_code: str | None, line: str
) -> None:
    reply = await harness.chat(user_id=STRANGER, language_code=language_code).send("/start")
    assert len(reply.texts) == 1 and reply.texts[0].startswith(line)


async def test_wrong_expired_and_used_up_codes_are_each_answered_and_store_nothing(
    harness: Harness, engine: AsyncEngine
) -> None:
    used_up = await invite_code(harness, uses=1)
    expiring = await invite_code(harness, expires=timedelta(hours=1))
    assert (await harness.chat(user_id=5100, first_name="First").send(f"/start {used_up}")).texts[0].startswith("🤝")

    stranger = harness.chat(user_id=STRANGER, first_name="Late", language_code="en")
    assert (await stranger.send("/start Xq3-not-a-real-code")).texts == [
        "🔒 This invite link isn't valid. Please ask your team lead for a new one."
    ]
    assert (await stranger.send(f"/start {used_up}")).texts == [
        "🔒 This invite link has been used as many times as it allows. Please ask your team lead for a new one."
    ]
    harness.clock.advance(timedelta(minutes=59))
    harness.clock.advance(timedelta(minutes=1))  # the hour is up to the second
    assert (await stranger.send(f"/start {expiring}")).texts == [
        "⌛ This invite link has expired. Please ask your team lead for a new one."
    ]
    assert (await stranger.send("/start " + "x" * 300)).texts[0].startswith("🔒 This invite link isn't valid")
    found = await rows_about(engine, STRANGER, "Late")
    assert not any(count for table, count in found.items() if not table.endswith(" rows")), found
    async with harness.services.sessions() as session:
        uses = {code: uses for code, uses in (await session.execute(select(Invite.code_hash, Invite.uses))).all()}
    assert uses == {hash_code(used_up): 1, hash_code(expiring): 0}


async def test_an_existing_agent_keeps_working_in_invite_mode(harness: Harness) -> None:
    open_mode(harness)
    chat = harness.chat()
    await onboard(chat)
    harness.services.settings.access = "invite"
    assert (await chat.send("/tip")).texts  # a tip, not the stranger's line
    assert "受邀" not in " ".join((await chat.send("/today")).texts)


async def test_an_admin_may_always_register(harness: Harness) -> None:
    reply = await harness.chat(user_id=ADMIN, first_name="Boss").send("/start")
    assert "你好，Boss" in reply.texts[0]
    assert (await harness.agent(ADMIN)).setup_step == "language"


# -- joining through an invite --------------------------------------------------------------------------------


async def test_a_member_invite_joins_and_goes_straight_into_onboarding(harness: Harness) -> None:
    code = await invite_code(harness, "东区")
    reply = await harness.chat(user_id=5200, first_name="小李").send(f"/start {code}")
    joined, welcome, question = reply.sent
    assert joined.text == "🤝 你已加入团队「东区」。"
    assert "你好，小李" in welcome.text and question.labels[0] == "✓ 简体中文"
    assert await membership(harness, 5200) == ("东区", TeamRole.MEMBER)
    assert (await harness.agent(5200)).setup_step == "language"


async def test_a_lead_invite_says_so_in_english(harness: Harness) -> None:
    code = await invite_code(harness, "East", TeamRole.LEAD)
    reply = await harness.chat(user_id=5201, first_name="Lee", language_code="en").send(f"/start {code}")
    assert (
        reply.texts[0]
        == "🤝 You've joined the team “East” as its lead. Once you're set up, send /team to see your team."
    )
    assert reply.texts[1].startswith("👋 Hi Lee!")
    assert await membership(harness, 5201) == ("East", TeamRole.LEAD)


async def test_a_multi_use_invite_counts_its_uses_and_stops_at_its_limit(harness: Harness) -> None:
    code = await invite_code(harness, uses=3)
    for user in (5301, 5302, 5303):
        assert (await harness.chat(user_id=user).send(f"/start {code}")).texts[0] == "🤝 你已加入团队「东区」。"
    fourth = await harness.chat(user_id=5304).send(f"/start {code}")
    assert fourth.texts == ["🔒 这个邀请链接的名额已经用完了。请向你的团队负责人要一个新的邀请链接。"]
    async with harness.services.sessions() as session:
        invite = (await session.execute(select(Invite))).scalar_one()
        members = await session.scalar(select(func.count()).select_from(TeamMember))
    assert (invite.uses, invite.max_uses, members) == (3, 3, 3)
    assert code not in str(invite.code_hash) and invite.code_hash == hash_code(code)


async def test_the_same_code_twice_and_a_code_of_another_team_change_nothing(harness: Harness) -> None:
    code = await invite_code(harness, "东区", uses=10)
    chat = harness.chat(user_id=5400)
    await chat.send(f"/start {code}")
    again = await chat.send(f"/start {code}")
    assert again.texts[0] == "👌 你已经在团队「东区」里了，不用再加入。"
    other = await invite_code(harness, "西区")
    moved = await chat.send(f"/start {other}")
    assert moved.texts[0].startswith("✋ 你已经在团队「东区」里了，每人只能在一个团队。")
    assert await membership(harness, 5400) == ("东区", TeamRole.MEMBER)
    async with harness.services.sessions() as session:
        uses = {code: uses for code, uses in (await session.execute(select(Invite.code_hash, Invite.uses))).all()}
    assert uses == {hash_code(code): 1, hash_code(other): 0}  # a refusal takes no use


async def test_a_lead_invite_into_ones_own_team_makes_a_member_its_lead(harness: Harness) -> None:
    chat = harness.chat(user_id=5500)
    await chat.send(f"/start {await invite_code(harness)}")
    reply = await chat.send(f"/start {await invite_code(harness, role=TeamRole.LEAD)}")
    assert reply.texts[0] == "🤝 你现在是团队「东区」的负责人了。发送 /team 查看团队。"
    assert await membership(harness, 5500) == ("东区", TeamRole.LEAD)


async def test_in_open_mode_anyone_registers_and_a_valid_code_also_joins(harness: Harness) -> None:
    open_mode(harness)
    plain = await harness.chat(user_id=5600).send("/start")
    assert "你好" in plain.texts[0]
    assert await membership(harness, 5600) is None
    joined = await harness.chat(user_id=5601).send(f"/start {await invite_code(harness)}")
    assert joined.texts[0] == "🤝 你已加入团队「东区」。"
    wrong = await harness.chat(user_id=5602).send("/start nope")
    assert wrong.texts[0].startswith("🔒 这个邀请链接无效，你没有加入任何团队。")
    assert (await harness.agent(5602)).setup_step == "language"  # registered all the same: the bot is open


async def test_a_set_up_agent_joining_is_welcomed_back_after_the_line(harness: Harness) -> None:
    open_mode(harness)
    chat = harness.chat()
    await onboard(chat)
    reply = await chat.send(f"/start {await invite_code(harness)}")
    assert reply.texts[0] == "🤝 你已加入团队「东区」。"
    assert reply.texts[1].startswith("👋 欢迎回来")
    await chat.send("/team leave")
    await chat.press("✅ 确定退出")
    reply = await chat.send(f"/start {await invite_code(harness, role=TeamRole.LEAD)}")
    assert reply.texts[0] == "🤝 你已加入团队「东区」，身份是团队负责人。发送 /team 查看团队。"


# -- the admin in the chat ------------------------------------------------------------------------------------


async def admin_chat(harness: Harness) -> LocalChat:
    chat = harness.chat(user_id=ADMIN, first_name="Boss")
    await chat.send("/start")
    return chat


async def test_an_admin_makes_a_team_and_a_lead_link_in_the_chat_and_another_user_joins_with_it(
    harness: Harness,
) -> None:
    admin = await admin_chat(harness)
    panel = await admin.send("/team")
    assert panel.last.text.startswith("🛠 团队管理")
    assert panel.last.labels == ["📋 所有团队", "➕ 新建团队"]

    assert (await admin.press("📋 所有团队")).last.text == "📋 还没有团队。点「➕ 新建团队」建第一个。"
    assert (await admin.press("➕ 新建团队")).texts == ["✏️ 请输入新团队的名称（最多 64 个字）。发送 /cancel 取消。"]
    assert (await admin.send("x" * 65)).texts == ["团队名称需要 1 到 64 个字，请重新输入。"]
    created = await admin.send("  东区  ")
    assert created.texts[0] == "✅ 团队「东区」建好了。"
    card = created.last
    assert card.text.startswith("👥 团队「东区」\n0 人，负责人 0 位")
    assert "没有有效的邀请链接" in card.text

    await admin.press("➕ 新建团队")
    assert (await admin.send("东区")).texts == ["已经有一个叫「东区」的团队了，换个名字吧。"]
    await admin.send("/cancel")

    asked = await admin.press("🔗 邀请负责人", on=card)
    assert asked.last.text.startswith("🔗 给团队「东区」生成邀请链接（负责人），7 天内有效。")
    made = await admin.press("可用 1 次")
    link = made.sent[0].text
    assert link.startswith("🔗 团队「东区」的邀请链接（负责人，可用 1 次，12月2日 周三 09:00 前有效）")
    found = LINK.search(link)
    assert found is not None
    code = found.group(1)
    assert 20 <= len(code) <= 64
    assert "1. 负责人 · 已用 0/1 次 · 12月2日 周三 09:00 前有效" in made.edited[0].text

    lead = harness.chat(user_id=5700, first_name="小陈")
    joined = await lead.send(f"/start {code}")
    assert joined.texts[0] == "🤝 你已加入团队「东区」，身份是团队负责人。设置完成后，发送 /team 查看团队。"
    assert await membership(harness, 5700) == ("东区", TeamRole.LEAD)
    assert (await harness.chat(user_id=5701).send(f"/start {code}")).texts[0].startswith("🔒 这个邀请链接的名额")

    teams = await admin.send("/team")
    listed = await admin.press("📋 所有团队", on=teams.last)
    assert "• 东区：1 人，负责人 1 位，有效邀请 0 个" in listed.last.text


async def test_an_admin_makes_a_ten_use_member_link_and_revokes_it(harness: Harness) -> None:
    await invite_code(harness, "东区", uses=None, expires=None)  # an open-ended one from the command line
    admin = await admin_chat(harness)
    await admin.send("/team")
    await admin.press("📋 所有团队")
    await admin.press("👥 东区")
    await admin.press("🔗 邀请成员")
    made = await admin.press("可用 10 次")
    card = made.edited[0]
    assert "1. 成员 · 已用 0 次，不限次数 · 长期有效" in card.text
    assert "2. 成员 · 已用 0/10 次 · 12月2日 周三 09:00 前有效" in card.text
    code = LINK.search(made.sent[0].text).group(1)  # type: ignore[union-attr]
    async with harness.services.sessions() as session:
        made_by = list((await session.execute(select(Invite.created_by).order_by(Invite.id))).scalars())
    assert made_by == [None, ADMIN]  # the command line's, then the admin's in the chat

    revoke_second = card.data_for("🗑 撤销邀请 2")
    revoked = await admin.press("🗑 撤销邀请 2", on=card)
    assert revoked.toast == "已撤销，这个链接不能再用了。"
    assert "2. 成员" not in revoked.edited[0].text
    stale = await admin.press_data(revoke_second, on=card)
    assert stale.toast == "这个邀请已经撤销过了。"
    assert (await harness.chat(user_id=5800).send(f"/start {code}")).texts[0].startswith("🔒 这个邀请链接无效")


async def test_the_admin_panel_refuses_anyone_else_and_forged_presses(harness: Harness) -> None:
    open_mode(harness)
    chat = harness.chat(user_id=5900)
    await chat.send("/start")
    for data in ("tm:teams", "tm:new", "tm:team:1", "tm:make:1:lead:10", "tm:revoke:1:1"):
        reply = await chat.press_data(data)
        assert (reply.toast, reply.alert) == ("只有管理员才能管理团队。", True)
    waiting = await harness.waiting(5900)
    assert waiting is None or waiting.flow != "team"
    admin = await admin_chat(harness)
    for data in ("tm:make:1:boss:10", "tm:make:1:lead:7", "tm:team:0", "tm:team:x", "tm:revoke:1", "tm:" + "9" * 70):
        reply = await admin.press_data(data)
        assert reply.toast == "这个按钮已经过期了，请用最新的消息操作。", data
    async with harness.services.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Invite)) == 0


# -- leads and members on /team -------------------------------------------------------------------------------


async def test_a_member_sees_their_team_and_leaves_it_after_confirming(harness: Harness) -> None:
    chat = harness.chat(user_id=6000)
    await chat.send(f"/start {await invite_code(harness)}")
    shown = await chat.send("/team")
    assert shown.texts == ["👥 你在团队「东区」里。"] and shown.last.labels == ["⬅️ 退出团队"]
    asked = await chat.press("⬅️ 退出团队")
    assert asked.last.text == "确定要退出团队「东区」吗？"
    assert (await chat.press("取消", on=asked.last)).last.text == "好的，你还在团队里。"
    asked = await chat.press("⬅️ 退出团队", on=shown.last)
    confirm, again = asked.last, asked.last.data_for("✅ 确定退出")
    assert (await chat.press("✅ 确定退出", on=confirm)).last.text == "⬅️ 你已退出团队「东区」。"
    assert await membership(harness, 6000) is None
    assert (await chat.press_data(again, on=confirm)).last.text == "你已经不在这个团队里了。"
    assert (await chat.send("/team")).texts == ["你现在不在任何团队里。想加入团队，请向团队负责人要一个邀请链接。"]


async def test_a_lead_who_leaves_loses_the_view_at_once(harness: Harness) -> None:
    lead = harness.chat(user_id=6100)
    await lead.send(f"/start {await invite_code(harness, role=TeamRole.LEAD)}")
    assert (await lead.send("/team")).texts[0].startswith("👥 东区 · 本周")  # the lead's view (team_view)
    asked = await lead.send("/team leave")
    assert asked.last.text == "确定要退出团队「东区」吗？退出后你将看不到团队的数据。"
    await lead.press("✅ 确定退出")
    assert (await lead.send("/team")).texts[0].startswith("你现在不在任何团队里。")


async def test_a_lead_removed_by_the_admin_loses_the_view_on_the_next_update(harness: Harness) -> None:
    lead = harness.chat(user_id=6200)
    await lead.send(f"/start {await invite_code(harness, role=TeamRole.LEAD)}")
    async with harness.services.sessions() as session, session.begin():
        await remove_member(session, await harness.agent(6200), harness.clock.now())
    assert (await lead.send("/team")).texts[0].startswith("你现在不在任何团队里。")


async def test_an_admin_who_leads_a_team_gets_the_panel_and_the_view(harness: Harness) -> None:
    admin = await admin_chat(harness)
    await admin.send(f"/start {await invite_code(harness, role=TeamRole.LEAD)}")
    panel = await admin.send("/team")
    assert "👥 你是团队「东区」的负责人。" in panel.last.text
    assert panel.last.labels == ["📋 所有团队", "➕ 新建团队", "👀 我的团队", "⬅️ 退出团队"]
    assert (await admin.press("👀 我的团队")).texts[0].startswith("👥 东区 · 本周")
    await admin.send("/team leave")
    await admin.press("✅ 确定退出")
    stale = await admin.press("👀 我的团队", on=panel.last)
    assert (stale.toast, stale.alert) == ("你已经不是团队负责人了。", True)


async def test_someone_in_no_team_is_told_so(harness: Harness) -> None:
    open_mode(harness)
    chat = harness.chat(user_id=6300, language_code="en")
    await chat.send("/start")
    assert (await chat.send("/team")).texts == [
        "You're not in a team. To join one, ask your team lead for an invite link."
    ]
    assert (await chat.send("/team leave")).texts == [
        "You're not in a team. To join one, ask your team lead for an invite link."
    ]


async def test_every_membership_change_reschedules_the_agents_deliveries(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lead's weekly team digest is kept in step by bot.recurring.reschedule: joining, a promotion and leaving
    each call it (for an agent who finished onboarding; one still in it gets everything when it completes)."""
    from bot import recurring

    calls: list[int] = []
    original = recurring.reschedule

    async def counted(session: object, agent: object, now: object, kinds: object = None) -> None:
        calls.append(agent.telegram_user_id)  # type: ignore[attr-defined]
        await original(session, agent, now, kinds)  # type: ignore[arg-type]

    open_mode(harness)
    chat = harness.chat()
    await onboard(chat)
    monkeypatch.setattr(recurring, "reschedule", counted)
    await chat.send(f"/start {await invite_code(harness)}")
    await chat.send(f"/start {await invite_code(harness, role=TeamRole.LEAD)}")
    await chat.send("/team leave")
    await chat.press("✅ 确定退出")
    assert calls == [1001, 1001, 1001]
    calls.clear()
    await harness.chat(user_id=6400).send(f"/start {await invite_code(harness)}")
    assert calls == []  # still onboarding: its deliveries start when it completes


async def test_a_lead_opening_another_link_of_their_own_team_stays_its_lead_and_takes_no_use(
    harness: Harness,
) -> None:
    chat = harness.chat(user_id=6500)
    await chat.send(f"/start {await invite_code(harness, role=TeamRole.LEAD)}")
    for role in (TeamRole.LEAD, TeamRole.MEMBER):
        code = await invite_code(harness, role=role)
        assert (await chat.send(f"/start {code}")).texts[0] == "👌 你已经在团队「东区」里了，不用再加入。"
        assert await membership(harness, 6500) == ("东区", TeamRole.LEAD)
        async with harness.services.sessions() as session:
            uses = await session.scalar(select(Invite.uses).where(Invite.code_hash == hash_code(code)))
        assert uses == 0, role


async def test_a_teams_card_lists_only_its_own_invites_that_can_still_let_someone_in(harness: Harness) -> None:
    used_up = await invite_code(harness, "东区", uses=1)
    await invite_code(harness, "东区", uses=3, expires=timedelta(hours=1))
    await invite_code(harness, "东区", uses=None, expires=None)
    await invite_code(harness, "西区", uses=5, expires=None)
    await harness.chat(user_id=6600).send(f"/start {used_up}")
    harness.clock.advance(timedelta(hours=1))
    admin = await admin_chat(harness)
    await admin.send("/team")
    await admin.press("📋 所有团队")
    card = (await admin.press("👥 东区")).last
    assert "1. 成员 · 已用 0 次，不限次数 · 长期有效" in card.text
    assert "2. " not in card.text and "0/5" not in card.text
    assert [label for label in card.labels if label.startswith("🗑")] == ["🗑 撤销邀请 1"]


async def test_an_invite_without_a_limit_lets_in_everyone_who_opens_it(harness: Harness) -> None:
    code = await invite_code(harness, uses=None, expires=None)
    for user in (6701, 6702, 6703):
        assert (await harness.chat(user_id=user).send(f"/start {code}")).texts[0] == "🤝 你已加入团队「东区」。"
        assert await membership(harness, user) == ("东区", TeamRole.MEMBER)
    async with harness.services.sessions() as session:
        assert (await session.execute(select(Invite.uses, Invite.max_uses))).one() == (3, None)


async def test_an_agent_opening_an_expired_or_used_up_link_is_told_which_team_they_did_not_join(
    harness: Harness,
) -> None:
    open_mode(harness)
    used_up = await invite_code(harness, "西区", uses=1)
    expiring = await invite_code(harness, "东区", expires=timedelta(hours=1))
    await harness.chat(user_id=6801).send(f"/start {used_up}")
    chat = harness.chat(user_id=6802, language_code="en")
    await chat.send("/start")
    assert (await chat.send(f"/start {used_up}")).texts[0] == (
        "🔒 This invite link has no uses left, so you haven't joined the team “西区”. "
        "Please ask your team lead for a new one."
    )
    harness.clock.advance(timedelta(hours=1))
    assert (await chat.send(f"/start {expiring}")).texts[0] == (
        "⌛ This invite link has expired, so you haven't joined the team “东区”. "
        "Please ask your team lead for a new one."
    )
    assert await membership(harness, 6802) is None

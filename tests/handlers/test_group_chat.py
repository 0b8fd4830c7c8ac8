"""The bot works in private chats only: a command written in a group gets one line there, and nothing moves.

An agent's chat is where their reminders go; if a command typed in a group moved it there, the group would read
their follow-ups, client names and reflection prompts. A stranger in a group is not registered either.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.models import Agent, Delivery
from runtime.delivery import engine_of
from runtime.local_api import LocalChat
from tests.handlers.test_onboarding import onboard
from tests.support import Harness

GROUP = -1001234567890
PRIVATE_ONLY = "👋 我只在私聊里工作：请点我的名字，和我单独聊。你的客户和复盘不会出现在群里。"


def in_group(chat: LocalChat) -> LocalChat:
    """The same person, writing in a group the bot was added to."""
    chat.chat = {"id": GROUP, "type": "supergroup", "title": "南山店 销售群"}
    return chat


async def test_a_command_in_a_group_gets_one_line_there_and_the_agents_chat_stays_private(harness: Harness) -> None:
    private = harness.chat(user_id=1001)
    await onboard(private)
    await private.send("/client 王先生 13800138000")
    await private.send("/followup 王先生 明天上午10点 带看")
    await private.press(private.last_with_buttons().labels[0])  # type: ignore[union-attr]  # ✅ confirm
    group = in_group(harness.chat(user_id=1001))
    for command in ("/today", "/clients", "/start", "/settings lang en", "/delete_me"):
        reply = await group.send(command)
        assert [(m.chat_id, m.text) for m in reply.sent] == [(GROUP, PRIVATE_ONLY)], command
    agent = await harness.agent(1001)
    assert (agent.chat_id, agent.language) == (1001, "zh-Hans")
    assert await harness.waiting(1001) is None
    # The nudge still goes to the private chat, and nothing ever reaches the group but the line above.
    harness.clock.advance(timedelta(days=2))
    await engine_of(harness.app).sweep()
    assert any("王先生" in m.text for m in harness.api.chat_messages(1001))
    assert {m.text for m in harness.api.chat_messages(GROUP)} == {PRIVATE_ONLY}


async def test_a_stranger_in_a_group_is_not_registered(harness: Harness) -> None:
    group = in_group(harness.chat(user_id=4242, language_code="en"))
    reply = await group.send("/start")
    assert reply.texts == [
        "👋 I only work in a private chat: tap my name and message me there. "
        "Your clients and reflections never show up in a group."
    ]
    async with harness.services.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Agent)) == 0
        assert await session.scalar(select(func.count()).select_from(Delivery)) == 0

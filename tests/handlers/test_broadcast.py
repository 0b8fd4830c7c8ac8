"""An announcement as the agents receive it through the engine: the operator's text as written, the same for an
agent who speaks Chinese and one who speaks English, once each; an agent who blocked the bot meanwhile has theirs
held and gets it when they write again; an agent who never finished onboarding gets none."""

from __future__ import annotations

from sqlalchemy import select

from bot import broadcasts
from bot.models import Delivery
from runtime.delivery import engine_of
from tests.handlers.test_onboarding import onboard
from tests.support import Harness, hold_back_other_kinds

# The one text the catalogs do not render: the operator's own (declared to the audit of what the bot sent).
ANNOUNCEMENT = (
    '<b>门店通知 / Notice</b>\n本周六 09:00 例会，<a href="https://example.com/agenda?a=1&amp;b=2">议程</a>。'
)


async def announce(harness: Harness, text: str = ANNOUNCEMENT) -> int:
    harness.rendered.seen.add(text)
    sessions, now = harness.services.sessions, harness.clock.now()
    async with sessions() as session, session.begin():
        broadcast, _ = await broadcasts.find_or_create(session, text, now)
    await broadcasts.enqueue(sessions, broadcast.id, now)
    return broadcast.id


async def statuses(harness: Harness, broadcast_id: int) -> dict[int, str]:
    async with harness.services.sessions() as session:
        rows = await session.execute(
            select(Delivery.agent_id, Delivery.status).where(
                Delivery.kind == broadcasts.KIND, Delivery.subject_id == broadcast_id
            )
        )
        return {agent_id: status for agent_id, status in rows.all()}


async def test_agents_in_any_language_get_the_same_text_once(harness: Harness) -> None:
    chinese = harness.chat(1001, "小王", "zh-hans")
    english = harness.chat(1002, "Sam", "en")
    newcomer = harness.chat(1003, "小李", "zh-hans")
    await onboard(chinese)
    await onboard(english, language="English")
    await newcomer.send("/start")  # still choosing a language: not an agent to announce to yet
    await hold_back_other_kinds(harness, broadcasts.KIND)
    before = {chat.chat_id: len(chat.messages()) for chat in (chinese, english, newcomer)}

    broadcast_id = await announce(harness)
    engine = engine_of(harness.app)
    report = await engine.sweep()
    assert (report.claimed, report.sent) == (2, 2)
    for chat in (chinese, english):
        [got] = chat.messages()[before[chat.chat_id] :]
        assert got.html == ANNOUNCEMENT and got.buttons == []
        assert got.text.startswith("门店通知 / Notice\n本周六 09:00 例会，议程")
    assert len(newcomer.messages()) == before[newcomer.chat_id]

    await announce(harness)  # the command run again: nobody gets it twice
    assert (await engine.sweep()).claimed == 0
    assert sorted((await statuses(harness, broadcast_id)).values()) == ["sent", "sent"]


async def test_an_agent_who_blocked_the_bot_gets_it_when_they_write_again(harness: Harness) -> None:
    chat = harness.chat()
    await onboard(chat)
    await hold_back_other_kinds(harness, broadcasts.KIND)
    broadcast_id = await announce(harness)
    harness.api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    engine = engine_of(harness.app)
    assert (await engine.sweep()).held == 1
    async with harness.services.sessions() as session:
        found = await broadcasts.progress(session, broadcast_id)
    assert (found.held, found.remaining, found.done) == (1, 0, True)  # the command does not wait for them

    await chat.send("/help")  # back
    assert (await engine.sweep()).sent == 1
    assert chat.messages()[-1].html == ANNOUNCEMENT
    assert list((await statuses(harness, broadcast_id)).values()) == ["sent"]

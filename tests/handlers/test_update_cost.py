"""An update costs few statements: each is a wait for the database (issue 14's updates per second).

The agent is read with what its chat waits for in one statement; a flow's next step is stored with one upsert; a
tip shown or rated comes back from its own upsert. The budgets below are what the common updates cost now (see
"Updates per second (issue 14)" in docs/benchmarks.md); a change that adds a statement to one of them shows here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.crypto import keyring_of
from bot.models import Delivery, FollowUp, ShowingReview
from bot.statuses import DeliveryKind, DeliveryStatus
from runtime.local_api import Reply
from tests.handlers.test_onboarding import onboard
from tests.support import Harness


@contextmanager
def recording(engine: AsyncEngine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_connection: Any, _cursor: Any, sql: str, *_: Any) -> None:
        statements.append(sql)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_the_common_updates_stay_within_their_statement_budgets(harness: Harness, engine: AsyncEngine) -> None:
    chat = harness.chat()
    await onboard(chat)
    await chat.send("/client 王先生 13800138000 三居")

    with recording(engine) as statements:

        async def cost(action: Awaitable[Reply]) -> tuple[int, Reply]:
            statements.clear()
            reply = await action
            return len(statements), reply

        spent, shown = await cost(chat.send("/tip"))  # the agent, its tip states, the upsert counting the showing
        assert spent <= 3, statements
        spent, _ = await cost(chat.press(shown.last.labels[0], on=shown.last))  # 👍: the agent, one upsert
        assert spent <= 2, statements
        spent, _ = await cost(chat.send("/today"))  # the agent, the day's follow-ups
        assert spent <= 2, statements
        spent, asked = await cost(chat.send("/followup 王先生 明天下午3点 带看新房"))  # the agent, the client, the wait
        # With DATA_KEY set (TEST_DATA_KEY=1) the names are matched in Python: the names, then the client's row.
        assert spent <= 3 + (keyring_of(engine.sync_engine.dialect) is not None), statements
        assert asked.last.buttons
        # ✅: the agent with the draft it waits on, the client with its open follow-ups, the wait ended, the follow-up;
        # a showing (带看) also its review; then the follow-up's nudge and the review's delivery, written together
        spent, saved = await cost(chat.press(asked.last.labels[0], on=asked.last))
        assert spent <= 6, statements
        assert saved.edited
        await the_follow_up_waits_with_its_showings_review(harness)

        await chat.send("/reflect")
        # the agent with its question, the answer stored and the reflection moved on (UPDATE … RETURNING), the next wait
        spent, _ = await cost(chat.send("3"))
        assert spent <= 3, statements
    assert (await harness.waiting()) is not None  # the check-in waits at its second question


async def the_follow_up_waits_with_its_showings_review(harness: Harness) -> None:
    """What the ✅ wrote in one statement: the nudge at the follow-up's time, the review's delivery at the showing's
    end (90 minutes later: the note gives no length), both waiting."""
    async with harness.services.sessions() as session:
        follow_up = (await session.scalars(select(FollowUp))).one()
        review = (await session.scalars(select(ShowingReview))).one()
        waiting = {
            (d.kind, d.subject_id, d.due_at, d.status, d.attempts, d.late)
            for d in (await session.scalars(select(Delivery).where(Delivery.subject_id.is_not(None))))
        }
    assert review.follow_up_id == follow_up.id and review.ends_at == follow_up.due_at + timedelta(minutes=90)
    assert waiting == {
        (DeliveryKind.FOLLOWUP, follow_up.id, follow_up.due_at, DeliveryStatus.PENDING, 0, False),
        (DeliveryKind.SHOWING_REVIEW, review.id, review.ends_at, DeliveryStatus.PENDING, 0, False),
    }

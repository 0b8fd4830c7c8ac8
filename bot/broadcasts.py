"""An operator's announcement to every active agent (`agentcoach broadcast FILE`), sent by the scheduling engine.

A broadcast is one row per distinct text (`broadcasts`, keyed by the text's SHA-256), and each agent's copy is a
delivery of kind `broadcast` whose subject is that row, due now. The engine sends them like any other delivery:
at Telegram's pace, claimed after the nudges that must not wait (a wave kind, like the weekly digest), held for an
agent who blocked the bot, and taken back from a process that died (bot.ownership). Running the command again
with the same file finds the same broadcast and adds no second copy for anyone (a partial unique index on
(subject, agent), every insert ON CONFLICT DO NOTHING), so a crash is resumed by running it again, and two
operators running it at once still send each agent one.

Who gets one: agents who finished onboarding and have not blocked the bot, as for the recurring kinds
(bot.recurring). An agent who blocks the bot before their copy goes out has it held; it is sent when they write
again, like a held nudge.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import insert_or_skip
from bot.models import Agent, Broadcast, Delivery
from bot.statuses import DeliveryKind, DeliveryStatus

KIND = DeliveryKind.BROADCAST
# Agents enqueued per transaction: on a large team SQLite's one writer (a running bot's sweep) gets its turn between.
BATCH = 5000

# Onboarded and reachable: who is sent an announcement.
ACTIVE: ColumnElement[bool] = Agent.setup_step.is_(None) & Agent.active


def text_digest(text: str) -> str:
    """What makes two runs the same broadcast: the SHA-256 of the text, hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


async def find_or_create(session: AsyncSession, text: str, now: datetime) -> tuple[Broadcast, bool]:
    """The broadcast of this text, made if it is new; True when it was made now. Two runs racing make one."""
    digest = text_digest(text)
    added = await session.execute(
        insert_or_skip(session, Broadcast)
        .values(digest=digest, text=text, created_at=now)
        .on_conflict_do_nothing(index_elements=["digest"])
    )
    broadcast = (await session.execute(select(Broadcast).where(Broadcast.digest == digest))).scalar_one()
    return broadcast, bool(getattr(added, "rowcount", 0))


async def active_agents(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(Agent).where(ACTIVE))).scalar_one())


async def enqueue(sessions: async_sessionmaker[AsyncSession], broadcast_id: int, now: datetime) -> int:
    """One pending delivery, due `now`, for every active agent who has none of this broadcast yet; returns how many
    were added (0 on a re-run). One INSERT … SELECT per `BATCH` agent ids, ON CONFLICT DO NOTHING."""
    async with sessions() as session:
        last = (await session.execute(select(func.max(Agent.id)))).scalar_one_or_none() or 0
    added, after = 0, 0
    delivery = Delivery.__table__.c
    while after < last:
        upto = after + BATCH
        copies = select(
            Agent.id,
            literal(str(KIND), delivery.kind.type),
            literal(broadcast_id, delivery.subject_id.type),
            literal(now, delivery.due_at.type),
            literal(str(DeliveryStatus.PENDING), delivery.status.type),
            literal(0, delivery.attempts.type),
            literal(False, delivery.late.type),
            literal(now, delivery.created_at.type),
        ).where(ACTIVE, Agent.id > after, Agent.id <= upto)
        async with sessions() as session, session.begin():
            result = await session.execute(
                insert_or_skip(session, Delivery)
                .from_select(
                    ["agent_id", "kind", "subject_id", "due_at", "status", "attempts", "late", "created_at"], copies
                )
                .on_conflict_do_nothing()
            )
            added += int(getattr(result, "rowcount", 0) or 0)
        after = upto
        await asyncio.sleep(0)
    return added


@dataclass(frozen=True)
class Progress:
    """Where a broadcast's copies are (bot.scheduler's statuses), for the operator's progress line."""

    sent: int = 0
    failed: int = 0
    held: int = 0  # the agent blocked the bot: sent when they write again
    cancelled: int = 0
    remaining: int = 0  # pending, claimed or being sent

    @property
    def total(self) -> int:
        return self.sent + self.failed + self.held + self.cancelled + self.remaining

    @property
    def done(self) -> bool:
        return self.remaining == 0

    def line(self) -> str:
        return f"{self.sent} sent, {self.failed} failed, {self.held} held, {self.remaining} remaining of {self.total}"


REMAINING = (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED, DeliveryStatus.SENDING)


async def progress(session: AsyncSession, broadcast_id: int) -> Progress:
    rows = await session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.kind == KIND, Delivery.subject_id == broadcast_id)
        .group_by(Delivery.status)
    )
    counts = {str(status): int(n) for status, n in rows.all()}
    return Progress(
        sent=counts.get(DeliveryStatus.SENT, 0),
        failed=counts.get(DeliveryStatus.FAILED, 0),
        held=counts.get(DeliveryStatus.HELD, 0),
        cancelled=counts.get(DeliveryStatus.CANCELLED, 0),
        remaining=sum(counts.get(status, 0) for status in REMAINING),
    )

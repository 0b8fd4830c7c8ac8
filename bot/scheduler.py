"""The durable scheduling engine: every message that must reach an agent at a time is a `Delivery` row.

A periodic sweep (APScheduler ticks it; tests call it directly) claims the rows that are due, renders each
through the module that owns its kind, sends it, and confirms it:

    pending ──claim──▶ sending ──send──▶ sent
                          │  ├─ agent blocked the bot ─▶ failed (agent inactive, their other rows held)
                          │  ├─ RetryAfter / network error ─▶ pending again, not before a delay (bounded)
                          │  └─ nothing to send any more (follow-up done) ─▶ cancelled
                          └─ lease ran out (the process died) ─▶ claimed again by the next sweep

Claiming is one UPDATE … RETURNING over `SELECT … ORDER BY due_at LIMIT n FOR UPDATE SKIP LOCKED`, so
several processes on one PostgreSQL never take the same row; SQLite runs one process. Each row is
committed as `sending` before it is sent and as `sent` straight after, so a crash at any point loses
nothing. The one window that cannot be closed from our side is a crash after Telegram accepted a message
and before our commit: that row is sent again (at-least-once), never dropped.

An agent gets at most one message per chat per sweep (Telegram's ~1 message/s per chat); the rest of their
due rows stay pending for the next sweep. The sweep knows nothing of Telegram: a `Sender` does the sending.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bulk import insert_rows
from bot.clock import Clock
from bot.models import Agent, Delivery

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED, CANCELLED, HELD = "pending", "sending", "sent", "failed", "cancelled", "held"


@dataclass(frozen=True)
class Outgoing:
    """A message as the domain describes it: text (Telegram HTML) and buttons as (label, callback data)."""

    text: str
    buttons: Sequence[Sequence[tuple[str, str]]] = ()


class AgentUnreachable(Exception):
    """The agent blocked the bot or deleted their account: stop sending to them."""


class RetryLater(Exception):
    """Telegram asked us to slow down (429): send again after `seconds`, without counting an attempt."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds}s")
        self.seconds = seconds


class TransientFailure(Exception):
    """The network or Telegram failed for now: retry with backoff, up to a bound."""


class PermanentFailure(Exception):
    """Telegram refused the message itself (bad request): retrying would fail the same way."""


class Sender(Protocol):
    async def send(self, chat_id: int, message: Outgoing) -> int:
        """Send and return the message id; raise one of the failures above."""
        ...


Render = Callable[[AsyncSession, Delivery, Agent, datetime], Awaitable[Outgoing | None]]
AfterSent = Callable[[AsyncSession, Delivery, Agent, datetime], Awaitable[None]]


@dataclass(frozen=True)
class Kind:
    """How one kind of delivery is rendered, and what happens once it was sent (recurring kinds reschedule).

    `after_skipped` runs when the renderer had nothing to send (today's reflection already done): a recurring
    kind must schedule its next occurrence then too, or its chain would end.
    """

    render: Render
    after_sent: AfterSent | None = None
    after_skipped: AfterSent | None = None


@dataclass
class SweepReport:
    claimed: int = 0
    sent: int = 0
    late: int = 0
    cancelled: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0

    def add(self, other: SweepReport) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class EngineSettings:
    batch: int = 200
    lease: timedelta = timedelta(minutes=5)
    late_after: timedelta = timedelta(minutes=2)
    max_attempts: int = 5
    backoff: timedelta = timedelta(seconds=10)
    concurrency: int = 16


@dataclass
class Claimed:
    id: int
    agent_id: int
    attempts: int
    due_at: datetime


@dataclass
class Engine:
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    sender: Sender
    kinds: dict[str, Kind]
    settings: EngineSettings = field(default_factory=EngineSettings)
    # One sweep at a time in a process (the start-up sweep and the ticks may overlap); processes share via the DB.
    _sweeping: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    async def sweep(self) -> SweepReport:
        """Claim what is due now and deliver it; returns what happened (for logs, tests and benchmarks)."""
        async with self._sweeping:
            return await self._sweep()

    async def _sweep(self) -> SweepReport:
        report = SweepReport()
        claimed = await self.claim()
        report.claimed = len(claimed)
        if not claimed:
            return report
        semaphore = asyncio.Semaphore(self.settings.concurrency)

        async def one(item: Claimed) -> None:
            async with semaphore:
                report.add(await self.deliver_safely(item))

        async with asyncio.TaskGroup() as group:  # in due order, `concurrency` at a time
            for item in claimed:
                group.create_task(one(item))
        return report

    async def deliver_safely(self, item: Claimed) -> SweepReport:
        """A bug while rendering or sending one delivery must not stop the others: retry it, bounded."""
        try:
            return await self.deliver(item)
        except Exception as error:
            log.exception("delivery %s: unexpected error", item.id)
            report = SweepReport()
            await self._retry_or_fail(item, repr(error), report)
            return report

    async def claim(self) -> list[Claimed]:
        """Mark up to `batch` due rows as ours (oldest first), one per agent; commit before anything is sent."""
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            due = (
                select(Delivery.id)
                .where(
                    or_(
                        and_(
                            Delivery.status == PENDING,
                            Delivery.due_at <= now,
                            or_(Delivery.lease_until.is_(None), Delivery.lease_until <= now),
                        ),
                        and_(Delivery.status == SENDING, Delivery.lease_until < now),
                    )
                )
                .order_by(Delivery.due_at, Delivery.id)
                .limit(self.settings.batch)
                .with_for_update(skip_locked=True)
            )
            rows = (
                await session.execute(
                    update(Delivery)
                    .where(Delivery.id.in_(due.scalar_subquery()))
                    .values(status=SENDING, lease_until=now + self.settings.lease, attempts=Delivery.attempts + 1)
                    .returning(Delivery.id, Delivery.agent_id, Delivery.attempts, Delivery.due_at)
                    .execution_options(synchronize_session=False)
                )
            ).all()
            claimed = sorted((Claimed(*row) for row in rows), key=lambda c: (c.due_at, c.id))
            first_per_agent: dict[int, Claimed] = {}
            later: list[int] = []
            for item in claimed:
                if item.agent_id in first_per_agent:
                    later.append(item.id)
                else:
                    first_per_agent[item.agent_id] = item
            if later:
                # One message per chat per sweep; the others go in the next sweep, a tick later.
                await session.execute(
                    update(Delivery)
                    .where(Delivery.id.in_(later))
                    .values(status=PENDING, lease_until=None, attempts=Delivery.attempts - 1)
                    .execution_options(synchronize_session=False)
                )
        return list(first_per_agent.values())

    async def deliver(self, item: Claimed) -> SweepReport:
        report = SweepReport()
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            delivery = await session.get(Delivery, item.id)
            agent = await session.get(Agent, item.agent_id)
            if delivery is None or agent is None or delivery.status != SENDING or delivery.attempts != item.attempts:
                return report  # someone else took it over (its lease ran out while we were slow)
            kind = self.kinds.get(delivery.kind)
            late = delivery.due_at < now - self.settings.late_after
            delivery.late = late
            outgoing = await kind.render(session, delivery, agent, now) if kind and agent.active else None
            if outgoing is None:
                delivery.status, delivery.lease_until = (CANCELLED if agent.active else HELD), None
                if kind and kind.after_skipped and agent.active:
                    await kind.after_skipped(session, delivery, agent, now)
                report.cancelled += 1
                return report
            chat_id = agent.chat_id
        try:
            message_id = await self.sender.send(chat_id, outgoing)
        except AgentUnreachable as error:
            await self._agent_unreachable(item, str(error))
            report.failed += 1
        except RetryLater as error:
            await self._again(item, timedelta(seconds=error.seconds), count_attempt=False, error=str(error))
            report.retried += 1
        except TransientFailure as error:
            await self._retry_or_fail(item, str(error), report)
        except PermanentFailure as error:
            await self._fail(item, str(error))
            report.failed += 1
        else:
            await self._confirm(item, message_id)
            report.sent += 1
            report.late += int(late)
        return report

    async def _retry_or_fail(self, item: Claimed, error: str, report: SweepReport) -> None:
        """Back off exponentially (backoff, 2×, 4× …) and give up after `max_attempts`, logged."""
        if item.attempts >= self.settings.max_attempts:
            await self._fail(item, f"gave up after {item.attempts} attempts: {error}")
            report.failed += 1
        else:
            await self._again(item, self.settings.backoff * 2 ** (item.attempts - 1), True, error)
            report.retried += 1

    async def _confirm(self, item: Claimed, message_id: int) -> None:
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            delivery = await session.get(Delivery, item.id)
            agent = await session.get(Agent, item.agent_id)
            if delivery is None or agent is None:
                return
            delivery.status, delivery.sent_at, delivery.message_id, delivery.lease_until = SENT, now, message_id, None
            kind = self.kinds.get(delivery.kind)
            if kind and kind.after_sent:
                await kind.after_sent(session, delivery, agent, now)

    async def _again(self, item: Claimed, delay: timedelta, count_attempt: bool, error: str) -> None:
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            attempts = Delivery.attempts if count_attempt else Delivery.attempts - 1
            await session.execute(
                update(Delivery)
                .where(Delivery.id == item.id, Delivery.status == SENDING)
                .values(status=PENDING, lease_until=now + delay, attempts=attempts, last_error=error[:500])
            )
        log.warning("delivery %s: %s; again in %ss", item.id, error, int(delay.total_seconds()))

    async def _fail(self, item: Claimed, error: str) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(Delivery)
                .where(Delivery.id == item.id)
                .values(status=FAILED, lease_until=None, last_error=error[:500])
            )
        log.error("delivery %s failed: %s", item.id, error)

    async def _agent_unreachable(self, item: Claimed, error: str) -> None:
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(Delivery)
                .where(Delivery.id == item.id)
                .values(status=FAILED, lease_until=None, last_error=error[:500])
            )
            agent = await session.get(Agent, item.agent_id)
            if agent is not None:
                agent.active, agent.updated_at = False, now
            await hold_agent(session, item.agent_id)
        log.info("agent %s cannot be reached (%s): their deliveries are held", item.agent_id, error)


async def schedule(
    session: AsyncSession, *, agent_id: int, kind: str, due_at: datetime, now: datetime, subject_id: int | None = None
) -> Delivery:
    """Add a delivery; it is sent by the first sweep at or after `due_at`."""
    delivery = Delivery(
        agent_id=agent_id,
        kind=kind,
        subject_id=subject_id,
        due_at=due_at,
        status=PENDING,
        attempts=0,
        late=False,
        created_at=now,
    )
    session.add(delivery)
    await session.flush()
    return delivery


@dataclass(frozen=True)
class Planned:
    agent_id: int
    kind: str
    due_at: datetime
    subject_id: int | None = None


async def schedule_many(session: AsyncSession, planned: Sequence[Planned], now: datetime) -> None:
    """Add many deliveries in one bulk write (imports, bulk follow-ups): the same rows as `schedule`, far faster."""
    await insert_rows(
        session,
        Delivery.__table__,  # type: ignore[arg-type]
        ["agent_id", "kind", "subject_id", "due_at", "status", "attempts", "late", "created_at"],
        [(p.agent_id, p.kind, p.subject_id, p.due_at, PENDING, 0, False, now) for p in planned],
    )


async def cancel(session: AsyncSession, kind: str, subject_id: int) -> int:
    """Cancel what is still waiting to be sent for a subject (a follow-up done or moved)."""
    result = await session.execute(
        update(Delivery)
        .where(Delivery.kind == kind, Delivery.subject_id == subject_id, Delivery.status.in_((PENDING, HELD)))
        .values(status=CANCELLED, lease_until=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def cancel_waiting(session: AsyncSession, agent_id: int, kind: str) -> None:
    """Cancel what is still waiting of one kind for one agent (a recurring prompt being replaced)."""
    await session.execute(
        update(Delivery)
        .where(Delivery.agent_id == agent_id, Delivery.kind == kind, Delivery.status.in_((PENDING, HELD)))
        .values(status=CANCELLED, lease_until=None)
    )


async def hold_agent(session: AsyncSession, agent_id: int) -> None:
    """Keep an unreachable agent's deliveries without sending them."""
    await session.execute(
        update(Delivery).where(Delivery.agent_id == agent_id, Delivery.status == PENDING).values(status=HELD)
    )


async def resume_agent(session: AsyncSession, agent_id: int) -> None:
    """The agent is back: what was held is sent (late where it fell due meanwhile)."""
    await session.execute(
        update(Delivery)
        .where(Delivery.agent_id == agent_id, Delivery.status == HELD)
        .values(status=PENDING, lease_until=None)
    )
